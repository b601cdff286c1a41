import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnxType } from '../../src/onnx/onnx-proto';
import { readOnnxSignature } from '../../src/onnx/reader';
import { attr, buildModel } from '../../src/onnx/writer';
import { SluiceError } from '../../src/runtime/status';
import { addModel, identityModel, slowModel, writeModelRepository } from '../helpers/model-factory';

const ROOT = path.resolve(__dirname, '..', '..', '..');

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function output(out: ort.InferenceSession.ReturnType, name: string): ort.Tensor {
  const t = out[name];
  assert.ok(t !== undefined, `no output ${name}`);
  return t;
}

test('identityModel runs in onnxruntime for numeric, symbolic-dim and string tensors', async () => {
  const f32 = output(await run(identityModel('FP32', ['batch', 2]), {
    INPUT0: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]),
  }), 'OUTPUT0');
  assert.deepEqual([f32.type, f32.dims, Array.from(f32.data as Float32Array)], ['float32', [3, 2], [1, 2, 3, 4, 5, 6]]);

  const i64 = output(await run(identityModel('INT64', [2]), {
    INPUT0: new ort.Tensor('int64', BigInt64Array.from([-(2n ** 62n), 7n]), [2]),
  }), 'OUTPUT0');
  assert.deepEqual(i64.data, BigInt64Array.from([-(2n ** 62n), 7n]));

  const str = output(await run(identityModel('BYTES', [2]), { INPUT0: new ort.Tensor('string', ['a', 'héllo'], [2]) }), 'OUTPUT0');
  assert.deepEqual(str.data, ['a', 'héllo']);
});

test('addModel gives SUM and DIFF', async () => {
  const out = await run(addModel(['n']), {
    A: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [3]),
    B: new ort.Tensor('float32', Float32Array.from([10, 20, 30]), [3]),
  });
  assert.deepEqual(Array.from(output(out, 'SUM').data as Float32Array), [11, 22, 33]);
  assert.deepEqual(Array.from(output(out, 'DIFF').data as Float32Array), [-9, -18, -27]);
});

test('slowModel matches a reference forward pass and stays finite', async () => {
  const size = 16;
  const repeats = 5;
  const x = Float32Array.from({ length: 2 * size }, (_, i) => (i < size ? 1 : (i * 37) % 11));
  const y = output(await run(slowModel({ size, repeats }), { x: new ort.Tensor('float32', x, [2, size]) }), 'y');
  assert.deepEqual(y.dims, [2, size]);
  // Reference: each layer maps a row r to r/2 + mean(r)/2 (Relu is a no-op on non-negative rows).
  for (let row = 0; row < 2; row++) {
    let r = Array.from(x.subarray(row * size, (row + 1) * size));
    for (let k = 0; k < repeats; k++) {
      const mean = r.reduce((a, b) => a + b, 0) / size;
      r = r.map((v) => Math.max(0, v / 2 + mean / 2));
    }
    r.forEach((want, i) => {
      const got = (y.data as Float32Array)[row * size + i] as number;
      assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, want), `row ${row} [${i}]: ${got} vs ${want}`);
    });
  }
  const sig = readOnnxSignature(slowModel({ size: 8, repeats: 3 }));
  assert.deepEqual(sig.inputs.map((i) => [i.name, i.shape]), [['x', [-1, 8]]]);
  assert.deepEqual(sig.opTypes, ['MatMul', 'Relu']);
});

test('tagged attributes are written with their ONNX types and run', async () => {
  const model = buildModel({
    inputs: [],
    outputs: [{ name: 'out', datatype: 'FP32', shape: [3, 2] }],
    nodes: [
      { opType: 'Constant', inputs: [], outputs: ['c'], attributes: {
        value: attr.tensor({ name: 'c', datatype: 'FP32', dims: [2, 3], data: Float32Array.from([1, -2, 3, -4, 5, -6]) }) } },
      { opType: 'Transpose', inputs: ['c'], outputs: ['t'], attributes: { perm: attr.ints([1, 0]) } },
      { opType: 'LeakyRelu', name: 'leaky', inputs: ['t'], outputs: ['out'], attributes: { alpha: attr.float(0.5) } },
    ],
  });
  const out = output(await run(model, {}), 'out');
  assert.deepEqual(Array.from(out.data as Float32Array), [1, -2, -1, 5, 3, -3]);

  // Types that no small runnable graph needs: check the encoded AttributeProtos directly.
  const bytes = buildModel({ inputs: [], outputs: [], nodes: [{ opType: 'X', inputs: [], outputs: [], attributes: {
    s: attr.string('tanh'), ss: attr.strings(['a', 'b']), fs: attr.floats([0.25]), big: attr.int(2n ** 40n) } }] });
  const decoded = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(bytes), { longs: String, bytes: String });
  const attrs = decoded['graph'].node[0].attribute as { name: string; type: number }[];
  assert.deepEqual(attrs.map((a) => [a.name, a.type]), [['s', 3], ['ss', 8], ['fs', 6], ['big', 2]]);
  assert.equal((attrs[3] as unknown as { i: string }).i, String(2n ** 40n));
});

test('buildModel rejects specs it cannot write faithfully', () => {
  const invalid = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof SluiceError && e.code === 'INVALID_ARGUMENT' && pattern.test(e.message));
  const base = { inputs: [], outputs: [], nodes: [] };
  invalid(() => buildModel({ ...base, inputs: [{ name: 'x', datatype: 'FP32', shape: [1.5] }] }), /value 'x': bad dim 1.5/);
  invalid(() => buildModel({ ...base, initializers: [{ name: 'w', datatype: 'FP32', dims: [3], data: new Float32Array(2) }] }),
    /tensor 'w': 2 elements for dims \[3\]/);
  invalid(() => buildModel({ ...base, initializers: [{ name: 'w', datatype: 'INT32', dims: [2], data: new Float32Array(2) }] }),
    /tensor 'w': data must be the typed array for INT32/);
  invalid(() => buildModel({ ...base, nodes: [{ opType: 'Softmax', inputs: [], outputs: [], attributes: { axis: attr.int(0.5) } }] }),
    /attribute 'axis' needs integers, got 0.5/);
});

test('writeModelRepository lays out versions, empty versions and config', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-repo-'));
  try {
    writeModelRepository(root, [
      { name: 'id', versions: { '1': identityModel('FP32', [1]), '2': null }, config: { file: 'config.pbtxt', text: 'name: "id"\n' } },
      { name: 'add', versions: { '3': addModel([2]) } },
    ]);
    assert.ok(fs.statSync(path.join(root, 'id', '1', 'model.onnx')).size > 0);
    assert.deepEqual(fs.readdirSync(path.join(root, 'id', '2')), []);
    assert.equal(fs.readFileSync(path.join(root, 'id', 'config.pbtxt'), 'utf8'), 'name: "id"\n');
    assert.deepEqual(fs.readdirSync(path.join(root, 'add')), ['3']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the example digits models load in onnxruntime and classify the README sample', async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'data', 'digits-sample.json'), 'utf8')) as
    { label: number; pixels: number[] };
  for (const version of ['1', '2']) {
    const model = fs.readFileSync(path.join(ROOT, 'examples', 'models', 'digits', version, 'model.onnx'));
    const sig = readOnnxSignature(model, `digits/${version}`);
    assert.deepEqual(sig.inputs, [{ name: 'pixels', datatype: 'FP32', onnxElemType: 1, shape: [-1, 64] }]);
    assert.deepEqual(sig.outputs.map((o) => [o.name, o.datatype, o.shape]),
      [['probabilities', 'FP32', [-1, 10]], ['label', 'INT64', [-1]]]);

    const out = await run(model, { pixels: new ort.Tensor('float32', Float32Array.from(sample.pixels), [1, 64]) });
    const probs = output(out, 'probabilities');
    const label = output(out, 'label');
    assert.deepEqual([probs.type, probs.dims], ['float32', [1, 10]]);
    assert.deepEqual([label.type, label.dims], ['int64', [1]]);
    const sum = Array.from(probs.data as Float32Array).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
    assert.equal(Number((label.data as BigInt64Array)[0]), sample.label, `version ${version}`);
  }
});
