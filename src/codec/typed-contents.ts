import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { internal, invalidArgument } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';
import { isLongLike, type LongLike } from './int64';
import { checkAllocation, formatShape } from './shape';

/**
 * KServe v2 InferTensorContents (typed, non-raw tensor data) → Tensor. The field for each
 * datatype is fixed by the protocol; FP16/BF16 have none and must travel as raw bytes.
 */

/** InferTensorContents as protobufjs decodes it: every repeated field an array, 64-bit as Long. */
export interface TensorContents {
  readonly bool_contents?: readonly boolean[];
  readonly int_contents?: readonly number[];
  readonly int64_contents?: readonly (LongLike | number)[];
  readonly uint_contents?: readonly number[];
  readonly uint64_contents?: readonly (LongLike | number)[];
  readonly fp32_contents?: readonly number[];
  readonly fp64_contents?: readonly number[];
  readonly bytes_contents?: readonly Uint8Array[];
}
type ContentsField = keyof TensorContents;

const FIELDS: readonly ContentsField[] = ['bool_contents', 'int_contents', 'int64_contents',
  'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents'];

const FIELD_FOR: Readonly<Record<DataType, ContentsField | undefined>> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents', FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
  FP16: undefined, BF16: undefined,
};

/**
 * Inclusive value ranges of the integer datatypes up to 32 bits (they fit a double exactly), for
 * values carried in a wider field (int32 / uint32 contents, JSON numbers). Out-of-range values are
 * rejected rather than truncated to their low bytes: a client that sends 300 as INT8 has a bug,
 * and silently sending 44 to the model would hide it.
 */
export const INT_RANGE: Partial<Readonly<Record<DataType, readonly [number, number]>>> = {
  INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-(2 ** 31), 2 ** 31 - 1],
  UINT8: [0, 255], UINT16: [0, 65535], UINT32: [0, 2 ** 32 - 1],
};

const fieldLength = (c: TensorContents, f: ContentsField): number => c[f]?.length ?? 0;

/** Whether any typed field holds a value (an empty contents message means "no typed data"). */
export function hasTypedContents(contents: TensorContents | null | undefined): boolean {
  return contents != null && FIELDS.some((f) => fieldLength(contents, f) > 0);
}

/** Typed contents → Tensor. `count` is product(shape) (from checkShape). */
export function tensorFromContents(datatype: DataType, shape: number[], count: number,
  contents: TensorContents, what: string): Tensor {
  const field = FIELD_FOR[datatype];
  if (field === undefined) {
    throw invalidArgument(`${what}: ${datatype} is raw only (InferTensorContents has no field for ` +
      'it); send it in raw_input_contents');
  }
  for (const f of FIELDS) {
    if (f !== field && fieldLength(contents, f) > 0) {
      throw invalidArgument(`${what}: ${datatype} data belongs in ${field}, but ${f} has ` +
        `${fieldLength(contents, f)} values`);
    }
  }
  const n = fieldLength(contents, field);
  if (n !== count) {
    throw invalidArgument(`${what}: ${field} has ${n} values, but shape ${formatShape(shape)} ` +
      `needs ${count}`);
  }
  if (datatype === 'BYTES') return { datatype, shape, data: contents.bytes_contents ?? [] };
  checkAllocation(count, dataTypeInfo(datatype).size, what);
  return { datatype, shape, data: numericData(datatype, field, count, contents, what) };
}

function numericData(datatype: DataType, field: ContentsField, count: number, c: TensorContents,
  what: string): NumericArray {
  switch (datatype) {
    case 'BOOL': {
      const out = new Uint8Array(count);
      const values = c.bool_contents ?? [];
      for (let i = 0; i < count; i++) out[i] = values[i] === true ? 1 : 0;
      return out;
    }
    case 'FP32': return new Float32Array(c.fp32_contents ?? []);
    case 'FP64': return new Float64Array(c.fp64_contents ?? []);
    case 'INT64': return int64Data(false, c.int64_contents ?? [], what);
    case 'UINT64': return int64Data(true, c.uint64_contents ?? [], what);
    default: // INT8/16/32 in int_contents, UINT8/16/32 in uint_contents
      return narrowIntData(datatype, (c[field] ?? []) as readonly number[], what);
  }
}

function narrowIntData(datatype: DataType, values: readonly number[], what: string): NumericArray {
  const range = INT_RANGE[datatype];
  const Ctor = dataTypeInfo(datatype).array;
  if (range === undefined || Ctor === undefined) throw internal(`no integer range for ${datatype}`);
  const [lo, hi] = range;
  const out = new Ctor(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw invalidArgument(`${what}: value ${v} at index ${i} is out of range for ${datatype} ` +
        `[${lo}, ${hi}]`);
    }
    out[i] = v;
  }
  return out;
}

/** int64/uint64 values → BigInt64Array/BigUint64Array, writing Long halves without making bigints. */
function int64Data(unsigned: boolean, values: readonly (LongLike | number)[], what: string):
  BigInt64Array | BigUint64Array {
  const out = unsigned ? new BigUint64Array(values.length) : new BigInt64Array(values.length);
  const words = new Int32Array(out.buffer); // little-endian host (see raw.ts): low word first
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (isLongLike(v)) {
      words[2 * i] = v.low;
      words[2 * i + 1] = v.high;
    } else if (Number.isSafeInteger(v) && (!unsigned || v >= 0)) {
      out[i] = BigInt(v);
    } else {
      throw invalidArgument(`${what}: value ${v} at index ${i} is not a valid ` +
        `${unsigned ? 'UINT64' : 'INT64'}`);
    }
  }
  return out;
}
