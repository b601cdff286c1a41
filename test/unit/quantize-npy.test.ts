import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { readNpy } from '../../src/quantize/npy';
import { SluiceError } from '../../src/runtime/status';

/** A .npy file as numpy.save writes it: header padded with spaces to a 64-byte boundary, then '\n'. */
function npyBytes(descr: string, shape: readonly number[], data: Uint8Array,
  opts: { major?: number; fortran?: boolean; header?: string } = {}): Uint8Array {
  const major = opts.major ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = opts.header ?? `{'descr': '${descr}', 'fortran_order': ${opts.fortran === true ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const prefix = major === 1 ? 10 : 12;
  const encoded = (s: string): Uint8Array => new TextEncoder().encode(s);
  while ((prefix + encoded(header).length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const h = encoded(header);
  const out = new Uint8Array(prefix + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, h.length, true);
  else view.setUint32(8, h.length, true);
  out.set(h, prefix);
  out.set(data, prefix + h.length);
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const rejects = (f: () => unknown, code: string, re: RegExp): void =>
  assert.throws(f, (e: unknown) => e instanceof SluiceError && e.code === code && re.test(e.message));

describe('readNpy', () => {
  it('reads every supported element type, in C order', () => {
    const cases: [string, string, ArrayBufferView & ArrayLike<unknown>][] = [
      ['<f4', 'FP32', Float32Array.of(1.5, -2, 3.25, 0, 1e-8, -7)],
      ['<f8', 'FP64', Float64Array.of(1.5, -2, Math.PI, 0, 1e300, -7)],
      ['<f2', 'FP16', Uint16Array.of(0x3c00, 0xc000, 0, 1, 2, 3)],
      ['|i1', 'INT8', Int8Array.of(-128, 127, 0, 1, -1, 5)],
      ['<i2', 'INT16', Int16Array.of(-32768, 32767, 0, 1, -1, 5)],
      ['<i4', 'INT32', Int32Array.of(-(2 ** 31), 2 ** 31 - 1, 0, 1, -1, 5)],
      ['<i8', 'INT64', BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, 1n, -1n, 5n)],
      ['|u1', 'UINT8', Uint8Array.of(0, 255, 1, 2, 3, 4)],
      ['<u2', 'UINT16', Uint16Array.of(0, 65535, 1, 2, 3, 4)],
      ['<u4', 'UINT32', Uint32Array.of(0, 2 ** 32 - 1, 1, 2, 3, 4)],
      ['<u8', 'UINT64', BigUint64Array.of(0n, 2n ** 64n - 1n, 1n, 2n, 3n, 4n)],
      ['|b1', 'BOOL', Uint8Array.of(0, 1, 1, 0, 0, 1)],
    ];
    for (const [descr, datatype, data] of cases) {
      const a = readNpy(npyBytes(descr, [2, 3], bytesOf(data)), descr);
      assert.equal(a.datatype, datatype, descr);
      assert.deepEqual(a.shape, [2, 3], descr);
      assert.deepEqual(Array.from(a.data as ArrayLike<unknown>), Array.from(data), descr);
    }
  });

  it('reads header versions 1.0, 2.0 and 3.0, and 0-d and 1-d shapes', () => {
    const data = bytesOf(Float32Array.of(1, 2, 3));
    for (const major of [1, 2, 3]) {
      const a = readNpy(npyBytes('<f4', [3], data, { major }));
      assert.deepEqual([a.shape, Array.from(a.data as Float32Array)], [[3], [1, 2, 3]], `v${major}`);
    }
    const scalar = readNpy(npyBytes('<f8', [], bytesOf(Float64Array.of(42))));
    assert.deepEqual([scalar.shape, Array.from(scalar.data as Float64Array)], [[], [42]]);
    const empty = readNpy(npyBytes('<f4', [0, 4], new Uint8Array(0)));
    assert.deepEqual([empty.shape, empty.data.length], [[0, 4], 0]);
  });

  it('reads files written by numpy itself (np.lib.format.write_array, versions 1.0, 2.0, 3.0)', () => {
    const b64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));
    // np.arange(6, dtype=np.float32).reshape(2, 3) / 4, version (1, 0)
    const f4 = readNpy(b64('k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAg' +
      'ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAA' +
      'oD8='));
    assert.deepEqual([f4.datatype, f4.shape, Array.from(f4.data as Float32Array)], ['FP32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]]);
    // np.array([[-1, 2], [3, -4]], dtype=np.int64), version (2, 0)
    const i8 = readNpy(b64('k05VTVBZAgB0AAAAeydkZXNjcic6ICc8aTgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAg' +
      'ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAr//////////wIAAAAAAAAAAwAAAAAA' +
      'AAD8/////////w=='));
    assert.deepEqual([i8.datatype, i8.shape, Array.from(i8.data as BigInt64Array)], ['INT64', [2, 2], [-1n, 2n, 3n, -4n]]);
    // np.array([True, False, True]), version (3, 0)
    const b1 = readNpy(b64('k05VTVBZAwB0AAAAeydkZXNjcic6ICd8YjEnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAg' +
      'ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAAE='));
    assert.deepEqual([b1.datatype, b1.shape, Array.from(b1.data as Uint8Array)], ['BOOL', [3], [1, 0, 1]]);
  });

  it('copies the elements into an aligned buffer of their own', () => {
    const file = npyBytes('<f8', [2], bytesOf(Float64Array.of(1, 2)));
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1); // an odd byte offset: a view on it could not be a Float64Array
    const a = readNpy(shifted.subarray(1));
    assert.deepEqual(Array.from(a.data as Float64Array), [1, 2]);
    shifted.fill(0);
    assert.deepEqual(Array.from(a.data as Float64Array), [1, 2]);
  });

  it('refuses Fortran order, object, string, structured and big-endian arrays with a reason', () => {
    const f4 = bytesOf(Float32Array.of(1, 2, 3, 4));
    rejects(() => readNpy(npyBytes('<f4', [2, 2], f4, { fortran: true }), 'f.npy'), 'UNIMPLEMENTED', /f\.npy: Fortran-order/);
    rejects(() => readNpy(npyBytes('|O', [1], new Uint8Array(8))), 'UNIMPLEMENTED', /object arrays/);
    rejects(() => readNpy(npyBytes('<U3', [1], new Uint8Array(12))), 'UNIMPLEMENTED', /string\/void arrays/);
    rejects(() => readNpy(npyBytes('', [1], new Uint8Array(8), {
      header: "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }" })), 'UNIMPLEMENTED', /structured/);
    rejects(() => readNpy(npyBytes('>f4', [1], new Uint8Array(4))), 'UNIMPLEMENTED', /big-endian/);
    rejects(() => readNpy(npyBytes('<c8', [1], new Uint8Array(8))), 'UNIMPLEMENTED', /'<c8' is not supported/);
    // A big-endian marker on single-byte elements means nothing.
    assert.equal(readNpy(npyBytes('>u1', [1], Uint8Array.of(7))).data[0], 7);
  });

  it('refuses bytes that are not a well-formed .npy', () => {
    rejects(() => readNpy(new TextEncoder().encode('not numpy at all'), 'x.npy'), 'INVALID_ARGUMENT', /x\.npy: not a \.npy file/);
    rejects(() => readNpy(npyBytes('<f4', [4], bytesOf(Float32Array.of(1, 2, 3)))), 'INVALID_ARGUMENT', /holds 12 data bytes.*needs 16/);
    const v9 = npyBytes('<f4', [1], new Uint8Array(4));
    v9[6] = 9;
    rejects(() => readNpy(v9), 'INVALID_ARGUMENT', /format version 9\.0/);
    rejects(() => readNpy(npyBytes('', [1], new Uint8Array(4), { header: "{'fortran_order': False, 'shape': (1,), }" })),
      'INVALID_ARGUMENT', /no 'descr'/);
    rejects(() => readNpy(npyBytes('', [1], new Uint8Array(4), { header: "{'descr': '<f4', 'fortran_order': False, }" })),
      'INVALID_ARGUMENT', /no 'shape'/);
    const truncated = npyBytes('<f4', [1], new Uint8Array(4)).subarray(0, 40);
    rejects(() => readNpy(truncated), 'INVALID_ARGUMENT', /truncated header/);
  });
});
