import type { DataType, NumericArray } from '../runtime/datatypes';
import { dataTypeInfo } from '../runtime/datatypes';
import { invalidArgument, unimplemented } from '../runtime/status';

/**
 * Reads NumPy .npy files (format versions 1.0, 2.0 and 3.0): a magic string, a Python-dict
 * header ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) padded with spaces, then
 * the elements. Only what a C-order numeric array needs is supported: little-endian (or
 * single-byte) bool/int/uint/float elements. Fortran order, big-endian, object, string and
 * structured arrays are refused with a message saying why.
 */

export interface NpyArray {
  readonly datatype: DataType;
  readonly shape: readonly number[];
  /** product(shape) elements, in a buffer of its own (aligned, safe to keep). */
  readonly data: NumericArray;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** NumPy kind + size (the descr without its byte-order character) → DataType. */
const DESCR: Readonly<Record<string, DataType>> = {
  b1: 'BOOL', u1: 'UINT8', u2: 'UINT16', u4: 'UINT32', u8: 'UINT64',
  i1: 'INT8', i2: 'INT16', i4: 'INT32', i8: 'INT64', f2: 'FP16', f4: 'FP32', f8: 'FP64',
};

export function readNpy(bytes: Uint8Array, source = '<bytes>'): NpyArray {
  const fail = (reason: string): Error => invalidArgument(`.npy file ${source}: ${reason}`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw fail('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6] as number;
  const minor = bytes[7] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw fail('truncated header');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw fail(`format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw fail('truncated header');
  // Versions 1 and 2 store the header in latin1, version 3 in UTF-8; the fields read are ASCII.
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (descrMatch === null) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) throw unimplemented(`.npy file ${source}: structured arrays are not supported`);
    throw fail("header has no 'descr'");
  }
  const descr = descrMatch[2] as string;
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (fortranMatch === null) throw fail("header has no 'fortran_order'");
  if (fortranMatch[1] === 'True') {
    throw unimplemented(`.npy file ${source}: Fortran-order arrays are not supported; save with np.ascontiguousarray(a)`);
  }
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (shapeMatch === null) throw fail("header has no 'shape'");
  const shape = (shapeMatch[1] as string).split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s.replace(/L$/, '')); // Python 2 wrote longs as 3L
    if (!/^[0-9]+L?$/.test(s) || !Number.isSafeInteger(n)) throw fail(`bad shape entry '${s}'`);
    return n;
  });

  const datatype = npyDataType(descr, source);
  const info = dataTypeInfo(datatype);
  const count = shape.reduce((a, b) => a * b, 1);
  const byteLength = count * info.size;
  if (bytes.length - dataStart < byteLength) {
    throw fail(`holds ${bytes.length - dataStart} data bytes, shape (${shape.join(', ')}) of ${descr} needs ${byteLength}`);
  }
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(dataStart, dataStart + byteLength));
  const Ctor = info.array;
  if (Ctor === undefined) throw fail(`no typed array for ${datatype}`);
  return { datatype, shape, data: new Ctor(copy.buffer, 0, count) };
}

function npyDataType(descr: string, source: string): DataType {
  const order = descr[0];
  const kindSize = descr.slice(1);
  if (order === '>' && kindSize.slice(1) !== '1') {
    throw unimplemented(`.npy file ${source}: big-endian data ('${descr}') is not supported; save with a.astype(a.dtype.newbyteorder('<'))`);
  }
  const dt = order === '<' || order === '|' || order === '=' || order === '>' ? DESCR[kindSize] : undefined;
  if (dt !== undefined) return dt;
  if (kindSize.startsWith('O')) throw unimplemented(`.npy file ${source}: object arrays ('${descr}') are not supported`);
  if (/^[SUV]/.test(kindSize)) throw unimplemented(`.npy file ${source}: string/void arrays ('${descr}') are not supported`);
  throw unimplemented(`.npy file ${source}: element type '${descr}' is not supported ` +
    '(bool, int8–64, uint8–64, float16/32/64 are)');
}
