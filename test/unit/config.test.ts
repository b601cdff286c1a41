import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DataType } from '../../src/runtime/datatypes';
import type { OnnxSignature, OnnxValueInfo } from '../../src/onnx/signature';
import {
  DEFAULT_MAX_BATCH_SIZE, completeConfig, signatureMismatches,
} from '../../src/repository/config-complete';
import {
  DEFAULT_DYNAMIC_BATCHING, DEFAULT_QUEUE_POLICY, EMPTY_PARTIAL_CONFIG, parseConfigText, type PartialModelConfig,
} from '../../src/repository/config-parse';
import type { ModelConfig } from '../../src/repository/model-config';

const invalid = (message: RegExp): object => ({ name: 'SluiceError', code: 'INVALID_ARGUMENT', message });
const pbtxt = (text: string): PartialModelConfig => parseConfigText(text, 'pbtxt').config;
const json = (value: unknown): PartialModelConfig => parseConfigText(JSON.stringify(value), 'json').config;

const ONNX_FP32 = 1;
function tensor(name: string, datatype: DataType | undefined, shape: number[],
  onnxElemType = ONNX_FP32): OnnxValueInfo {
  return { name, datatype, onnxElemType, shape };
}
function signature(inputs: OnnxValueInfo[], outputs: OnnxValueInfo[]): OnnxSignature {
  return { irVersion: 8, opsets: new Map([['', 17]]), producerName: 'test', inputs, outputs, opTypes: ['Identity'] };
}

/** The same config in both formats, written as each is usually written. */
const FULL_PBTXT = `
name: "classifier"
platform: "onnxruntime_onnx"
max_batch_size: 16
input [ { name: "x", data_type: TYPE_FP32, dims: [ 3, -1 ] } ]
output [ { name: "probs", data_type: TYPE_FP32, dims: [ 10 ] }, { name: "label", data_type: TYPE_INT64, dims: [ 1 ] } ]
version_policy: { latest: { num_versions: 2 } }
instance_group [ { count: 2, kind: KIND_CPU } ]
dynamic_batching {
  preferred_batch_size: [ 4, 8 ]
  max_queue_delay_microseconds: 500
  preserve_ordering: true
  priority_levels: 3
  default_priority_level: 2
  default_queue_policy {
    timeout_action: DELAY default_timeout_microseconds: 100000 allow_timeout_override: true max_queue_size: 64
  }
  priority_queue_policy { key: 1 value { max_queue_size: 8 } }
  priority_queue_policy { key: 3 value { timeout_action: REJECT default_timeout_microseconds: 10 } }
}
parameters { key: "intra_op_thread_count" value { string_value: "2" } }
model_warmup [ { name: "zeros" batch_size: 1 } ]
`;
const FULL_JSON = {
  name: 'classifier',
  platform: 'onnxruntime_onnx',
  max_batch_size: 16,
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: ['3', '-1'] }],
  output: [
    { name: 'probs', data_type: 'TYPE_FP32', dims: [10] },
    { name: 'label', data_type: 'TYPE_INT64', dims: [1] },
  ],
  version_policy: { latest: { num_versions: 2 } },
  instance_group: [{ count: 2, kind: 'KIND_CPU' }],
  dynamic_batching: {
    preferred_batch_size: [4, 8],
    max_queue_delay_microseconds: '500',
    preserve_ordering: true,
    priority_levels: 3,
    default_priority_level: 2,
    default_queue_policy: {
      timeout_action: 'DELAY', default_timeout_microseconds: '100000', allow_timeout_override: true, max_queue_size: 64,
    },
    priority_queue_policy: {
      1: { max_queue_size: 8 },
      3: { timeout_action: 'REJECT', default_timeout_microseconds: 10 },
    },
  },
  parameters: { intra_op_thread_count: { string_value: '2' } },
  model_warmup: [{ name: 'zeros', batch_size: 1 }],
};
const CLASSIFIER = signature(
  [tensor('x', 'FP32', [-1, 3, -1])],
  [tensor('probs', 'FP32', [-1, 10]), tensor('label', 'INT64', [-1, 1], 7), tensor('logits', 'FP32', [-1, 10])],
);

describe('config.pbtxt and config.json', () => {
  test('give the same partial config and the same ModelConfig', () => {
    const fromPbtxt = parseConfigText(FULL_PBTXT, 'pbtxt');
    const fromJson = parseConfigText(JSON.stringify(FULL_JSON), 'json');
    assert.deepEqual(fromPbtxt, fromJson);
    assert.deepEqual(fromPbtxt.ignoredFields, ['model_warmup']);
    assert.deepEqual(completeConfig('classifier', fromPbtxt.config, CLASSIFIER),
      completeConfig('classifier', fromJson.config, CLASSIFIER));
  });

  test('the complete config is what the file says, outputs limited to those listed', () => {
    const expected: ModelConfig = {
      name: 'classifier',
      platform: 'onnxruntime_onnx',
      backend: 'auto',
      maxBatchSize: 16,
      input: [{ name: 'x', dataType: 'FP32', dims: [3, -1] }],
      output: [{ name: 'probs', dataType: 'FP32', dims: [10] }, { name: 'label', dataType: 'INT64', dims: [1] }],
      versionPolicy: { kind: 'latest', numVersions: 2 },
      dynamicBatching: {
        preferredBatchSize: [4, 8],
        maxQueueDelayMicroseconds: 500,
        preserveOrdering: true,
        priorityLevels: 3,
        defaultPriorityLevel: 2,
        defaultQueuePolicy: {
          timeoutAction: 'DELAY', defaultTimeoutMicroseconds: 100000, allowTimeoutOverride: true, maxQueueSize: 64,
        },
        priorityQueuePolicy: new Map([
          [1, { ...DEFAULT_QUEUE_POLICY, maxQueueSize: 8 }],
          [3, { ...DEFAULT_QUEUE_POLICY, defaultTimeoutMicroseconds: 10 }],
        ]),
      },
      instanceGroup: [{ count: 2, kind: 'KIND_CPU' }],
      parameters: new Map([['intra_op_thread_count', '2']]),
    };
    assert.deepEqual(completeConfig('classifier', pbtxt(FULL_PBTXT), CLASSIFIER), expected);
  });

  test('an empty file is an empty partial config', () => {
    assert.deepEqual(pbtxt(''), EMPTY_PARTIAL_CONFIG);
    assert.deepEqual(json({}), EMPTY_PARTIAL_CONFIG);
  });

  test('Triton fields Sluice does not use are accepted and listed', () => {
    const parsed = parseConfigText(`
      optimization { execution_accelerators { cpu_execution_accelerator [ { name: "openvino" } ] } }
      input [ { name: "a" reshape { shape: [ ] } format: FORMAT_NONE } ]
      output [ { name: "b" label_filename: "l.txt" } ]
      instance_group [ { kind: KIND_GPU gpus: [ 0 ] } ]
      sequence_batching { }`, 'pbtxt');
    assert.deepEqual(parsed.ignoredFields, ['optimization', 'sequence_batching', 'input[0].reshape', 'input[0].format',
      'output[0].label_filename', 'instance_group[0].gpus']);
  });

  test('null in JSON means absent, and version policies parse in both forms', () => {
    assert.deepEqual(json({ max_batch_size: null, version_policy: { all: {} } }).versionPolicy, { kind: 'all' });
    assert.equal(json({ max_batch_size: null }).maxBatchSize, undefined);
    assert.deepEqual(pbtxt('version_policy { specific { versions: [3, 1] } }').versionPolicy,
      { kind: 'specific', versions: [3, 1] });
    assert.deepEqual(pbtxt('version_policy { latest { } }').versionPolicy, { kind: 'latest', numVersions: 1 });
    assert.deepEqual(json({ version_policy: { specific: { versions: ['7'] } } }).versionPolicy,
      { kind: 'specific', versions: [7] });
  });
});

describe('config validation: every error names its field', () => {
  const cases: [string, string, RegExp][] = [
    ['max_batch_size a string', 'max_batch_size: "x"',
      /^1:17: max_batch_size must be a non-negative integer, got "x"$/],
    ['max_batch_size negative', 'max_batch_size: -1', /max_batch_size must be a non-negative integer, got -1/],
    ['max_batch_size a float', 'max_batch_size: 8.0', /max_batch_size must be a non-negative integer, got 8\.0$/],
    ['max_batch_size over int32', 'max_batch_size: 2147483648',
      /max_batch_size must be a non-negative integer, got 2147483648/],
    ['max_batch_size given twice', 'max_batch_size: 4\nmax_batch_size: 8',
      /^2:17: max_batch_size must be given once, got 2 values$/],
    ['unknown field', 'max_batch_sizes: 4', /^1:18: max_batch_sizes is not a Triton model config field$/],
    ['unknown nested field', 'input [ { name: "a" dtype: TYPE_FP32 } ]',
      /input\[0\]\.dtype is not a Triton model config field/],
    ['bad data type', 'input [ { name: "a" data_type: TYPE_FP33 } ]',
      /input\[0\]\.data_type must be one of TYPE_BOOL, .*TYPE_STRING, TYPE_BF16, got TYPE_FP33/],
    ['data type as a string in pbtxt', 'input [ { name: "a" data_type: "TYPE_FP32" } ]',
      /input\[0\]\.data_type must be one of .*, got "TYPE_FP32"/],
    ['dims below -1', 'input [ { name: "a" dims: [ 4, -2 ] } ]',
      /input\[0\]\.dims\[1\] must be -1 or a non-negative integer, got -2/],
    ['dims as strings in pbtxt', 'output [ { name: "a" dims: [ "4" ] } ]',
      /output\[0\]\.dims\[0\] must be -1 or a non-negative integer, got "4"/],
    ['tensor without a name', 'input [ { dims: [ 4 ] } ]', /input\[0\]\.name is required/],
    ['empty tensor name', 'output [ { name: "" } ]', /output\[0\]\.name must not be empty/],
    ['duplicate tensor names', 'input [ { name: "a" }, { name: "a" } ]',
      /input\[1\]\.name "a" is already used by input\[0\]/],
    ['input not a message', 'input: 3', /input\[0\] must be a message, got 3/],
    ['empty name', 'name: ""', /^1:7: name must not be empty$/],
    ['platform not a string', 'platform: onnx', /platform must be a string, got onnx/],
    ['instance kind', 'instance_group [ { kind: KIND_TPU } ]',
      /instance_group\[0\]\.kind must be one of KIND_AUTO, KIND_CPU, KIND_GPU, got KIND_TPU/],
    ['instance count 0', 'instance_group [ { count: 0 } ]',
      /instance_group\[0\]\.count must be a positive integer, got 0/],
    ['timeout action', 'dynamic_batching { default_queue_policy { timeout_action: DROP } }',
      /dynamic_batching\.default_queue_policy\.timeout_action must be one of REJECT, DELAY, got DROP/],
    ['allow_timeout_override not a bool', 'dynamic_batching { default_queue_policy { allow_timeout_override: yes } }',
      /dynamic_batching\.default_queue_policy\.allow_timeout_override must be true or false, got yes/],
    ['max_queue_size over uint32', 'dynamic_batching { default_queue_policy { max_queue_size: 4294967296 } }',
      /dynamic_batching\.default_queue_policy\.max_queue_size must be a non-negative integer, got 4294967296/],
    ['preferred size 0', 'dynamic_batching { preferred_batch_size: [ 4, 0 ] }',
      /dynamic_batching\.preferred_batch_size\[1\] must be a positive integer, got 0/],
    ['default level over the levels', 'dynamic_batching { priority_levels: 2 default_priority_level: 3 }',
      /dynamic_batching\.default_priority_level must be between 1 and priority_levels \(2\), got 3/],
    ['default level missing', 'dynamic_batching { priority_levels: 2 }',
      /dynamic_batching\.default_priority_level must be set, between 1 and priority_levels \(2\)/],
    ['default level without levels', 'dynamic_batching { default_priority_level: 1 }',
      /dynamic_batching\.default_priority_level must be 0 when priority_levels is 0 or unset, got 1/],
    ['queue policy level over the levels',
      'dynamic_batching { priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 5 value { } } }',
      /dynamic_batching\.priority_queue_policy\[5\] is a priority level over priority_levels \(2\)/],
    ['queue policy level 0',
      'dynamic_batching { priority_levels: 2 default_priority_level: 1 priority_queue_policy { key: 0 } }',
      /dynamic_batching\.priority_queue_policy\[0\] key must be a priority level \(a positive integer\), got 0/],
    ['queue policy without levels', 'dynamic_batching { priority_queue_policy { key: 1 value { } } }',
      /dynamic_batching\.priority_queue_policy\[1\] needs priority_levels to be set/],
    ['queue policy without a key', 'dynamic_batching { priority_queue_policy { value { } } }',
      /dynamic_batching\.priority_queue_policy entry has no key/],
    ['two version policies', 'version_policy { latest { } all { } }',
      /version_policy must set only one of latest, all, specific, got latest and all/],
    ['no version policy', 'version_policy { }', /version_policy must set one of latest, all, specific/],
    ['latest 0', 'version_policy { latest { num_versions: 0 } }',
      /version_policy\.latest\.num_versions must be a positive integer, got 0/],
    ['specific empty', 'version_policy { specific { } }',
      /version_policy\.specific\.versions must list at least one version/],
    ['specific version 0', 'version_policy { specific { versions: [ 0 ] } }',
      /version_policy\.specific\.versions\[0\] must be a positive integer, got 0/],
    ['all with a field', 'version_policy { all { n: 1 } }',
      /version_policy\.all\.n is not a Triton model config field/],
    ['parameter value not a string', 'parameters { key: "k" value { string_value: 3 } }',
      /parameters\["k"\]\.string_value must be a string, got 3/],
    ['parameter given twice', 'parameters { key: "k" value { } } parameters { key: "k" value { } }',
      /parameters\["k"\] is given more than once/],
    ['model file name with a directory', 'default_model_filename: "../other/model.onnx"',
      /default_model_filename must be a file name without directories, got "\.\.\/other\/model\.onnx"/],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => assert.throws(() => pbtxt(text), invalid(message)));
  }

  const jsonCases: [string, unknown, RegExp][] = [
    ['max_batch_size a string', { max_batch_size: 'x' }, /^max_batch_size must be a non-negative integer, got "x"$/],
    ['max_batch_size a list', { max_batch_size: [1, 2] }, /^max_batch_size must be given once, got 2 values$/],
    ['bool given as a string', { dynamic_batching: { preserve_ordering: 'true' } },
      /dynamic_batching\.preserve_ordering must be true or false, got "true"/],
    ['enum given as a number', { input: [{ name: 'a', data_type: 11 }] },
      /input\[0\]\.data_type must be one of .*, got 11/],
    ['int64 string that is not a number', { input: [{ name: 'a', dims: ['4x'] }] },
      /input\[0\]\.dims\[0\] must be -1 or a non-negative integer, got "4x"/],
    ['unsafe integer', { dynamic_batching: { max_queue_delay_microseconds: 2 ** 60 } },
      /max_queue_delay_microseconds must be a non-negative integer/],
    ['map value not a message', { parameters: { k: 'v' } }, /parameters\["k"\] must be a message, got "v"/],
    ['queue policy key not a number',
      { dynamic_batching: { priority_levels: 1, default_priority_level: 1, priority_queue_policy: { high: {} } } },
      /dynamic_batching\.priority_queue_policy\["high"\] key must be a priority level/],
    ['nested lists', { input: [[{ name: 'a' }]] }, /^input\[0\] must not be an array$/],
    ['not an object', [1], /^a JSON model config must be an object, got an array$/],
  ];
  for (const [what, value, message] of jsonCases) {
    test(`JSON: ${what}`, () => assert.throws(() => json(value), invalid(message)));
  }

  test('JSON syntax errors say so', () => {
    assert.throws(() => parseConfigText('{"max_batch_size": ', 'json'), invalid(/^invalid JSON: /));
  });

  test('deep JSON nesting is refused', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100; i++) deep = { optimization: deep };
    assert.throws(() => json(deep), invalid(/nests deeper than 64 levels/));
  });

  test('a flood of errors is cut short', () => {
    assert.throws(() => pbtxt(`input [ { name: "a" dims: [ ${'-5, '.repeat(99)}-5 ] } ]`), (e: Error) => {
      const parts = e.message.split('; ');
      assert.equal(parts.length, 21);
      assert.equal(parts[20], 'and 80 more');
      return true;
    });
  });

  test('all problems in a file are reported together', () => {
    assert.throws(() => pbtxt('max_batch_size: -3\ninstance_group [ { kind: KIND_TPU } ]\nfoo: 1'), (e: Error) => {
      assert.deepEqual(e.message.split('; '), [
        '3:6: foo is not a Triton model config field',
        '1:17: max_batch_size must be a non-negative integer, got -3',
        '2:26: instance_group[0].kind must be one of KIND_AUTO, KIND_CPU, KIND_GPU, got KIND_TPU',
      ]);
      return true;
    });
  });
});

describe('completion from the ONNX graph', () => {
  const IDENTITY_BATCHED = signature([tensor('INPUT0', 'FP32', [-1, 4])], [tensor('OUTPUT0', 'FP32', [-1, 4])]);
  const IDENTITY_FIXED = signature([tensor('INPUT0', 'FP32', [1, 4])], [tensor('OUTPUT0', 'FP32', [1, 4])]);

  test('no config + dynamic first dims: the model batches, with the dynamic batcher on', () => {
    assert.deepEqual(completeConfig('identity', EMPTY_PARTIAL_CONFIG, IDENTITY_BATCHED), {
      name: 'identity',
      platform: 'onnxruntime_onnx',
      backend: 'auto',
      maxBatchSize: DEFAULT_MAX_BATCH_SIZE,
      input: [{ name: 'INPUT0', dataType: 'FP32', dims: [4] }],
      output: [{ name: 'OUTPUT0', dataType: 'FP32', dims: [4] }],
      versionPolicy: { kind: 'latest', numVersions: 1 },
      dynamicBatching: DEFAULT_DYNAMIC_BATCHING,
      instanceGroup: [{ count: 1, kind: 'KIND_CPU' }],
      parameters: new Map(),
    } satisfies ModelConfig);
  });

  test('no config + a fixed first dim: no batching, full shapes', () => {
    const c = completeConfig('identity', EMPTY_PARTIAL_CONFIG, IDENTITY_FIXED);
    assert.equal(c.maxBatchSize, 0);
    assert.equal(c.dynamicBatching, undefined);
    assert.deepEqual(c.input, [{ name: 'INPUT0', dataType: 'FP32', dims: [1, 4] }]);
  });

  test('one input without a dynamic first dim keeps the model from batching', () => {
    const sig = signature([tensor('a', 'FP32', [-1, 4]), tensor('b', 'FP32', [4])], [tensor('y', 'FP32', [-1, 4])]);
    assert.equal(completeConfig('m', EMPTY_PARTIAL_CONFIG, sig).maxBatchSize, 0);
  });

  test('an explicit max_batch_size: 0 keeps the dynamic dim in dims', () => {
    const c = completeConfig('identity', pbtxt('max_batch_size: 0'), IDENTITY_BATCHED);
    assert.equal(c.maxBatchSize, 0);
    assert.deepEqual(c.output, [{ name: 'OUTPUT0', dataType: 'FP32', dims: [-1, 4] }]);
  });

  test('dims spelled at full rank say the first dim is part of the shape', () => {
    const c = completeConfig('identity', pbtxt('input [ { name: "INPUT0" dims: [ -1, 4 ] } ]'), IDENTITY_BATCHED);
    assert.equal(c.maxBatchSize, 0);
    assert.deepEqual(c.input, [{ name: 'INPUT0', dataType: 'FP32', dims: [-1, 4] }]);
  });

  test('config dims may pin a dynamic graph dim; dtype and missing tensors come from the graph', () => {
    const sig = signature(
      [tensor('a', 'FP32', [-1, -1, 3]), tensor('b', 'INT64', [-1], 7)],
      [tensor('y', 'FP32', [-1, 5])],
    );
    const c = completeConfig('m', pbtxt('max_batch_size: 8 input [ { name: "a" dims: [ 224, 3 ] } ]'), sig);
    assert.deepEqual(c.input,
      [{ name: 'a', dataType: 'FP32', dims: [224, 3] }, { name: 'b', dataType: 'INT64', dims: [] }]);
    assert.deepEqual(c.output, [{ name: 'y', dataType: 'FP32', dims: [5] }]);
    assert.equal(c.dynamicBatching, undefined, 'an explicit max_batch_size does not turn the batcher on');
  });

  test('a fixed first dim of 1 fits max_batch_size 1 only', () => {
    assert.equal(completeConfig('identity', pbtxt('max_batch_size: 1'), IDENTITY_FIXED).maxBatchSize, 1);
    assert.throws(() => completeConfig('identity', pbtxt('max_batch_size: 2'), IDENTITY_FIXED), (e: Error) => {
      assert.deepEqual(e.message.split('; '), [
        'input "INPUT0": max_batch_size is 2 but the graph\'s first dim is fixed at 1 (shape [1, 4]): ' +
          'export it with a dynamic first dim or set max_batch_size: 0',
        'output "OUTPUT0": max_batch_size is 2 but the graph\'s first dim is fixed at 1 (shape [1, 4]): ' +
          'export it with a dynamic first dim or set max_batch_size: 0',
      ]);
      return true;
    });
  });

  test('every mismatch with the graph is reported, by tensor', () => {
    const config = pbtxt(`
      max_batch_size: 8
      input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 5 ] }, { name: "EXTRA" data_type: TYPE_FP32 dims: [ 1 ] } ]
      output [ { name: "OUTPUT0" dims: [ 4, 1 ] } ]`);
    assert.throws(() => completeConfig('identity', config, IDENTITY_BATCHED), (e: Error) => {
      assert.deepEqual(e.message.split('; '), ['input "EXTRA" is not a graph input (the graph has "INPUT0")']);
      return true;
    });
    const withoutExtra = pbtxt(`
      max_batch_size: 8
      input [ { name: "INPUT0" data_type: TYPE_INT32 dims: [ 5 ] } ]
      output [ { name: "OUTPUT0" dims: [ 4, 1 ] } ]`);
    assert.throws(() => completeConfig('identity', withoutExtra, IDENTITY_BATCHED), (e: Error) => {
      assert.deepEqual(e.message.split('; '), [
        'input "INPUT0": data_type TYPE_INT32 does not match the graph\'s TYPE_FP32',
        'input "INPUT0": dims [5] do not fit the graph\'s [4], the graph\'s shape without its batch dim',
        'output "OUTPUT0": dims [4, 1] do not fit the graph\'s [4], the graph\'s shape without its batch dim',
      ]);
      return true;
    });
  });

  test('config -1 where the graph is fixed is a conflict', () => {
    const config = pbtxt('max_batch_size: 0 input [ { name: "INPUT0" dims: [ 1, -1 ] } ]');
    assert.throws(() => completeConfig('identity', config, IDENTITY_FIXED),
      invalid(/^input "INPUT0": dims \[1, -1\] do not fit the graph's \[1, 4\]$/));
  });

  test('the config name must be the directory name, platform ONNX, backend auto, native or onnxruntime', () => {
    const foreign = pbtxt('name: "other" platform: "tensorrt_plan" backend: "python"');
    assert.throws(() => completeConfig('identity', foreign, IDENTITY_BATCHED), (e: Error) => {
      assert.deepEqual(e.message.split('; '), [
        'name "other" does not match the model directory "identity"',
        'platform "tensorrt_plan" is not supported (Sluice serves "onnxruntime_onnx" models)',
        'backend "python" is not supported (choose auto, native, onnxruntime)',
      ]);
      return true;
    });
    for (const backend of ['auto', 'native', 'onnxruntime']) {
      const own = pbtxt(`name: "identity" backend: "${backend}"`);
      assert.equal(completeConfig('identity', own, IDENTITY_BATCHED).backend, backend);
    }
  });

  test('dynamic batching is checked against the final max_batch_size', () => {
    const tooLarge = pbtxt('dynamic_batching { preferred_batch_size: [ 4, 100 ] }');
    assert.throws(() => completeConfig('identity', tooLarge, IDENTITY_BATCHED), invalid(
      new RegExp(`^dynamic_batching\\.preferred_batch_size 100 is over max_batch_size ${DEFAULT_MAX_BATCH_SIZE}$`)));
    assert.throws(() => completeConfig('identity', pbtxt('dynamic_batching { }'), IDENTITY_FIXED),
      invalid(/^dynamic_batching needs a model that batches, but max_batch_size is 0$/));
    const delay = pbtxt('dynamic_batching { max_queue_delay_microseconds: 100 }');
    const explicit = completeConfig('identity', delay, IDENTITY_BATCHED);
    assert.equal(explicit.dynamicBatching?.maxQueueDelayMicroseconds, 100);
  });

  test('graph tensors of a type Sluice cannot carry are reported', () => {
    const sig = signature([tensor('a', undefined, [-1, 4], 17)], [tensor('y', 'FP32', [-1, 4])]);
    assert.throws(() => completeConfig('m', EMPTY_PARTIAL_CONFIG, sig),
      invalid(/^input "a": the graph's ONNX element type 17 has no Triton data_type$/));
  });

  test('signatureMismatches checks another version against a complete config', () => {
    const config = completeConfig('identity', EMPTY_PARTIAL_CONFIG, IDENTITY_BATCHED);
    assert.deepEqual(signatureMismatches(config, IDENTITY_BATCHED), []);
    const v2 = signature(
      [tensor('INPUT0', 'FP32', [-1, 8]), tensor('MASK', 'BOOL', [-1, 8], 9)],
      [tensor('OUT', 'FP32', [-1, 8])],
    );
    assert.deepEqual(signatureMismatches(config, v2), [
      'input "INPUT0": dims [4] do not fit the graph\'s [8], the graph\'s shape without its batch dim',
      'output "OUTPUT0" is not a graph output (the graph has "OUT")',
      'graph input "MASK" is missing from the config\'s inputs (every input must be fed)',
    ]);
  });
});
