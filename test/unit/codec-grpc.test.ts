import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeGrpcInferRequest, encodeGrpcInferResponse, encodeGrpcInferResponseObject, encodeGrpcInferResponsePieces,
  encodeGrpcStreamResponse,
} from '../../src/codec/grpc-infer';
import * as protobuf from 'protobufjs';
import { MAX_REQUEST_ENTRIES } from '../../src/codec/grpc-request-scan';
import { copyEndAligned } from '../../src/server/grpc-wire';
import { protoType } from '../../src/codec/proto';
import { joinBytesElements } from '../../src/codec/raw';
import { MAX_REQUEST_BYTES_ELEMENTS } from '../../src/codec/shape';
import type { DataType, NumericArray } from '../../src/runtime/datatypes';
import type { ErrorCode } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import type { InferResult } from '../../src/runtime/types';
import { NUMERIC } from '../helpers/sample-tensors';

const invalid = (message: RegExp): object => ({ name: 'SluiceError', code: 'INVALID_ARGUMENT', message });
const failsWith = (code: ErrorCode, message: RegExp): object => ({ name: 'SluiceError', code, message });

const Request = protoType('inference.ModelInferRequest');
const Response = protoType('inference.ModelInferResponse');
const StreamResponse = protoType('inference.ModelStreamInferResponse');

/** Encodes a ModelInferRequest from a plain object the way a client stub would. */
const wire = (request: object): Buffer => Buffer.from(Request.encode(Request.fromObject(request)).finish());
const decode = (request: object) => decodeGrpcInferRequest(wire(request));
const decodeOne = (input: object, raw?: Uint8Array): Tensor => {
  const t = decode({ inputs: [{ name: 'x', ...input }], ...(raw ? { raw_input_contents: [raw] } : {}) })
    .inputs.get('x');
  assert.ok(t);
  return t;
};

/** A one-input request whose InferTensorContents are the given bytes, written as they are. */
function withContents(datatype: string, shape: number[], contents: Uint8Array): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((5 << 3) | 2).fork(); // inputs
  w.uint32((1 << 3) | 2).string('x').uint32((2 << 3) | 2).string(datatype);
  for (const d of shape) w.uint32(3 << 3).int64(d); // shape, unpacked
  w.uint32((5 << 3) | 2).bytes(contents);
  w.ldelim();
  return Buffer.from(w.finish());
}

/** InferTensorContents field number and protobufjs Writer method for each datatype's field. */
const FIELD_WRITER: Partial<Record<DataType, [number, 'bool' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'float' | 'double']>> = {
  BOOL: [1, 'bool'], INT8: [2, 'int32'], INT16: [2, 'int32'], INT32: [2, 'int32'], INT64: [3, 'int64'],
  UINT8: [4, 'uint32'], UINT16: [4, 'uint32'], UINT32: [4, 'uint32'], UINT64: [5, 'uint64'],
  FP32: [6, 'float'], FP64: [7, 'double'],
};

const DATATYPES = Object.keys(NUMERIC) as Exclude<DataType, 'BYTES'>[];
const STRINGS = [Buffer.from(''), Buffer.from([0, 255, 10]), Buffer.from('héllo'), Buffer.from('')];

const bytesOf = (a: NumericArray): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The InferTensorContents a client would send for NUMERIC[dt]; undefined for FP16/BF16. */
function typedContents(dt: DataType, a: NumericArray): object | undefined {
  const values = Array.from(a as ArrayLike<number | bigint>);
  switch (dt) {
    case 'BOOL': return { bool_contents: values.map((v) => v === 1) };
    case 'INT8': case 'INT16': case 'INT32': return { int_contents: values };
    case 'UINT8': case 'UINT16': case 'UINT32': return { uint_contents: values };
    case 'INT64': return { int64_contents: values.map(String) };
    case 'UINT64': return { uint64_contents: values.map(String) };
    case 'FP32': return { fp32_contents: values };
    case 'FP64': return { fp64_contents: values };
    default: return undefined;
  }
}

describe('decodeGrpcInferRequest: raw contents', () => {
  test('in a message copied end-aligned by the transport, the last input decodes as a view, not a copy', () => {
    for (const [name, model] of [['m', 'mlp'], ['longer', 'a-model-with-a-longer-name']]) {
      const data = Float32Array.from({ length: 512 }, (_, i) => i / 7);
      const message = copyEndAligned(wire({ model_name: model, id: name,
        inputs: [{ name: 'a', datatype: 'INT8', shape: [3] }, { name: 'x', datatype: 'FP32', shape: [1, 512] }],
        raw_input_contents: [Buffer.from([1, 2, 3]), bytesOf(data)] }));
      const x = decodeGrpcInferRequest(message).inputs.get('x');
      assert.equal((x?.data as NumericArray).buffer, message.buffer, `${model}: a view of the message`);
      assert.deepEqual(x?.data, data);
    }
  });

  test('every datatype in one request, in order, names and ids echoed', () => {
    const req = decode({
      model_name: 'm', model_version: '3', id: 'req-1',
      inputs: [
        ...DATATYPES.map((dt) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 3] })),
        { name: 'in_BYTES', datatype: 'BYTES', shape: [4] },
      ],
      raw_input_contents: [...DATATYPES.map((dt) => bytesOf(NUMERIC[dt])), joinBytesElements(STRINGS)],
    });
    assert.equal(req.modelName, 'm');
    assert.equal(req.modelVersion, '3');
    assert.equal(req.id, 'req-1');
    assert.deepEqual([...req.inputs.keys()], [...DATATYPES.map((dt) => `in_${dt}`), 'in_BYTES']);
    for (const dt of DATATYPES) {
      const t = req.inputs.get(`in_${dt}`);
      assert.equal(t?.datatype, dt);
      assert.deepEqual(t?.shape, [2, 3]);
      assert.deepEqual(t?.data, NUMERIC[dt], dt);
    }
    const s = req.inputs.get('in_BYTES');
    assert.deepEqual((s?.data as Uint8Array[]).map((e) => Buffer.from(e)), STRINGS);
    assert.deepEqual(req.outputs, []);
    assert.deepEqual(req.options, { priority: undefined, timeoutMicroseconds: undefined });
  });

  test('defaults: empty model version and id', () => {
    const req = decode({ model_name: 'm', inputs: [] });
    assert.equal(req.modelVersion, '');
    assert.equal(req.id, '');
    assert.equal(req.inputs.size, 0);
  });

  test('raw data is not copied when alignment allows (UINT8 always aligns)', () => {
    const bytes = wire({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [3] }],
      raw_input_contents: [Buffer.from([1, 2, 3])] });
    const t = decodeGrpcInferRequest(bytes).inputs.get('x');
    assert.equal((t?.data as Uint8Array).buffer, bytes.buffer);
  });

  test('zero-element tensors, with an empty raw entry or with no data at all', () => {
    for (const dt of [...DATATYPES, 'BYTES'] as DataType[]) {
      assert.equal(decodeOne({ datatype: dt, shape: [0, 3] }, new Uint8Array(0)).data.length, 0);
      assert.equal(decodeOne({ datatype: dt, shape: [2, 0] }).data.length, 0);
    }
  });

  test('raw byte size must match the shape', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, 2] }, new Uint8Array(12)),
      invalid(/^input 'x': raw contents have 12 bytes, but FP32 shape \[2,2\] needs 16/));
  });

  test('BYTES prefix past the end', () => {
    const raw = Buffer.concat([joinBytesElements([Buffer.from('a')]), Buffer.from([9, 0, 0, 0, 1])]);
    assert.throws(() => decodeOne({ datatype: 'BYTES', shape: [2] }, raw),
      invalid(/^input 'x': BYTES element 1 at offset 5: length prefix 9 runs past the end/));
  });

  test('raw_input_contents must be none or one per input', () => {
    assert.throws(() => decode({
      inputs: [{ name: 'a', datatype: 'UINT8', shape: [1] }, { name: 'b', datatype: 'UINT8', shape: [1] }],
      raw_input_contents: [Buffer.from([1])],
    }), invalid(/^raw_input_contents has 1 entries for 2 inputs/));
    assert.throws(() => decode({ inputs: [], raw_input_contents: [Buffer.from([1])] }),
      invalid(/raw_input_contents has 1 entries for 0 inputs/));
  });
});

describe('decodeGrpcInferRequest: typed contents', () => {
  for (const dt of DATATYPES) {
    const contents = typedContents(dt, NUMERIC[dt]);
    if (contents === undefined) {
      test(`${dt} is raw only`, () => {
        assert.throws(() => decodeOne({ datatype: dt, shape: [1], contents: { uint_contents: [1] } }),
          invalid(new RegExp(`^input 'x': ${dt} is raw only`)));
      });
    } else {
      test(`${dt} round-trips through its field`, () => {
        const t = decodeOne({ datatype: dt, shape: [2, 3], contents });
        assert.equal(t.datatype, dt);
        assert.deepEqual(t.data, NUMERIC[dt]);
      });
    }
  }

  test('unpacked and packed encodings of one field in one message read as one sequence', () => {
    for (const dt of DATATYPES) {
      const spec = FIELD_WRITER[dt];
      if (spec === undefined) continue;
      const [field, method] = spec;
      const values = Array.from(NUMERIC[dt] as ArrayLike<number | bigint>)
        .map((v) => (dt === 'BOOL' ? v === 1 : typeof v === 'bigint' ? v.toString() : v));
      const wireType = method === 'float' ? 5 : method === 'double' ? 1 : 0;
      const w = protobuf.Writer.create();
      w.uint32((9 << 3) | 0).uint32(7); // an unknown field, skipped
      for (const v of values.slice(0, 3)) (w.uint32((field << 3) | wireType)[method] as (v: unknown) => protobuf.Writer)(v);
      w.uint32((field << 3) | 2).fork();
      for (const v of values.slice(3)) (w[method] as (v: unknown) => protobuf.Writer)(v);
      w.ldelim();
      const t = decodeGrpcInferRequest(withContents(dt, [2, 3], w.finish())).inputs.get('x');
      assert.deepEqual(t?.data, NUMERIC[dt], dt);
    }
  });

  test('malformed contents are refused naming the input', () => {
    const cases: [number[], RegExp][] = [
      [[0x0a, 0x02, 0x80, 0x80], /packed varints end mid-value/],
      [[0x32, 0x05, 0, 0, 0, 0, 0], /packed fp32_contents of 5 bytes is not a whole number of 4-byte values/],
      [[0x30, 0x01], /fp32_contents sent with wire type 0/],
      [[0x42, 0x01], /bytes_contents sent with wire type 0|length 1 runs past the end/],
      [[0x08], /truncated varint/],
      [[0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /varint longer than 10 bytes/],
      [[0x4b], /unsupported wire type 3/],
    ];
    for (const [bytes, why] of cases) {
      assert.throws(() => decodeGrpcInferRequest(withContents('FP32', [1], Buffer.from(bytes))),
        invalid(new RegExp(`^malformed InferTensorContents of input 'x' at byte \\d+: ${why.source}`)),
        Buffer.from(bytes).toString('hex'));
    }
  });

  test('BYTES with empty strings and binary bytes', () => {
    const t = decodeOne({ datatype: 'BYTES', shape: [2, 2], contents: { bytes_contents: STRINGS } });
    assert.deepEqual((t.data as Uint8Array[]).map((e) => Buffer.from(e)), STRINGS);
  });

  test('values in a field that does not belong to the datatype', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1], contents: { int_contents: [1] } }),
      invalid(/^input 'x': FP32 data belongs in fp32_contents, but int_contents has 1 values$/));
    assert.throws(() => decodeOne({ datatype: 'INT64', shape: [1], contents: { int_contents: [1] } }),
      invalid(/INT64 data belongs in int64_contents/));
    assert.throws(() => decodeOne({ datatype: 'UINT8', shape: [1], contents: { int_contents: [1] } }),
      invalid(/UINT8 data belongs in uint_contents/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1],
      contents: { fp32_contents: [1], fp64_contents: [2] } }), invalid(/but fp64_contents has 1 values/));
  });

  test('value count must equal the element count', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [1, 2] } }),
      invalid(/^input 'x': fp32_contents has 2 values, but shape \[2,3\] needs 6$/));
    assert.throws(() => decodeOne({ datatype: 'BYTES', shape: [1], contents: { bytes_contents: STRINGS } }),
      invalid(/bytes_contents has 4 values, but shape \[1\] needs 1/));
  });

  test('narrow integers are range-checked, not truncated', () => {
    const cases: [DataType, object][] = [
      ['INT8', { int_contents: [128] }], ['INT8', { int_contents: [-129] }],
      ['INT16', { int_contents: [40000] }], ['UINT8', { uint_contents: [256] }],
      ['UINT16', { uint_contents: [65536] }],
    ];
    for (const [dt, contents] of cases) {
      assert.throws(() => decodeOne({ datatype: dt, shape: [1], contents }),
        invalid(new RegExp(`^input 'x': value -?\\d+ at index 0 is out of range for ${dt}`)));
    }
  });

  test('raw and typed contents on the same input', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } },
      new Uint8Array(4)), invalid(/^input 'x': raw and typed contents mixed/));
  });

  test('raw for some inputs and typed for others names the typed input', () => {
    assert.throws(() => decode({
      inputs: [
        { name: 'a', datatype: 'UINT8', shape: [1] },
        { name: 'b', datatype: 'UINT8', shape: [1], contents: { uint_contents: [1] } },
      ],
      raw_input_contents: [Buffer.from([1])],
    }), invalid(/^input 'b': raw and typed contents mixed \(raw_input_contents has 1 entries for 2 inputs\)/));
  });

  test('an input with no data', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2] }),
      invalid(/^input 'x': no data \(neither raw_input_contents nor contents\)$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2], contents: {} }), invalid(/no data/));
  });
});

describe('decodeGrpcInferRequest: request structure', () => {
  test('malformed protobuf bytes', () => {
    for (const bytes of [Buffer.from([0x2a, 0x05, 0x01]), Buffer.from([0xff, 0xff, 0xff]),
      Buffer.from([0x0a, 0x80])]) {
      assert.throws(() => decodeGrpcInferRequest(bytes), invalid(/^malformed ModelInferRequest\b/));
    }
  });

  test('randomly corrupted requests fail as SluiceErrors, never as crashes', () => {
    const raw = wire({
      model_name: 'm', id: 'i', parameters: { priority: { uint64_param: 1 } },
      inputs: [{ name: 'a', datatype: 'FP32', shape: [2, 2] }, { name: 'b', datatype: 'BYTES', shape: [2] }],
      outputs: [{ name: 'y' }],
      raw_input_contents: [Buffer.alloc(16), joinBytesElements([Buffer.from('A'), Buffer.from('')])],
    });
    const typed = wire({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2], contents: { fp32_contents: [1, 2] } },
        { name: 'b', datatype: 'INT64', shape: [2], contents: { int64_contents: ['-1', '300'] } },
        { name: 'c', datatype: 'INT8', shape: [2], contents: { int_contents: [-5, 9] } },
        { name: 'd', datatype: 'BYTES', shape: [2], contents: { bytes_contents: STRINGS.slice(0, 2) } },
      ],
    });
    let seed = 0x9e3779b9;
    const random = (n: number): number => { // xorshift32, fixed seed: reproducible
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (let i = 0; i < 10000; i++) {
      const bytes = Buffer.from(i % 2 === 0 ? raw : typed);
      for (let flips = 1 + random(3); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
      const cut = random(5) === 0 ? random(bytes.length) : bytes.length;
      try {
        decodeGrpcInferRequest(bytes.subarray(0, cut));
      } catch (e) {
        assert.equal((e as Error).name, 'SluiceError', `${String(e)} for ${bytes.subarray(0, cut).toString('hex')}`);
      }
    }
  });

  test(`more than ${MAX_REQUEST_ENTRIES} inputs, outputs, dims and parameters in all are refused undecoded`, () => {
    const emptyInputs = Buffer.alloc(2 * (MAX_REQUEST_ENTRIES + 1));
    for (let i = 0; i < emptyInputs.length; i += 2) emptyInputs[i] = (5 << 3) | 2; // inputs: {}, 2 bytes each
    assert.throws(() => decodeGrpcInferRequest(emptyInputs),
      invalid(new RegExp(`^ModelInferRequest holds more than ${MAX_REQUEST_ENTRIES} inputs, outputs, ` +
        `raw_input_contents entries, shape dims and parameters in all \\(passed at inputs\\[${MAX_REQUEST_ENTRIES}\\]\\)`)));
    // One input whose packed shape has too many dims; then outputs and dims together.
    const dims = new Array<number>(MAX_REQUEST_ENTRIES).fill(1);
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: dims }), invalid(/passed at inputs\[0\]/));
    assert.throws(() => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: dims.slice(2) }], outputs: [{ name: 'a' }, { name: 'b' }] }),
      invalid(/passed at outputs\[1\]/));
    // At the limit, decoding goes on (here to the next error).
    assert.throws(() => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: dims.slice(1) }] }),
      invalid(/^input 'x': no data/));
  });

  test(`BYTES inputs hold at most ${MAX_REQUEST_BYTES_ELEMENTS} elements per request, counted before any is made`, () => {
    const limit = MAX_REQUEST_BYTES_ELEMENTS;
    const empty = (n: number): Buffer => Buffer.alloc(4 * n); // n zero-length elements
    const t = decodeOne({ datatype: 'BYTES', shape: [limit] }, empty(limit));
    assert.equal(t.data.length, limit);
    assert.throws(() => decodeOne({ datatype: 'BYTES', shape: [limit + 1] }, empty(limit + 1)),
      invalid(new RegExp(`^input 'x': ${limit + 1} BYTES elements exceed the ${limit}-element limit for one request$`)));
    const half = limit / 2 + 1;
    assert.throws(() => decode({
      inputs: [{ name: 'a', datatype: 'BYTES', shape: [half] }, { name: 'b', datatype: 'BYTES', shape: [half] }],
      raw_input_contents: [empty(half), empty(half)],
    }), invalid(new RegExp(`^input 'b': ${half} BYTES elements \\(${2 * half} in this request\\) exceed`)));
    // Typed contents: 2 bytes per empty element on the wire.
    const contents = Buffer.alloc(2 * (limit + 1));
    for (let i = 0; i < contents.length; i += 2) contents[i] = (8 << 3) | 2;
    assert.throws(() => decodeGrpcInferRequest(withContents('BYTES', [limit + 1], contents)),
      invalid(/exceed the \d+-element limit/));
  });

  test('inputs need a name and a known datatype', () => {
    assert.throws(() => decode({ inputs: [{ datatype: 'FP32', shape: [0] }] }),
      invalid(/^inputs\[0\]: name is required$/));
    assert.throws(() => decodeOne({ datatype: 'FLOAT32', shape: [0] }),
      invalid(/^input 'x': unknown datatype 'FLOAT32'$/));
    assert.throws(() => decodeOne({ datatype: '', shape: [0] }), invalid(/unknown datatype ''/));
    assert.throws(() => decodeOne({ datatype: 'fp32', shape: [0] }), invalid(/unknown datatype 'fp32'/));
  });

  test('duplicate input names', () => {
    assert.throws(() => decode({
      inputs: [{ name: 'a', datatype: 'UINT8', shape: [0] }, { name: 'a', datatype: 'UINT8', shape: [0] }],
    }), invalid(/^input 'a': duplicate input name$/));
  });

  test('bad shapes arrive as int64 and are checked', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, -3] }, new Uint8Array(0)),
      invalid(/^input 'x': negative dimension -3 in shape \[2,-3\]$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2 ** 40, 2 ** 40] }, new Uint8Array(0)),
      invalid(/^input 'x': shape \[1099511627776,1099511627776\] has too many elements/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: ['9223372036854775807'] }, new Uint8Array(0)),
      invalid(/dimension 9223372036854775807 .* out of range/));
  });

  test('requested outputs: order kept, duplicates and empty names rejected', () => {
    const req = decode({ inputs: [], outputs: [{ name: 'b' }, { name: 'a', parameters: { binary_data: { bool_param: true } } }] });
    assert.deepEqual(req.outputs, [{ name: 'b', binary: undefined }, { name: 'a', binary: undefined }]);
    assert.throws(() => decode({ outputs: [{ name: 'a' }, { name: 'a' }] }), invalid(/^output 'a': requested twice$/));
    assert.throws(() => decode({ outputs: [{ name: '' }] }), invalid(/^outputs\[0\]: name is required$/));
  });

  test('unsupported extensions are UNIMPLEMENTED, not silently ignored', () => {
    assert.throws(() => decode({ outputs: [{ name: 'y', parameters: { classification: { int64_param: 3 } } }] }),
      failsWith('UNIMPLEMENTED', /^output 'y': parameter 'classification'/));
    assert.throws(() => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1],
      parameters: { shared_memory_region: { string_param: 'r' } } }] }),
    failsWith('UNIMPLEMENTED', /^input 'x': parameter 'shared_memory_region': shared-memory tensors/));
  });
});

describe('decodeGrpcInferRequest: request parameters', () => {
  const withParams = (parameters: object) => decode({ inputs: [], parameters }).options;

  test('priority as uint64 (tritonclient) or int64, timeout in µs', () => {
    assert.deepEqual(withParams({ priority: { uint64_param: 2 }, timeout: { int64_param: 1500 } }),
      { priority: 2, timeoutMicroseconds: 1500 });
    assert.deepEqual(withParams({ priority: { int64_param: 0 }, timeout: { uint64_param: 0 } }),
      { priority: 0, timeoutMicroseconds: 0 });
  });

  test('bad priority / timeout types and values', () => {
    const cases: [object, RegExp][] = [
      [{ priority: { int64_param: -1 } }, /'priority' must be a non-negative integer .* got int64_param -1$/],
      [{ priority: { string_param: '1' } }, /'priority' .* got string_param "1"$/],
      [{ priority: { double_param: 1.5 } }, /'priority' .* got double_param 1.5$/],
      [{ priority: { bool_param: true } }, /'priority' .* got bool_param true$/],
      [{ priority: { uint64_param: '18446744073709551615' } }, /got uint64_param 18446744073709551615$/],
      [{ priority: {} }, /'priority' .* got no value$/],
      [{ timeout: { int64_param: -5 } }, /'timeout' must be a non-negative integer/],
      [{ timeout: { string_param: '10ms' } }, /'timeout' .* got string_param "10ms"/],
    ];
    for (const [parameters, message] of cases) {
      assert.throws(() => withParams(parameters), invalid(message));
    }
  });

  test('a map entry with no value at all reads as an unset parameter', () => {
    const key = Buffer.from('priority');
    const entry = Buffer.concat([Buffer.from([0x0a, key.length]), key]); // MapEntry{key = 1}, no value
    const bytes = Buffer.concat([Buffer.from([0x22, entry.length]), entry]); // ModelInferRequest.parameters = 4
    assert.throws(() => decodeGrpcInferRequest(bytes), invalid(/'priority' .* got no value$/));
  });

  test('keys starting with triton_ are rejected', () => {
    assert.throws(() => withParams({ triton_enable_empty_final_response: { bool_param: true } }),
      invalid(/^request parameter 'triton_enable_empty_final_response': keys starting with 'triton_' are reserved$/));
  });

  test('sequence parameters: neutral values pass, a real sequence is UNIMPLEMENTED', () => {
    assert.deepEqual(withParams({ sequence_id: { int64_param: 0 }, sequence_start: { bool_param: false },
      sequence_end: { bool_param: false } }), { priority: undefined, timeoutMicroseconds: undefined });
    assert.throws(() => withParams({ sequence_id: { int64_param: 7 } }),
      failsWith('UNIMPLEMENTED', /^request parameter 'sequence_id' \(int64_param 7\): sequence batching is not supported/));
    assert.throws(() => withParams({ sequence_id: { string_param: 'abc' } }), failsWith('UNIMPLEMENTED', /sequence/));
    assert.throws(() => withParams({ sequence_start: { bool_param: true } }), failsWith('UNIMPLEMENTED', /sequence/));
  });

  test('custom parameters are accepted and ignored', () => {
    assert.deepEqual(withParams({ my_backend_knob: { string_param: 'x' }, other: { double_param: 0.5 } }),
      { priority: undefined, timeoutMicroseconds: undefined });
  });
});

describe('encodeGrpcInferResponse', () => {
  const outputs = new Map<string, Tensor>([
    ...DATATYPES.map((dt): [string, Tensor] => [`out_${dt}`, { datatype: dt, shape: [2, 3], data: NUMERIC[dt] }]),
    ['out_BYTES', { datatype: 'BYTES', shape: [4], data: STRINGS }],
    ['out_empty', { datatype: 'FP32', shape: [0, 5], data: new Float32Array(0) }],
  ]);
  const result: InferResult = { model: 'm', version: '2', id: 'abc', outputs };

  test('metadata and one raw_output_contents entry per output, in order, even when empty', () => {
    const msg = Response.toObject(Response.decode(encodeGrpcInferResponse(result)), { longs: Number, defaults: true });
    assert.equal(msg['model_name'], 'm');
    assert.equal(msg['model_version'], '2');
    assert.equal(msg['id'], 'abc');
    const outs = msg['outputs'] as { name: string; datatype: string; shape: number[]; contents?: unknown }[];
    const raw = msg['raw_output_contents'] as Buffer[];
    assert.deepEqual(outs.map((o) => o.name), [...outputs.keys()]);
    assert.equal(raw.length, outputs.size);
    [...outputs.values()].forEach((t, i) => {
      assert.equal(outs[i]?.datatype, t.datatype);
      assert.deepEqual(outs[i]?.shape, t.shape);
      assert.equal(outs[i]?.contents, null, 'never typed contents');
    });
    for (const [i, dt] of DATATYPES.entries()) assert.deepEqual(raw[i], bytesOf(NUMERIC[dt]), dt);
    assert.deepEqual(raw[DATATYPES.length], joinBytesElements(STRINGS));
    assert.equal(raw[DATATYPES.length + 1]?.length, 0);
  });

  test('a response decodes back to the same tensors (round trip through the request decoder)', () => {
    const obj = encodeGrpcInferResponseObject(result);
    const req = decode({
      inputs: obj.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
      raw_input_contents: obj.raw_output_contents,
    });
    for (const [name, t] of outputs) assert.deepEqual(req.inputs.get(name)?.data.length, t.data.length);
    assert.deepEqual(req.inputs.get('out_FP32')?.data, NUMERIC.FP32);
  });

  test('bytes are identical to what protobufjs writes, for varint lengths of 1 to 3 bytes', () => {
    const sizes = [0, 1, 127, 128, 16383, 16384, 100000];
    const big: InferResult = { model: 'm', version: '1', id: 'x', outputs: new Map(sizes.map((n, i): [string, Tensor] =>
      [`o${i}`, { datatype: 'UINT8', shape: [n], data: Uint8Array.from({ length: n }, (_, j) => j * 7) }])) };
    const reference = Response.encode(encodeGrpcInferResponseObject(big)).finish();
    assert.deepEqual(encodeGrpcInferResponse(big), Buffer.from(reference));
    assert.deepEqual(encodeGrpcInferResponse(result), Buffer.from(Response.encode(encodeGrpcInferResponseObject(result)).finish()));
    const stream = StreamResponse.encode({ error_message: '', infer_response: encodeGrpcInferResponseObject(big) }).finish();
    assert.deepEqual(Buffer.concat(encodeGrpcStreamResponse(big)), Buffer.from(stream));
  });

  test('as pieces: the same bytes, each non-empty output a view of its tensor', () => {
    const pieces = encodeGrpcInferResponsePieces(result);
    assert.deepEqual(Buffer.concat(pieces), encodeGrpcInferResponse(result));
    for (const [name, t] of outputs) {
      if (t.datatype === 'BYTES' || t.data.length === 0) continue;
      const data = t.data as NumericArray;
      assert.ok(pieces.some((p) => p.buffer === data.buffer && p.byteOffset === data.byteOffset &&
        p.byteLength === data.byteLength), `${name} is not copied`);
    }
    const none: InferResult = { model: 'm', version: '1', id: '', outputs: new Map() };
    assert.deepEqual(Buffer.concat(encodeGrpcInferResponsePieces(none)), encodeGrpcInferResponse(none));
  });

  test('a missing id is sent as ""', () => {
    const msg = Response.decode(encodeGrpcInferResponse({ ...result, id: undefined })) as unknown as { id: string };
    assert.equal(msg.id, '');
  });

  test('stream responses: result or in-band error', () => {
    const ok = StreamResponse.decode(Buffer.concat(encodeGrpcStreamResponse(result))) as unknown as
      { error_message: string; infer_response: { model_name: string; raw_output_contents: Buffer[] } };
    assert.equal(ok.error_message, '');
    assert.equal(ok.infer_response.model_name, 'm');
    assert.equal(ok.infer_response.raw_output_contents.length, outputs.size);
    const bad = StreamResponse.decode(Buffer.concat(encodeGrpcStreamResponse({ error: 'boom', id: 'r7' }))) as unknown as
      { error_message: string; infer_response: { id: string } };
    assert.equal(bad.error_message, 'boom');
    assert.equal(bad.infer_response.id, 'r7');
  });
});
