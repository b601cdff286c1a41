import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { integerText, jsonToBigInt64, MAX_DECIMAL_CHARS, toSafeInteger, type LongLike } from '../../src/codec/int64';
import {
  checkTensorData, joinBytesElements, splitBytesElements, tensorFromRaw, tensorToRaw,
} from '../../src/codec/raw';
import { checkAllocation, checkShape, MAX_TENSOR_BYTES } from '../../src/codec/shape';
import type { DataType, NumericArray } from '../../src/runtime/datatypes';
import type { ErrorCode } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import { NUMERIC } from '../helpers/sample-tensors';

const invalid = (message: RegExp): object => ({ name: 'SluiceError', code: 'INVALID_ARGUMENT', message });
const failsWith = (code: ErrorCode, message: RegExp): object => ({ name: 'SluiceError', code, message });

/** A Long as protobufjs would hand it over (two's complement halves). */
function long(v: bigint, unsigned = false): LongLike {
  const bits = BigInt.asUintN(64, v);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0, unsigned };
}


const bytesOf = (a: NumericArray): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Copies `bytes` to a fresh buffer at `offset` bytes past an 8-aligned start. */
function placed(bytes: Uint8Array, offset: number): Uint8Array {
  const backing = new Uint8Array(new ArrayBuffer(bytes.length + offset));
  backing.set(bytes, offset);
  return backing.subarray(offset);
}

describe('checkShape', () => {
  test('accepts numbers, Longs, bigints and decimal strings', () => {
    assert.deepEqual(checkShape([2, long(3n), 4n, '5'], "input 'x'"), { shape: [2, 3, 4, 5], count: 120 });
    assert.deepEqual(checkShape([], "input 'x'"), { shape: [], count: 1 });
    assert.deepEqual(checkShape([0, 7], "input 'x'"), { shape: [0, 7], count: 0 });
    assert.ok(Object.is(checkShape([-0], "input 'x'").shape[0], 0), '-0 becomes 0');
    assert.deepEqual(checkShape([long(2n ** 53n - 1n)], "input 'x'"),
      { shape: [Number.MAX_SAFE_INTEGER], count: Number.MAX_SAFE_INTEGER });
  });

  test('rejects negative dims, naming the input, the dim and the shape', () => {
    assert.throws(() => checkShape([1, -3], "input 'x'"),
      invalid(/^input 'x': negative dimension -3 in shape \[1,-3\]$/));
    assert.throws(() => checkShape([long(-1n)], "input 'x'"), invalid(/negative dimension -1/));
    assert.throws(() => checkShape([-2n], "input 'x'"), invalid(/negative dimension -2/));
  });

  test('rejects non-integer dims', () => {
    assert.throws(() => checkShape([2.5], "input 'x'"), invalid(/dimension 2\.5 in shape \[2\.5\] is not an integer/));
    for (const bad of [Number.NaN, Infinity, '3x', '', null, true, {}, [2]]) {
      assert.throws(() => checkShape([1, bad], "input 'x'"), invalid(/^input 'x': dimension .* is not an integer$/));
    }
    assert.throws(() => checkShape([1, [2]], "input 'x'"), invalid(/dimension \[2\] in shape \[1,\[2\]\]/));
    assert.equal(checkShape(['0'.repeat(MAX_DECIMAL_CHARS - 1) + '3'], "input 'x'").count, 3);
    assert.throws(() => checkShape(['0'.repeat(MAX_DECIMAL_CHARS) + '3'], "input 'x'"),
      invalid(/is decimal text longer than 40 characters$/));
  });

  test('rejects dims beyond 2^53 - 1 without rounding them', () => {
    assert.throws(() => checkShape([long(2n ** 60n + 1n)], "input 'x'"),
      invalid(/dimension 1152921504606846977 .* out of range/));
    assert.throws(() => checkShape([2 ** 53], "input 'x'"), invalid(/out of range/));
    assert.throws(() => checkShape(['9007199254740993'], "input 'x'"), invalid(/out of range/));
    assert.throws(() => checkShape([long(2n ** 64n - 1n, true)], "input 'x'"), invalid(/out of range/));
  });

  test('detects element-count overflow with a clear error, never a RangeError', () => {
    assert.throws(() => checkShape([2 ** 40, 2 ** 40], "input 'x'"),
      invalid(/^input 'x': shape \[1099511627776,1099511627776\] has too many elements/));
    assert.throws(() => checkShape([2 ** 27, 2 ** 27], "input 'x'"), invalid(/too many elements/));
    // Empty, but the trailing row size would still be unsafe for stride arithmetic.
    assert.throws(() => checkShape([0, 2 ** 30, 2 ** 30], "input 'x'"), invalid(/too many elements/));
  });

  test('rejects a shape that is not an array', () => {
    for (const bad of [undefined, null, 3, '[1,2]', { 0: 1 }]) {
      assert.throws(() => checkShape(bad, "input 'x'"), invalid(/^input 'x': shape must be an array/));
    }
  });

  test('checkAllocation caps codec-made tensors', () => {
    assert.equal(checkAllocation(10, 8, "input 'x'"), 80);
    assert.equal(checkAllocation(MAX_TENSOR_BYTES, 1, "input 'x'"), MAX_TENSOR_BYTES);
    assert.throws(() => checkAllocation(2 ** 29, 8, "input 'x'"), invalid(/4294967296 bytes, more than the 2147483647-byte limit/));
  });
});

describe('int64 helpers', () => {
  test('toSafeInteger converts exactly or refuses', () => {
    assert.equal(toSafeInteger(long(-5n)), -5);
    assert.equal(toSafeInteger(long(2n ** 53n - 1n)), Number.MAX_SAFE_INTEGER);
    assert.equal(toSafeInteger(long(-(2n ** 53n) + 1n)), Number.MIN_SAFE_INTEGER);
    assert.equal(toSafeInteger(long(2n ** 53n)), undefined);
    assert.equal(toSafeInteger(long(2n ** 32n + 7n, true)), 2 ** 32 + 7);
    assert.equal(toSafeInteger(long(2n ** 64n - 1n, true)), undefined); // not -1
    assert.equal(toSafeInteger(2n ** 53n + 1n), undefined);
    assert.equal(toSafeInteger('-12'), -12);
    assert.equal(toSafeInteger('1e3'), undefined);
    assert.equal(toSafeInteger(1.5), undefined);
    assert.equal(integerText(long(2n ** 64n - 1n, true)), '18446744073709551615');
    assert.equal(integerText(long(-(2n ** 63n))), '-9223372036854775808');
  });

  test('jsonToBigInt64 keeps 64-bit ranges', () => {
    assert.equal(jsonToBigInt64('18446744073709551615', true), 2n ** 64n - 1n);
    assert.equal(jsonToBigInt64('18446744073709551616', true), undefined);
    assert.equal(jsonToBigInt64('-1', true), undefined);
    assert.equal(jsonToBigInt64('-9223372036854775808', false), -(2n ** 63n));
    assert.equal(jsonToBigInt64('9223372036854775808', false), undefined);
    assert.equal(jsonToBigInt64(2 ** 53, false), undefined); // JSON.parse already rounded it
    assert.equal(jsonToBigInt64(-42, false), -42n);
    assert.equal(jsonToBigInt64(1.5, false), undefined);
    // Leading zeros within MAX_DECIMAL_CHARS parse; longer text is refused unparsed (out of range
    // either way for an int64, but BigInt() of a million digits stalled the event loop).
    assert.equal(jsonToBigInt64(`-${'0'.repeat(MAX_DECIMAL_CHARS - 3)}42`, false), -42n);
    assert.equal(jsonToBigInt64(`${'0'.repeat(MAX_DECIMAL_CHARS)}1`, false), undefined);
    assert.equal(jsonToBigInt64('9'.repeat(1_000_000), true), undefined);
    assert.equal(toSafeInteger(`${'0'.repeat(MAX_DECIMAL_CHARS - 1)}7`), 7);
    assert.equal(toSafeInteger('9'.repeat(1_000_000)), undefined);
  });
});

describe('raw numeric tensors', () => {
  for (const [dt, data] of Object.entries(NUMERIC) as [DataType, NumericArray][]) {
    test(`${dt}: raw bytes → tensor → raw bytes, aligned and unaligned`, () => {
      const wire = bytesOf(data);
      for (const offset of [0, 1, 2, 3, 4, 5, 6, 7]) {
        const src = placed(wire, offset);
        const t = tensorFromRaw(dt, [2, 3], 6, src, "input 'x'");
        assert.equal(t.datatype, dt);
        assert.deepEqual(t.shape, [2, 3]);
        assert.deepEqual(t.data, data);
        const aligned = src.byteOffset % data.BYTES_PER_ELEMENT === 0;
        assert.equal((t.data as NumericArray).buffer === src.buffer, aligned, 'zero-copy iff aligned');
        assert.deepEqual(tensorToRaw(t, "output 'y'"), wire);
      }
    });

    test(`${dt}: zero-element tensor, at any offset`, () => {
      for (const offset of [0, 1, 3]) {
        const t = tensorFromRaw(dt, [0, 4], 0, placed(new Uint8Array(0), offset), "input 'x'");
        assert.equal(t.data.length, 0);
        assert.equal(tensorToRaw(t, "output 'y'").length, 0);
      }
    });
  }

  test('tensorToRaw returns a view of numeric data, not a copy', () => {
    const data = new Float32Array([1, 2, 3]);
    const raw = tensorToRaw({ datatype: 'FP32', shape: [3], data }, "output 'y'");
    assert.equal(raw.buffer, data.buffer);
  });

  test('byte size must equal count × element size; the message gives both numbers', () => {
    assert.throws(() => tensorFromRaw('FP32', [2, 3], 6, new Uint8Array(20), "input 'x'"),
      invalid(/^input 'x': raw contents have 20 bytes, but FP32 shape \[2,3\] needs 24 \(6 elements × 4 bytes\)$/));
    assert.throws(() => tensorFromRaw('INT64', [1], 1, new Uint8Array(16), "input 'x'"), invalid(/16 bytes.*needs 8/));
    assert.throws(() => tensorFromRaw('UINT8', [0], 0, new Uint8Array(1), "input 'x'"), invalid(/1 bytes.*needs 0/));
  });

  test('a huge shape with a small buffer is a size error, not an allocation', () => {
    const { shape, count } = checkShape([2 ** 26, 2 ** 26], "input 'x'");
    assert.throws(() => tensorFromRaw('FP64', shape, count, new Uint8Array(8), "input 'x'"),
      invalid(/8 bytes, but FP64 shape \[67108864,67108864\] needs 36028797018963968 \(4503599627370496 elements × 8 bytes\)$/));
  });

  test('BOOL bytes must be 0 or 1', () => {
    assert.throws(() => tensorFromRaw('BOOL', [3], 3, new Uint8Array([0, 1, 2]), "input 'x'"),
      invalid(/^input 'x': BOOL element 2 is 2; raw BOOL bytes must be 0 or 1$/));
  });
});

describe('raw BYTES tensors', () => {
  const prefixed = (...parts: (string | number[])[]): Buffer => joinBytesElements(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Uint8Array.from(p))));

  test('empty strings, binary bytes and multi-byte UTF-8 round-trip', () => {
    const elements = [Buffer.from(''), Buffer.from([0, 255, 10, 0]), Buffer.from('héllo ☃'), Buffer.from('')];
    const wire = joinBytesElements(elements);
    assert.equal(wire.length, 4 * 4 + 0 + 4 + Buffer.byteLength('héllo ☃'));
    assert.equal(wire.readUInt32LE(0), 0);
    assert.equal(wire.readUInt32LE(4), 4);
    for (const offset of [0, 1, 3]) {
      const t = tensorFromRaw('BYTES', [2, 2], 4, placed(wire, offset), "input 's'");
      assert.deepEqual((t.data as Uint8Array[]).map((e) => Buffer.from(e)), elements);
      assert.deepEqual(tensorToRaw(t, "output 's'"), wire);
    }
  });

  test('elements are views into the request bytes', () => {
    const wire = prefixed('abc', 'de');
    const [a] = splitBytesElements(wire, 2, "input 's'");
    assert.equal(a?.buffer, wire.buffer);
  });

  test('zero elements', () => {
    assert.deepEqual(splitBytesElements(new Uint8Array(0), 0, "input 's'"), []);
    assert.equal(joinBytesElements([]).length, 0);
  });

  test('a length prefix running past the end names the element and offset', () => {
    const wire = Buffer.concat([prefixed('ok'), Buffer.from([100, 0, 0, 0, 1, 2])]);
    assert.throws(() => splitBytesElements(wire, 2, "input 's'"),
      invalid(/^input 's': BYTES element 1 at offset 6: length prefix 100 runs past the end of the 12-byte contents$/));
    // 0xffffffff must not wrap to -1
    assert.throws(() => splitBytesElements(Buffer.from([255, 255, 255, 255]), 1, "input 's'"),
      invalid(/length prefix 4294967295 runs past the end/));
  });

  test('a truncated length prefix', () => {
    const wire = Buffer.concat([prefixed('ok'), Buffer.from([1, 0])]);
    assert.throws(() => splitBytesElements(wire, 2, "input 's'"),
      invalid(/BYTES element 1 at offset 6: length prefix truncated \(2 of 4 bytes left\)/));
  });

  test('element count must match the shape', () => {
    assert.throws(() => splitBytesElements(prefixed('a', 'b', 'c'), 2, "input 's'"),
      invalid(/hold more than the 2 elements the shape needs \(5 extra bytes at offset 10\)/));
    assert.throws(() => splitBytesElements(prefixed('a'), 2, "input 's'"),
      invalid(/hold 1 elements, but the shape needs 2/));
    assert.throws(() => splitBytesElements(prefixed(''), 0, "input 's'"), invalid(/more than the 0 elements/));
  });
});

describe('outgoing tensor checks', () => {
  test('data that does not match datatype or shape is INTERNAL', () => {
    const bad: Tensor[] = [
      { datatype: 'FP32', shape: [2], data: new Float32Array(3) },
      { datatype: 'FP32', shape: [2], data: new Float64Array(2) },
      { datatype: 'BYTES', shape: [1], data: new Uint8Array(1) },
      { datatype: 'UINT8', shape: [1], data: [new Uint8Array(1)] },
    ];
    for (const t of bad) {
      assert.throws(() => checkTensorData(t, "output 'y'"), failsWith('INTERNAL', /^output 'y': /));
      assert.throws(() => tensorToRaw(t, "output 'y'"), failsWith('INTERNAL', /^output 'y': \w+ data (must be|holds)/));
    }
  });
});
