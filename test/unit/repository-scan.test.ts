import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_MAX_BATCH_SIZE } from '../../src/repository/config-complete';
import { scanModel, scanRepository, type RepositoryScan, type ScannedModel } from '../../src/repository/scan';
import { addModel, identityModel, writeModelRepository, type RepositoryModel } from '../helpers/model-factory';

const GARBAGE = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0xff, 0xff]);
const batched = (cols: number): Uint8Array => identityModel('FP32', ['batch', cols]);
const pbtxt = (text: string): NonNullable<RepositoryModel['config']> => ({ file: 'config.pbtxt', text });

describe('scanRepository', () => {
  let root: string;
  let scan: RepositoryScan;
  const model = (name: string): ScannedModel => {
    const m = scan.models.find((x) => x.name === name);
    assert.ok(m, `model ${name} was not found`);
    return m;
  };
  const versionsOf = (m: ScannedModel): string[] => m.versions.map((v) => v.version);

  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repo-'));
    writeModelRepository(root, [
      {
        name: 'good',
        versions: { 1: batched(4), 2: batched(4) },
        config: { file: 'config.pbtxt', text: `
          name: "good"
          max_batch_size: 8
          input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
          output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
          version_policy: { all: { } }
          model_warmup [ { name: "w" batch_size: 1 } ]` },
      },
      { name: 'auto', versions: { 1: batched(4), 3: batched(4) } },
      { name: 'json_config', versions: { 1: addModel([2, 2]) }, config: { file: 'config.json', text: JSON.stringify({
        max_batch_size: 0, input: [{ name: 'A', data_type: 'TYPE_FP32', dims: ['2', '2'] }],
        instance_group: [{ count: 3, kind: 'KIND_CPU' }] }) } },
      { name: 'broken_config', versions: { 1: batched(4) }, config: pbtxt('max_batch_size: "x"\n') },
      {
        name: 'broken_json', versions: { 1: batched(4) },
        config: { file: 'config.json', text: '{"max_batch_size": 4,' },
      },
      { name: 'wrong_name', versions: { 1: batched(4) }, config: pbtxt('name: "other"') },
      {
        name: 'mixed',
        versions: { 1: batched(4), 2: GARBAGE, 3: null, latest: batched(4), '0': batched(4), '07': batched(4) },
        config: { file: 'config.pbtxt', text: 'version_policy { all { } }' },
      },
      { name: 'only_garbage', versions: { 1: GARBAGE } },
      { name: 'no_versions', versions: {} },
      {
        name: 'specific',
        versions: { 1: batched(4), 2: batched(4) },
        config: { file: 'config.pbtxt', text: 'version_policy { specific { versions: [ 1, 5 ] } }' },
      },
      {
        name: 'drifted',
        versions: { 1: batched(4), 2: batched(8) },
        config: { file: 'config.pbtxt', text: 'version_policy { all { } } input [ { name: "INPUT0" dims: [ 4 ] } ]' },
      },
      { name: 'both_configs', versions: { 1: batched(4) }, config: pbtxt('max_batch_size: 2') },
      { name: 'renamed_file', versions: { 1: null }, config: pbtxt('default_model_filename: "net.onnx"') },
    ]);
    fs.writeFileSync(path.join(root, 'both_configs', 'config.json'), '{ not even json');
    fs.writeFileSync(path.join(root, 'renamed_file', '1', 'net.onnx'), batched(4));
    fs.writeFileSync(path.join(root, 'README.md'), 'not a model');
    fs.mkdirSync(path.join(root, '.git'));
    scan = await scanRepository(root);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('finds every model directory, by name, skipping files and hidden directories', () => {
    assert.equal(scan.root, root);
    assert.deepEqual(scan.models.map((m) => m.name), [
      'auto', 'both_configs', 'broken_config', 'broken_json', 'drifted', 'good', 'json_config', 'mixed', 'no_versions',
      'only_garbage', 'renamed_file', 'specific', 'wrong_name',
    ]);
  });

  test('a good model comes with its config, its versions and their signatures', () => {
    const m = model('good');
    assert.equal(m.error, undefined);
    assert.deepEqual(m.versionErrors, []);
    assert.equal(m.dir, path.join(root, 'good'));
    assert.equal(m.configFile, path.join(root, 'good', 'config.pbtxt'));
    assert.equal(m.config?.maxBatchSize, 8);
    assert.deepEqual(m.config?.input, [{ name: 'INPUT0', dataType: 'FP32', dims: [4] }]);
    assert.deepEqual(m.config?.versionPolicy, { kind: 'all' });
    assert.deepEqual(versionsOf(m), ['1', '2']);
    assert.deepEqual(m.versions[1], {
      version: '2', dir: path.join(root, 'good', '2'), modelFile: path.join(root, 'good', '2', 'model.onnx'),
      signature: m.versions[1]?.signature,
    });
    assert.deepEqual(m.versions[1]?.signature.inputs.map((i) => i.shape), [[-1, 4]]);
    assert.deepEqual(m.notes, ['config.pbtxt: fields Sluice does not use were ignored: model_warmup']);
  });

  test('without a config, the graph completes it and the newest version serves', () => {
    const m = model('auto');
    assert.equal(m.configFile, undefined);
    assert.equal(m.config?.maxBatchSize, DEFAULT_MAX_BATCH_SIZE);
    assert.deepEqual(m.config?.output, [{ name: 'OUTPUT0', dataType: 'FP32', dims: [4] }]);
    assert.deepEqual(versionsOf(m), ['3']);
  });

  test('config.json is read with the same field names', () => {
    const m = model('json_config');
    assert.equal(m.error, undefined);
    assert.equal(m.config?.maxBatchSize, 0);
    assert.deepEqual(m.config?.input.map((t) => [t.name, t.dims]), [['A', [2, 2]], ['B', [2, 2]]]);
    assert.deepEqual(m.config?.instanceGroup, [{ count: 3, kind: 'KIND_CPU' }]);
  });

  test('a broken config makes the model unavailable, naming the file and the field', () => {
    for (const [name, file, reason] of [
      ['broken_config', 'config.pbtxt', /^1:17: max_batch_size must be a non-negative integer, got "x"$/],
      ['broken_json', 'config.json', /^invalid JSON: /],
      ['wrong_name', 'config.pbtxt', /^name "other" does not match the model directory "wrong_name"$/],
    ] as const) {
      const m = model(name);
      assert.equal(m.config, undefined, name);
      assert.deepEqual(m.versions, [], name);
      assert.equal(m.error?.path, path.join(root, name, file), name);
      assert.match(m.error?.reason ?? '', reason, name);
    }
  });

  test('broken versions are reported one by one while the good one serves', () => {
    const m = model('mixed');
    assert.equal(m.error, undefined);
    assert.deepEqual(versionsOf(m), ['1']);
    assert.deepEqual(m.versionErrors.map((e) => [e.version, e.path]), [
      ['2', path.join(root, 'mixed', '2', 'model.onnx')],
      ['3', path.join(root, 'mixed', '3', 'model.onnx')],
    ]);
    assert.match(m.versionErrors[0]?.reason ?? '', /not an ONNX protobuf/);
    assert.match(m.versionErrors[1]?.reason ?? '', /file not found/);
    assert.deepEqual(m.notes, [
      'directory "0" ignored: version directories are named by positive integers without leading zeros',
      'directory "07" ignored: version directories are named by positive integers without leading zeros',
      'directory "latest" ignored: version directories are named by positive integers without leading zeros',
    ]);
  });

  test('a model with no readable version is unavailable, and says which versions failed', () => {
    const m = model('only_garbage');
    assert.deepEqual(m.error,
      { path: path.join(root, 'only_garbage'), reason: 'none of the selected versions (1) has a readable model.onnx' });
    assert.deepEqual(m.versionErrors.map((e) => e.path), [path.join(root, 'only_garbage', '1', 'model.onnx')]);
  });

  test('a model with no version directories is unavailable', () => {
    const m = model('no_versions');
    assert.equal(m.error?.path, path.join(root, 'no_versions'));
    assert.match(m.error?.reason ?? '', /^no version directories/);
  });

  test('a specific policy reports listed versions that are not on disk', () => {
    const m = model('specific');
    assert.deepEqual(versionsOf(m), ['1']);
    assert.deepEqual(m.versionErrors, [
      { version: '5', path: path.join(root, 'specific', '5'), reason: 'listed in version_policy but not on disk' },
    ]);
  });

  test('a version whose graph contradicts the config is unavailable; the one that fits serves', () => {
    const m = model('drifted');
    assert.equal(m.error, undefined);
    assert.deepEqual(versionsOf(m), ['1']);
    assert.deepEqual(m.versionErrors.map((e) => [e.version, e.path]),
      [['2', path.join(root, 'drifted', '2', 'model.onnx')]]);
    assert.match(m.versionErrors[0]?.reason ?? '',
      /^does not fit the model config: input "INPUT0": dims \[4\] do not fit the graph's \[8\]/);
  });

  test('config.pbtxt wins over config.json, with a note', () => {
    const m = model('both_configs');
    assert.equal(m.error, undefined);
    assert.equal(m.configFile, path.join(root, 'both_configs', 'config.pbtxt'));
    assert.equal(m.config?.maxBatchSize, 2);
    assert.deepEqual(m.notes, ['config.json ignored: config.pbtxt takes precedence']);
  });

  test('default_model_filename names the file in each version directory', () => {
    const m = model('renamed_file');
    assert.equal(m.error, undefined);
    assert.deepEqual(m.versions.map((v) => v.modelFile), [path.join(root, 'renamed_file', '1', 'net.onnx')]);
  });

  test('scanModel rescans one model directory', async () => {
    const m = await scanModel(path.join(root, 'good'));
    assert.deepEqual(m, model('good'));
  });
});

describe('scanRepository: the root itself', () => {
  test('a missing root is NOT_FOUND, naming the path', async () => {
    const missing = path.join(os.tmpdir(), 'sluice-no-such-repo', 'models');
    await assert.rejects(scanRepository(missing),
      { name: 'SluiceError', code: 'NOT_FOUND', message: `model repository ${missing} does not exist` });
  });

  test('a root that is a file is INVALID_ARGUMENT', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repo-')), 'models');
    fs.writeFileSync(file, '');
    try {
      await assert.rejects(scanRepository(file),
        { code: 'INVALID_ARGUMENT', message: `model repository ${file} is not a directory` });
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  test('an empty repository has no models', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repo-'));
    try {
      assert.deepEqual(await scanRepository(dir), { root: dir, models: [] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
