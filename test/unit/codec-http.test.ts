import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeHttpInferRequest, encodeHttpInferResponse } from '../../src/codec/http-infer';
import { joinBytesElements } from '../../src/codec/raw';
import { MAX_JSON_CONTAINERS } from '../../src/codec/json-body';
import { MAX_REQUEST_BYTES_ELEMENTS } from '../../src/codec/shape';
import type { DataType, NumericArray } from '../../src/runtime/datatypes';
import type { ErrorCode } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import type { InferResult } from '../../src/runtime/types';

const invalid = (message: RegExp): object => ({ name: 'SluiceError', code: 'INVALID_ARGUMENT', message });
const failsWith = (code: ErrorCode, message: RegExp): object => ({ name: 'SluiceError', code, message });

/** A JSON-only request body. */
const jsonBody = (request: unknown): Buffer => Buffer.from(JSON.stringify(request));
const decodeJson = (request: unknown) => decodeHttpInferRequest(jsonBody(request), undefined);
/** A binary-extension body: JSON header, then the tensors; returns the header length as a string. */
function binaryBody(request: unknown, ...tensors: Uint8Array[]): [Buffer, string] {
  const json = jsonBody(request);
  return [Buffer.concat([json, ...tensors]), String(json.length)];
}
const decodeOne = (input: object): Tensor => {
  const t = decodeJson({ inputs: [{ name: 'x', ...input }] }).inputs.get('x');
  assert.ok(t);
  return t;
};
const bytesOf = (a: NumericArray): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const asStrings = (t: Tensor | undefined): string[] => (t?.data as Uint8Array[]).map((e) => Buffer.from(e).toString());

/** [datatype, JSON data a client sends, the tensor data expected]. */
const JSON_CASES: [DataType, unknown[], NumericArray][] = [
  ['BOOL', [true, false, true, true, false, false], new Uint8Array([1, 0, 1, 1, 0, 0])],
  ['UINT8', [0, 1, 127, 128, 254, 255], new Uint8Array([0, 1, 127, 128, 254, 255])],
  ['UINT16', [0, 1, 300, 32768, 65534, 65535], new Uint16Array([0, 1, 300, 32768, 65534, 65535])],
  ['UINT32', [0, 1, 7, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1], new Uint32Array([0, 1, 7, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1])],
  ['UINT64', [0, 1, 2 ** 53 - 1, '9007199254740993', '9223372036854775808', '18446744073709551615'],
    new BigUint64Array([0n, 1n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n])],
  ['INT8', [-128, -1, 0, 1, 100, 127], new Int8Array([-128, -1, 0, 1, 100, 127])],
  ['INT16', [-32768, -1, 0, 1, 1000, 32767], new Int16Array([-32768, -1, 0, 1, 1000, 32767])],
  ['INT32', [-(2 ** 31), -1, 0, 1, 5, 2 ** 31 - 1], new Int32Array([-(2 ** 31), -1, 0, 1, 5, 2 ** 31 - 1])],
  ['INT64', ['-9223372036854775808', -1, 0, '1', -(2 ** 53) + 1, '9223372036854775807'],
    new BigInt64Array([-(2n ** 63n), -1n, 0n, 1n, -(2n ** 53n) + 1n, 2n ** 63n - 1n])],
  ['FP32', [0, -1.5, 0.1, 3.25, 1e30, -7], new Float32Array([0, -1.5, 0.1, 3.25, 1e30, -7])],
  ['FP64', [0, -1.5, 0.1, Math.PI, 1e300, 5e-324], new Float64Array([0, -1.5, 0.1, Math.PI, 1e300, 5e-324])],
];

describe('decodeHttpInferRequest: JSON data', () => {
  for (const [dt, data, expected] of JSON_CASES) {
    test(`${dt}: flat and nested data`, () => {
      const flat = decodeOne({ datatype: dt, shape: [2, 3], data });
      assert.equal(flat.datatype, dt);
      assert.deepEqual(flat.shape, [2, 3]);
      assert.deepEqual(flat.data, expected);
      const nested = decodeOne({ datatype: dt, shape: [2, 3], data: [data.slice(0, 3), data.slice(3)] });
      assert.deepEqual(nested.data, expected);
      const deep = decodeOne({ datatype: dt, shape: [3, 1, 2], data: [[data.slice(0, 2)], [data.slice(2, 4)], [data.slice(4)]] });
      assert.deepEqual(deep.data, expected);
    });
  }

  test('BYTES as UTF-8 strings, empty strings included', () => {
    const t = decodeOne({ datatype: 'BYTES', shape: [2, 2], data: [['', 'héllo'], ['☃', '']] });
    assert.deepEqual(asStrings(t), ['', 'héllo', '☃', '']);
  });

  test(`BYTES inputs hold at most ${MAX_REQUEST_BYTES_ELEMENTS} elements per request, JSON or binary`, () => {
    const limit = MAX_REQUEST_BYTES_ELEMENTS;
    assert.equal(decodeOne({ datatype: 'BYTES', shape: [limit], data: new Array<string>(limit).fill('') }).data.length, limit);
    const over = new RegExp(`^input 'x': ${limit + 1} BYTES elements exceed the ${limit}-element limit for one request$`);
    assert.throws(() => decodeOne({ datatype: 'BYTES', shape: [limit + 1], data: new Array<string>(limit + 1).fill('') }), invalid(over));
    const empty = Buffer.alloc(4 * (limit + 1)); // zero-length elements
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [limit + 1],
      parameters: { binary_data_size: empty.length } }] }, empty);
    assert.throws(() => decodeHttpInferRequest(body, headerLength), invalid(over));
    const half = limit / 2 + 1;
    assert.throws(() => decodeJson({ inputs: ['a', 'b'].map((name) =>
      ({ name, datatype: 'BYTES', shape: [half], data: new Array<string>(half).fill('') })) }),
    invalid(new RegExp(`^input 'b': ${half} BYTES elements \\(${2 * half} in this request\\) exceed`)));
  });

  test(`a body of more than ${MAX_JSON_CONTAINERS} objects and arrays is refused before JSON.parse`, () => {
    const tooMany = new RegExp(`^JSON body holds more than ${MAX_JSON_CONTAINERS} objects and arrays; send tensor data flat`);
    assert.throws(() => decodeHttpInferRequest(Buffer.from(`{"inputs":[${'{},'.repeat(MAX_JSON_CONTAINERS)}{}]}`), undefined),
      invalid(tooMany));
    const rows = MAX_JSON_CONTAINERS; // nested data, one array per row: with the body and inputs arrays, over
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [rows, 1], data: new Array(rows).fill([0]) }), invalid(tooMany));
    assert.equal(decodeOne({ datatype: 'FP32', shape: [rows - 8, 1], data: new Array(rows - 8).fill([0]) }).data.length, rows - 8);
    // Brackets inside strings, escaped quotes included, are text, not containers.
    const text = `a\\"${'[{'.repeat(MAX_JSON_CONTAINERS)}`;
    assert.deepEqual(asStrings(decodeOne({ datatype: 'BYTES', shape: [1], data: [text] })), [text]);
  });

  test('zero-element tensors, with [] or no data', () => {
    assert.equal(decodeOne({ datatype: 'FP32', shape: [0, 3], data: [] }).data.length, 0);
    assert.equal(decodeOne({ datatype: 'BYTES', shape: [0], data: [] }).data.length, 0);
    assert.equal(decodeOne({ datatype: 'FP16', shape: [0] }).data.length, 0);
  });

  test('scalars: shape [] holds one element', () => {
    assert.deepEqual(decodeOne({ datatype: 'INT32', shape: [], data: [7] }).data, new Int32Array([7]));
  });

  test('FP16/BF16 are refused as JSON', () => {
    for (const dt of ['FP16', 'BF16']) {
      assert.throws(() => decodeOne({ datatype: dt, shape: [1], data: [1] }),
        invalid(new RegExp(`^input 'x': ${dt} cannot be sent as JSON data`)));
    }
  });

  test('element values of the wrong kind or out of range', () => {
    const cases: [DataType, unknown[], RegExp][] = [
      ['BOOL', [1], /^input 'x': data\[0\] is 1; BOOL needs true or false$/],
      ['INT8', [128], /data\[0\] is 128; INT8 needs an integer in \[-128, 127\]/],
      ['UINT8', [-1], /UINT8 needs an integer in \[0, 255\]/],
      ['INT32', [1.5], /data\[0\] is 1.5; INT32 needs an integer/],
      ['UINT32', ['5'], /data\[0\] is "5"; UINT32 needs an integer/],
      ['INT64', [2 ** 53], /data\[0\] is 9007199254740992; INT64 needs an integer in range/],
      ['INT64', [1.5], /INT64 needs an integer/],
      ['INT64', ['1e3'], /INT64 needs an integer/],
      ['INT64', ['9223372036854775808'], /INT64 needs an integer in range/],
      ['UINT64', [-1], /UINT64 needs an integer in range/],
      ['FP32', ['1.0'], /data\[0\] is "1.0"; FP32 needs a number/],
      ['FP64', [null], /data\[0\] is null; FP64 needs a number/],
      ['BYTES', [5], /data\[0\] is 5; BYTES needs a string/],
    ];
    for (const [dt, data, message] of cases) {
      assert.throws(() => decodeOne({ datatype: dt, shape: [data.length], data }), invalid(message));
    }
  });

  test('element count and nesting must match the shape', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, 3], data: [1, 2, 3] }),
      invalid(/^input 'x': data has 3 elements, but shape \[2,3\] needs 6$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, 3], data: [[1, 2], [3, 4], [5, 6]] }),
      invalid(/^input 'x': nested data does not match shape \[2,3\]: expected 2 elements at depth 0, got 3$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, 2], data: [[1, 2], 3] }),
      invalid(/expected 2 elements at depth 1, got 3$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2], data: [[1, 2]] }),
      invalid(/expected 2 elements at depth 0, got 1$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1], data: [[[1]]] }), invalid(/FP32 needs a number/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1], data: 1 }), invalid(/^input 'x': data must be an array$/));
  });

  test('bad shapes', () => {
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2, -3], data: [] }),
      invalid(/^input 'x': negative dimension -3 in shape \[2,-3\]$/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [1.5], data: [] }), invalid(/dimension 1.5 .* not an integer/));
    assert.throws(() => decodeOne({ datatype: 'FP32', shape: [2 ** 40, 2 ** 40], data: [] }),
      invalid(/^input 'x': shape \[1099511627776,1099511627776\] has too many elements/));
    assert.throws(() => decodeOne({ datatype: 'FP32', data: [] }), invalid(/^input 'x': shape must be an array/));
  });
});

describe('decodeHttpInferRequest: binary extension', () => {
  test('binary and JSON inputs mixed, binary tensors in input order', () => {
    const f32 = new Float32Array([1.5, -2, 3, 4]);
    const strings = joinBytesElements([Buffer.from(''), Buffer.from([0, 255])]);
    const fp16 = new Uint16Array([0x3c00, 0xc000]);
    const [body, headerLength] = binaryBody({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
        { name: 'j', datatype: 'INT32', shape: [2], data: [1, 2] },
        { name: 's', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: strings.length } },
        { name: 'h', datatype: 'FP16', shape: [2], parameters: { binary_data_size: 4 } },
        { name: 'e', datatype: 'FP64', shape: [0], parameters: { binary_data_size: 0 } },
      ],
    }, bytesOf(f32), strings, bytesOf(fp16));
    const req = decodeHttpInferRequest(body, headerLength, { modelName: 'm', modelVersion: '1' });
    assert.equal(req.modelName, 'm');
    assert.equal(req.modelVersion, '1');
    assert.deepEqual([...req.inputs.keys()], ['a', 'j', 's', 'h', 'e']);
    assert.deepEqual(req.inputs.get('a')?.data, f32);
    assert.deepEqual(req.inputs.get('j')?.data, new Int32Array([1, 2]));
    assert.deepEqual((req.inputs.get('s')?.data as Uint8Array[]).map((e) => [...e]), [[], [0, 255]]);
    assert.deepEqual(req.inputs.get('h')?.data, fp16);
    assert.equal(req.inputs.get('e')?.data.length, 0);
  });

  test('a header covering the whole body is plain JSON', () => {
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1], data: [3] }] });
    assert.deepEqual(decodeHttpInferRequest(body, headerLength).inputs.get('x')?.data, new Uint8Array([3]));
  });

  test('binary size must match the shape', () => {
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3],
      parameters: { binary_data_size: 8 } }] }, new Uint8Array(8));
    assert.throws(() => decodeHttpInferRequest(body, headerLength),
      invalid(/^input 'x': raw contents have 8 bytes, but FP32 shape \[3\] needs 12/));
  });

  test('binary_data_size must be covered by the body', () => {
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'FP32', shape: [4],
      parameters: { binary_data_size: 16 } }] }, new Uint8Array(10));
    assert.throws(() => decodeHttpInferRequest(body, headerLength),
      invalid(/^input 'x': binary_data_size 16 runs past the end of the body \(10 bytes of binary data left\)$/));
  });

  test('leftover bytes after the binary tensors', () => {
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [2],
      parameters: { binary_data_size: 2 } }] }, new Uint8Array(5));
    assert.throws(() => decodeHttpInferRequest(body, headerLength),
      invalid(/^3 bytes after the JSON header are not claimed by any input's binary_data_size$/));
    const [plain, length] = binaryBody({ inputs: [] }, new Uint8Array(1));
    assert.throws(() => decodeHttpInferRequest(plain, length), invalid(/^1 bytes after the JSON header/));
  });

  test('BYTES prefix past the end inside a binary tensor', () => {
    const [body, headerLength] = binaryBody({ inputs: [{ name: 's', datatype: 'BYTES', shape: [1],
      parameters: { binary_data_size: 6 } }] }, Buffer.from([9, 0, 0, 0, 1, 2]));
    assert.throws(() => decodeHttpInferRequest(body, headerLength),
      invalid(/^input 's': BYTES element 0 at offset 0: length prefix 9 runs past the end of the 6-byte contents$/));
  });

  test('binary_data_size without the header, or together with data', () => {
    assert.throws(() => decodeJson({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [0], parameters: { binary_data_size: 0 } }] }),
      invalid(/^input 'x': binary_data_size needs the Inference-Header-Content-Length header$/));
    const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1], data: [1],
      parameters: { binary_data_size: 1 } }] }, new Uint8Array(1));
    assert.throws(() => decodeHttpInferRequest(body, headerLength), invalid(/^input 'x': has both "data" and binary_data_size$/));
  });

  test('bad binary_data_size values', () => {
    for (const size of [-1, 1.5, '4', true]) {
      const [body, headerLength] = binaryBody({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [4],
        parameters: { binary_data_size: size } }] }, new Uint8Array(4));
      assert.throws(() => decodeHttpInferRequest(body, headerLength),
        invalid(/^input 'x': parameter 'binary_data_size' must be a non-negative integer/));
    }
  });

  test('bad Inference-Header-Content-Length', () => {
    const body = jsonBody({ inputs: [] });
    for (const header of ['abc', '-1', '1.5', '', ' 12', '0x10', '99999999999999999999']) {
      assert.throws(() => decodeHttpInferRequest(body, header),
        invalid(/^Inference-Header-Content-Length '.*' is not a non-negative integer$/), header);
    }
    assert.throws(() => decodeHttpInferRequest(body, String(body.length + 1)),
      invalid(new RegExp(`^Inference-Header-Content-Length ${body.length + 1} exceeds the ${body.length}-byte body$`)));
    assert.throws(() => decodeHttpInferRequest(body, '5'), invalid(/^malformed JSON: /));
  });
});

describe('decodeHttpInferRequest: request structure and parameters', () => {
  test('malformed JSON and non-object bodies', () => {
    assert.throws(() => decodeHttpInferRequest(Buffer.from('{"inputs": ['), undefined), invalid(/^malformed JSON: /));
    assert.throws(() => decodeHttpInferRequest(Buffer.alloc(0), undefined), invalid(/^malformed JSON: /));
    for (const body of ['[]', 'null', '3', '"x"']) {
      assert.throws(() => decodeHttpInferRequest(Buffer.from(body), undefined),
        invalid(/^malformed request: the JSON body must be an object$/));
    }
  });

  test('id, inputs and outputs fields', () => {
    const req = decodeJson({ id: 'abc', inputs: [], outputs: [{ name: 'y' }] });
    assert.equal(req.id, 'abc');
    assert.equal(decodeJson({ inputs: [] }).id, '');
    assert.throws(() => decodeJson({ id: 5, inputs: [] }), invalid(/^"id" must be a string$/));
    assert.throws(() => decodeJson({}), invalid(/^"inputs" must be an array$/));
    assert.throws(() => decodeJson({ inputs: {} }), invalid(/^"inputs" must be an array$/));
    assert.throws(() => decodeJson({ inputs: [3] }), invalid(/^inputs\[0\] must be an object$/));
    assert.throws(() => decodeJson({ inputs: [], outputs: 'y' }), invalid(/^"outputs" must be an array$/));
    assert.throws(() => decodeJson({ inputs: [], outputs: [{}] }), invalid(/^outputs\[0\]: "name" must be a non-empty string$/));
  });

  test('input names and datatypes', () => {
    assert.throws(() => decodeJson({ inputs: [{ datatype: 'FP32', shape: [0], data: [] }] }),
      invalid(/^inputs\[0\]: "name" must be a non-empty string$/));
    assert.throws(() => decodeOne({ datatype: 'FLOAT', shape: [0], data: [] }), invalid(/^input 'x': unknown datatype "FLOAT"$/));
    assert.throws(() => decodeOne({ shape: [0], data: [] }), invalid(/^input 'x': unknown datatype undefined$/));
    assert.throws(() => decodeJson({ inputs: [{ name: 'a', datatype: 'UINT8', shape: [0], data: [] },
      { name: 'a', datatype: 'UINT8', shape: [0], data: [] }] }), invalid(/^input 'a': duplicate input name$/));
    assert.throws(() => decodeOne({ datatype: 'UINT8', shape: [1] }),
      invalid(/^input 'x': no data \(neither "data" nor binary_data_size\)$/));
  });

  test('requested outputs: binary_data flags, duplicates, unsupported extensions', () => {
    const req = decodeJson({ inputs: [], outputs: [{ name: 'a', parameters: { binary_data: true } },
      { name: 'b', parameters: { binary_data: false } }, { name: 'c' }] });
    assert.deepEqual(req.outputs, [{ name: 'a', binary: true }, { name: 'b', binary: false }, { name: 'c', binary: undefined }]);
    assert.throws(() => decodeJson({ inputs: [], outputs: [{ name: 'a' }, { name: 'a' }] }), invalid(/^output 'a': requested twice$/));
    assert.throws(() => decodeJson({ inputs: [], outputs: [{ name: 'a', parameters: { binary_data: 1 } }] }),
      invalid(/^output 'a': parameter 'binary_data' must be a boolean, got 1$/));
    assert.throws(() => decodeJson({ inputs: [], outputs: [{ name: 'a', parameters: { classification: 2 } }] }),
      failsWith('UNIMPLEMENTED', /classification/));
    assert.throws(() => decodeJson({ inputs: [{ name: 'x', datatype: 'UINT8', shape: [1],
      parameters: { shared_memory_region: 'r' } }] }), failsWith('UNIMPLEMENTED', /shared-memory/));
  });

  test('priority, timeout and binary_data_output', () => {
    const req = decodeJson({ inputs: [], parameters: { priority: 1, timeout: 250, binary_data_output: true, custom: 'x' } });
    assert.deepEqual(req.options, { priority: 1, timeoutMicroseconds: 250 });
    assert.equal(req.binaryOutputDefault, true);
    assert.equal(decodeJson({ inputs: [] }).binaryOutputDefault, false);
  });

  test('bad parameter types and values', () => {
    const cases: [unknown, RegExp][] = [
      [{ priority: 1.5 }, /^request parameter 'priority' must be a non-negative integer .*got 1.5$/],
      [{ priority: '1' }, /'priority' .*got "1"$/],
      [{ priority: -2 }, /'priority' .*got -2$/],
      [{ priority: 2 ** 53 }, /'priority' .*got 9007199254740992$/],
      [{ timeout: true }, /'timeout' .*got true$/],
      [{ binary_data_output: 'yes' }, /'binary_data_output' must be a boolean, got "yes"$/],
      [{ triton_x: 1 }, /^request parameter 'triton_x': keys starting with 'triton_' are reserved$/],
      [{ custom: { nested: 1 } }, /^request parameter 'custom': value \{"nested":1\} is not a boolean, number or string$/],
      [{ custom: null }, /value null is not a boolean/],
      [[1], /^request parameters must be an object$/],
      [null, /^request parameters must be an object$/],
    ];
    for (const [parameters, message] of cases) {
      assert.throws(() => decodeJson({ inputs: [], parameters }), invalid(message));
    }
    assert.throws(() => decodeJson({ inputs: [], parameters: { sequence_id: 3 } }), failsWith('UNIMPLEMENTED', /sequence batching/));
    assert.deepEqual(decodeJson({ inputs: [], parameters: { sequence_id: 0, sequence_start: false } }).options,
      { priority: undefined, timeoutMicroseconds: undefined });
  });
});

describe('encodeHttpInferResponse', () => {
  const outputs = new Map<string, Tensor>([
    ['f', { datatype: 'FP32', shape: [2, 2], data: new Float32Array([0.5, -1, Number.NaN, Infinity]) }],
    ['i64', { datatype: 'INT64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 5n, 2n ** 53n + 1n]) }],
    ['u64', { datatype: 'UINT64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) }],
    ['b', { datatype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ['s', { datatype: 'BYTES', shape: [3], data: [Buffer.from(''), Buffer.from('héllo'), Buffer.from('"q"')] }],
    ['u8', { datatype: 'UINT8', shape: [0, 2], data: new Uint8Array(0) }],
    ['h', { datatype: 'FP16', shape: [2], data: new Uint16Array([0x3c00, 0x4000]) }],
  ]);
  const result: InferResult = { model: 'm', version: '1', id: 'r1', outputs };

  /** Splits a response body into its JSON and its binary section. */
  function parse(encoded: { body: Buffer; headerLength: number | undefined }): [Record<string, unknown>, Buffer] {
    const n = encoded.headerLength ?? encoded.body.length;
    return [JSON.parse(encoded.body.toString('utf8', 0, n)) as Record<string, unknown>, encoded.body.subarray(n)];
  }
  type Out = { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size: number } };

  test('JSON outputs: flat data, exact 64-bit integers, BOOL, BYTES strings; FP16 forced binary', () => {
    const encoded = encodeHttpInferResponse(result, [], false);
    const [json, binary] = parse(encoded);
    assert.equal(encoded.contentType, 'application/octet-stream'); // the FP16 output is binary
    assert.equal(json['model_name'], 'm');
    assert.equal(json['model_version'], '1');
    assert.equal(json['id'], 'r1');
    const outs = json['outputs'] as Out[];
    assert.deepEqual(outs.map((o) => o.name), [...outputs.keys()]);
    assert.deepEqual(outs[0], { name: 'f', datatype: 'FP32', shape: [2, 2], data: [0.5, -1, null, null] });
    const text = encoded.body.toString('utf8', 0, encoded.headerLength);
    assert.match(text, /"data":\[-9223372036854775808,5,9007199254740993\]/);
    assert.match(text, /"data":\[18446744073709551615\]/);
    assert.deepEqual(outs[3]?.data, [true, false, true]);
    assert.deepEqual(outs[4]?.data, ['', 'héllo', '"q"']);
    assert.deepEqual(outs[5], { name: 'u8', datatype: 'UINT8', shape: [0, 2], data: [] });
    assert.deepEqual(outs[6], { name: 'h', datatype: 'FP16', shape: [2], parameters: { binary_data_size: 4 } });
    assert.deepEqual([...binary], [0x00, 0x3c, 0x00, 0x40]);
  });

  test('all JSON: no header length, application/json', () => {
    const only = new Map([...outputs].filter(([n]) => n !== 'h'));
    const encoded = encodeHttpInferResponse({ ...result, id: undefined, outputs: only }, [], false);
    assert.equal(encoded.headerLength, undefined);
    assert.equal(encoded.contentType, 'application/json');
    const [json] = parse(encoded);
    assert.equal('id' in json, false, 'no id when the request had none');
  });

  test('binary outputs follow the JSON in output order with binary_data_size', () => {
    const encoded = encodeHttpInferResponse(result, [{ name: 'b', binary: false }, { name: 'u8', binary: undefined }], true);
    const [json, binary] = parse(encoded);
    assert.equal(encoded.headerLength, encoded.body.length - binary.length);
    const outs = json['outputs'] as Out[];
    const sizes = outs.map((o) => o.parameters?.binary_data_size);
    assert.deepEqual(sizes, [16, 24, 8, undefined, 4 * 3 + 0 + 6 + 3, 0, 4]);
    assert.deepEqual(outs[3]?.data, [true, false, true]);
    let offset = 0;
    const chunks = sizes.map((n) => { const c = binary.subarray(offset, offset + (n ?? 0)); offset += n ?? 0; return c; });
    assert.equal(offset, binary.length);
    assert.deepEqual(new Float32Array(Uint8Array.from(chunks[0] ?? []).buffer), outputs.get('f')?.data);
    assert.deepEqual(new BigInt64Array(Uint8Array.from(chunks[1] ?? []).buffer), outputs.get('i64')?.data);
    assert.deepEqual(chunks[4], joinBytesElements(outputs.get('s')?.data as Uint8Array[]));
  });

  test('per-output binary_data wins over the default', () => {
    const encoded = encodeHttpInferResponse(result, [{ name: 'f', binary: true }], false);
    const outs = parse(encoded)[0]['outputs'] as Out[];
    assert.deepEqual(outs.filter((o) => o.parameters !== undefined).map((o) => o.name), ['f', 'h']);
  });

  test('a response decodes as a request (binary round trip)', () => {
    const encoded = encodeHttpInferResponse(result, [], true);
    const [json, binary] = parse(encoded);
    const inputs = (json['outputs'] as Out[]).map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, parameters: o.parameters }));
    const header = jsonBody({ inputs });
    const req = decodeHttpInferRequest(Buffer.concat([header, binary]), String(header.length));
    for (const [name, t] of outputs) {
      if (t.datatype === 'BYTES') assert.deepEqual(asStrings(req.inputs.get(name)), asStrings(t));
      else assert.deepEqual(req.inputs.get(name)?.data, t.data, name);
    }
  });

  test('outputs whose data does not match the shape are INTERNAL', () => {
    const bad = new Map<string, Tensor>([['f', { datatype: 'FP32', shape: [3], data: new Float32Array(2) }]]);
    for (const binary of [false, true]) {
      assert.throws(() => encodeHttpInferResponse({ ...result, outputs: bad }, [], binary), failsWith('INTERNAL', /^output 'f'/));
    }
  });
});
