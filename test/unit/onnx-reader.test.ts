import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnxType } from '../../src/onnx/onnx-proto';
import { readOnnxSignature, readOnnxSignatureFile, readTensorProto } from '../../src/onnx/reader';
import { buildModel } from '../../src/onnx/writer';
import { SluiceError, type ErrorCode } from '../../src/runtime/status';

/** test/fixtures/onnx: conformance cases copied from the ONNX project (see ATTRIBUTION.md there). */
const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'onnx');
const fixture = (...parts: string[]): Buffer => fs.readFileSync(path.join(FIXTURES, ...parts));

function rejects(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SluiceError, `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

const encodeModel = (obj: object): Uint8Array => {
  const Model = onnxType('ModelProto');
  return Model.encode(Model.fromObject(obj)).finish();
};
const encodeTensor = (obj: object): Uint8Array => {
  const Tensor = onnxType('TensorProto');
  return Tensor.encode(Tensor.fromObject(obj)).finish();
};

test('a written model reads back: dim_param → -1, initializers are not inputs, op types', () => {
  const bytes = buildModel({
    irVersion: 9,
    opset: 19,
    opsets: { 'com.example': 1 },
    producer: 'unit-test',
    inputs: [
      { name: 'x', datatype: 'FP32', shape: ['batch', 3] },
      { name: 'W', datatype: 'FP32', shape: [3, 2] }, // also an initializer: a default, not an input
      { name: 'ids', datatype: 'INT64', shape: ['batch', 'seq', 7] },
    ],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', 2] }, { name: 'ids_out', datatype: 'INT64', shape: [] }],
    initializers: [{ name: 'W', datatype: 'FP32', dims: [3, 2], data: new Float32Array(6) }],
    nodes: [
      { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['xw'] },
      { opType: 'Relu', inputs: ['xw'], outputs: ['y'] },
      { opType: 'Relu', inputs: ['xw'], outputs: ['unused'] },
      { opType: 'Custom', domain: 'com.example', inputs: ['ids'], outputs: ['ids_out'] },
    ],
  });
  const sig = readOnnxSignature(bytes, 'round-trip');
  assert.equal(sig.irVersion, 9);
  assert.equal(sig.producerName, 'unit-test');
  assert.deepEqual([...sig.opsets], [['', 19], ['com.example', 1]]);
  assert.deepEqual(sig.inputs, [
    { name: 'x', datatype: 'FP32', onnxElemType: 1, shape: [-1, 3] },
    { name: 'ids', datatype: 'INT64', onnxElemType: 7, shape: [-1, -1, 7] },
  ]);
  assert.deepEqual(sig.outputs, [
    { name: 'y', datatype: 'FP32', onnxElemType: 1, shape: [-1, 2] },
    { name: 'ids_out', datatype: 'INT64', onnxElemType: 7, shape: [] },
  ]);
  assert.deepEqual(sig.opTypes, ['MatMul', 'Relu', 'com.example:Custom']);
});

test('real conformance models parse, from IR version 7 to 13', async () => {
  const add = await readOnnxSignatureFile(path.join(FIXTURES, 'test_add', 'model.onnx'));
  assert.equal(add.irVersion, 7);
  assert.deepEqual(add.inputs.map((i) => [i.name, i.datatype, i.shape]), [['x', 'FP32', [3, 4, 5]], ['y', 'FP32', [3, 4, 5]]]);
  assert.deepEqual(add.opTypes, ['Add']);

  const q = readOnnxSignature(fixture('test_quantizelinear_blocked_symmetric', 'model.onnx'));
  assert.equal(q.irVersion, 13);
  assert.equal(q.opsets.get(''), 25);
  assert.deepEqual(q.outputs, [{ name: 'y', datatype: 'INT16', onnxElemType: 5, shape: [3, 4] }]);
});

test('an element type Sluice cannot carry keeps datatype undefined and the ONNX number', () => {
  const sig = readOnnxSignature(fixture('test_dequantizelinear_e4m3fn', 'model.onnx'));
  const x = sig.inputs[0];
  assert.ok(x !== undefined);
  assert.equal(x.datatype, undefined);
  assert.equal(x.onnxElemType, 17); // FLOAT8E4M3FN
});

test('malformed models are INVALID_ARGUMENT naming the source and the reason', () => {
  rejects(() => readOnnxSignature(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]), 'junk.onnx'), 'INVALID_ARGUMENT',
    /^ONNX model junk\.onnx: not an ONNX protobuf/);
  rejects(() => readOnnxSignature(new TextEncoder().encode('name: "not a model"\n'), 'text.onnx'), 'INVALID_ARGUMENT',
    /text\.onnx: /);
  rejects(() => readOnnxSignature(new Uint8Array(0)), 'INVALID_ARGUMENT', /<bytes>: no ir_version/);
  rejects(() => readOnnxSignature(encodeModel({ ir_version: 8 }), 'm'), 'INVALID_ARGUMENT', /m: no graph/);
  const future = buildModel({ irVersion: 14, inputs: [], outputs: [], nodes: [] });
  rejects(() => readOnnxSignature(future, 'm'), 'INVALID_ARGUMENT', /IR version 14 is newer than .*\(13\)/);

  const withInput = (input: object): Uint8Array => encodeModel({ ir_version: 8, graph: { input: [input] } });
  rejects(() => readOnnxSignature(withInput({ name: 'x' }), 'm'), 'INVALID_ARGUMENT', /m: input 'x' has no type/);
  rejects(() => readOnnxSignature(withInput({ name: 'x', type: { tensor_type: { shape: { dim: [] } } } }), 'm'),
    'INVALID_ARGUMENT', /input 'x' has no element type/);
  rejects(() => readOnnxSignature(withInput({ name: 'x', type: { tensor_type: { elem_type: 1 } } }), 'm'),
    'INVALID_ARGUMENT', /input 'x' has no shape/);
  rejects(() => readOnnxSignature(withInput({ name: 's', type: { sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } } }), 'm'),
    'UNIMPLEMENTED', /input 's' has sequence type/);
});

test('a missing model file is NOT_FOUND', async () => {
  await assert.rejects(readOnnxSignatureFile(path.join(FIXTURES, 'no-such-model.onnx')),
    (e: unknown) => e instanceof SluiceError && e.code === 'NOT_FOUND' && /no-such-model\.onnx/.test(e.message));
});

test('readTensorProto: raw_data, int32_data, zero elements, FP16 bit patterns', () => {
  const x = readTensorProto(fixture('test_add', 'test_data_set_0', 'input_0.pb'));
  assert.equal(x.name, 'x');
  assert.equal(x.datatype, 'FP32');
  assert.deepEqual(x.dims, [3, 4, 5]);
  assert.ok(x.data instanceof Float32Array && x.data.length === 60);

  const q = readTensorProto(fixture('test_quantizelinear_blocked_symmetric', 'test_data_set_0', 'output_0.pb'));
  assert.equal(q.datatype, 'INT16');
  assert.deepEqual(Array.from(q.data as Int16Array), [4, -5, -4, 2, 0, 3, 1, 1, 0, 4, 1, 1]);

  const empty = readTensorProto(fixture('test_castlike_FLOAT16_to_FLOAT', 'test_data_set_0', 'input_1.pb'));
  assert.deepEqual([empty.datatype, empty.dims, empty.data.length], ['FP32', [0], 0]);

  const half = readTensorProto(fixture('test_castlike_FLOAT16_to_FLOAT', 'test_data_set_0', 'input_0.pb'));
  assert.equal(half.datatype, 'FP16');
  assert.ok(half.data instanceof Uint16Array);
  assert.deepEqual(Array.from(half.data.slice(8)), [0x7e00, 0x7c00, 0x7c00, 0xfc00]); // NaN, +Inf, +Inf, -Inf
});

test('readTensorProto: every typed field the ONNX spec assigns', () => {
  const read = (obj: object) => readTensorProto(encodeTensor({ name: 't', ...obj }));
  assert.deepEqual(read({ data_type: 1, dims: [2], float_data: [1.5, -2] }).data, Float32Array.from([1.5, -2]));
  assert.deepEqual(read({ data_type: 11, dims: [1], double_data: [0.1] }).data, Float64Array.from([0.1]));
  assert.deepEqual(read({ data_type: 7, dims: [3], int64_data: ['-1', '9007199254740993', '-9223372036854775808'] }).data,
    BigInt64Array.from([-1n, 9007199254740993n, -9223372036854775808n]));
  assert.deepEqual(read({ data_type: 13, dims: [1], uint64_data: ['18446744073709551615'] }).data,
    BigUint64Array.from([18446744073709551615n]));
  assert.deepEqual(read({ data_type: 12, dims: [2], uint64_data: [4294967295, 7] }).data, Uint32Array.from([4294967295, 7]));
  assert.deepEqual(read({ data_type: 3, dims: [2], int32_data: [-128, 127] }).data, Int8Array.from([-128, 127]));
  assert.deepEqual(read({ data_type: 2, dims: [1], int32_data: [255] }).data, Uint8Array.from([255]));
  assert.deepEqual(read({ data_type: 9, dims: [2], int32_data: [1, 0] }).data, Uint8Array.from([1, 0]));
  assert.deepEqual(read({ data_type: 10, dims: [1], int32_data: [0xc000] }).data, Uint16Array.from([0xc000])); // -2.0
  assert.deepEqual(read({ data_type: 16, dims: [1], int32_data: [0x3f80] }).data, Uint16Array.from([0x3f80])); // 1.0
  assert.deepEqual(read({ data_type: 6, dims: [], int32_data: [-7] }), { name: 't', datatype: 'INT32', dims: [], data: Int32Array.from([-7]) });
  const s = read({ data_type: 8, dims: [2], string_data: [Buffer.from('héllo'), Buffer.from('')] });
  assert.deepEqual(s.data, [new TextEncoder().encode('héllo'), new Uint8Array(0)]);
  // raw_data is little-endian whatever the element width.
  assert.deepEqual(read({ data_type: 7, dims: [1], raw_data: Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) }).data,
    BigInt64Array.from([-2n]));
});

test('readTensorProto rejects bad and unsupported tensors', () => {
  const read = (obj: object) => () => readTensorProto(encodeTensor({ name: 't', ...obj }), 'in.pb');
  rejects(read({ data_type: 1, dims: [3], float_data: [1, 2] }), 'INVALID_ARGUMENT', /in\.pb 't': float_data holds 2 elements, dims say 3/);
  rejects(read({ data_type: 1, dims: [2], raw_data: Buffer.alloc(6) }), 'INVALID_ARGUMENT', /raw_data holds 6 bytes/);
  rejects(read({ dims: [1] }), 'INVALID_ARGUMENT', /no data_type/);
  rejects(read({ data_type: 17, dims: [1], int32_data: [0] }), 'UNIMPLEMENTED', /FLOAT8E4M3FN is not supported/);
  rejects(read({ data_type: 1, dims: [1], data_location: 1, external_data: [{ key: 'location', value: 'w.bin' }] }),
    'UNIMPLEMENTED', /external_data/);
  rejects(() => readTensorProto(Uint8Array.from([0x0a, 0xff]), 'junk.pb'), 'INVALID_ARGUMENT', /junk\.pb: not a TensorProto/);
});

test('a conformance case runs in onnxruntime from tensors readTensorProto decoded', async () => {
  const dataset = (f: string) => readTensorProto(fixture('test_add', 'test_data_set_0', f));
  const [x, y, expected] = [dataset('input_0.pb'), dataset('input_1.pb'), dataset('output_0.pb')];
  const session = await ort.InferenceSession.create(fixture('test_add', 'model.onnx'));
  const feed = (t: typeof x) => new ort.Tensor('float32', t.data as Float32Array, t.dims);
  const out = await session.run({ x: feed(x), y: feed(y) });
  await session.release();
  assert.deepEqual(out['sum']?.data, expected.data);
});
