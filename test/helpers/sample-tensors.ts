import type { DataType, NumericArray } from '../../src/runtime/datatypes';

/** Six elements of every numeric datatype, extremes included. */
export const NUMERIC: Record<Exclude<DataType, 'BYTES'>, NumericArray> = {
  BOOL: new Uint8Array([1, 0, 1, 1, 0, 0]),
  UINT8: new Uint8Array([0, 1, 127, 128, 254, 255]),
  UINT16: new Uint16Array([0, 1, 300, 32768, 65534, 65535]),
  UINT32: new Uint32Array([0, 1, 70000, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]),
  UINT64: new BigUint64Array([0n, 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n]),
  INT8: new Int8Array([-128, -1, 0, 1, 100, 127]),
  INT16: new Int16Array([-32768, -1, 0, 1, 1000, 32767]),
  INT32: new Int32Array([-(2 ** 31), -1, 0, 1, 123456, 2 ** 31 - 1]),
  INT64: new BigInt64Array([-(2n ** 63n), -1n, 0n, 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]),
  FP16: new Uint16Array([0x0000, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0x7e00]),
  BF16: new Uint16Array([0x0000, 0x3f80, 0xbf80, 0x7f7f, 0x7f80, 0x7fc0]),
  FP32: new Float32Array([0, -0, 1.5, -3.25, 3.4028234663852886e38, Number.NaN]),
  FP64: new Float64Array([0, Number.MIN_VALUE, -1e300, Math.PI, Infinity, -Infinity]),
};
