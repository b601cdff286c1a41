/**
 * The one table of tensor datatypes. Every other mapping (KServe wire names, Triton config
 * enums, ONNX TensorProto element types, ONNX Runtime type names, element sizes, typed-array
 * constructors) is derived from it.
 */

export type DataType =
  | 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64'
  | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64' | 'BYTES' | 'BF16';

/** Typed array that holds a non-BYTES tensor's elements (FP16/BF16 as raw Uint16 bit patterns). */
export type NumericArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

type ArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericArray;
  new (length: number): NumericArray; readonly BYTES_PER_ELEMENT: number };

export interface DataTypeInfo {
  readonly name: DataType;
  /** Bytes per element on the wire; 0 for BYTES (variable, length-prefixed). */
  readonly size: number;
  /** Triton model_config DataType enum value (TYPE_*). */
  readonly configEnum: number;
  /** ONNX TensorProto.DataType value. */
  readonly onnx: number;
  /** onnxruntime-common Tensor type name. */
  readonly ort: string;
  /** Typed array for the elements; undefined for BYTES. */
  readonly array: ArrayCtor | undefined;
}

const T = (name: DataType, size: number, configEnum: number, onnx: number, ort: string,
  array: ArrayCtor | undefined): DataTypeInfo => ({ name, size, configEnum, onnx, ort, array });

export const DATATYPES: readonly DataTypeInfo[] = [
  T('BOOL', 1, 1, 9, 'bool', Uint8Array as unknown as ArrayCtor),
  T('UINT8', 1, 2, 2, 'uint8', Uint8Array as unknown as ArrayCtor),
  T('UINT16', 2, 3, 4, 'uint16', Uint16Array as unknown as ArrayCtor),
  T('UINT32', 4, 4, 12, 'uint32', Uint32Array as unknown as ArrayCtor),
  T('UINT64', 8, 5, 13, 'uint64', BigUint64Array as unknown as ArrayCtor),
  T('INT8', 1, 6, 3, 'int8', Int8Array as unknown as ArrayCtor),
  T('INT16', 2, 7, 5, 'int16', Int16Array as unknown as ArrayCtor),
  T('INT32', 4, 8, 6, 'int32', Int32Array as unknown as ArrayCtor),
  T('INT64', 8, 9, 7, 'int64', BigInt64Array as unknown as ArrayCtor),
  T('FP16', 2, 10, 10, 'float16', Uint16Array as unknown as ArrayCtor),
  T('FP32', 4, 11, 1, 'float32', Float32Array as unknown as ArrayCtor),
  T('FP64', 8, 12, 11, 'float64', Float64Array as unknown as ArrayCtor),
  T('BYTES', 0, 13, 8, 'string', undefined),
  T('BF16', 2, 14, 16, 'bfloat16', Uint16Array as unknown as ArrayCtor),
];

const byName = new Map<string, DataTypeInfo>(DATATYPES.map((d) => [d.name, d]));
const byOnnx = new Map<number, DataTypeInfo>(DATATYPES.map((d) => [d.onnx, d]));
const byOrt = new Map<string, DataTypeInfo>(DATATYPES.map((d) => [d.ort, d]));

export function isDataType(s: unknown): s is DataType {
  return typeof s === 'string' && byName.has(s);
}
export function dataTypeInfo(dt: DataType): DataTypeInfo {
  const info = byName.get(dt);
  if (info === undefined) throw new TypeError(`unknown datatype ${String(dt)}`);
  return info;
}
/** ONNX TensorProto element type → DataType; undefined for types Sluice cannot carry (FP8, INT4, ...). */
export function fromOnnxType(elemType: number): DataType | undefined {
  return byOnnx.get(elemType)?.name;
}
/** Triton config name ("TYPE_FP32") → DataType. */
export function fromConfigName(s: string): DataType | undefined {
  const m = /^TYPE_([A-Z0-9]+)$/.exec(s);
  if (m === null) return undefined;
  const n = m[1] === 'STRING' ? 'BYTES' : m[1];
  return isDataType(n) ? n : undefined;
}
export function toConfigName(dt: DataType): string {
  return dt === 'BYTES' ? 'TYPE_STRING' : `TYPE_${dt}`;
}
export function fromOrtType(t: string): DataType | undefined {
  return byOrt.get(t)?.name;
}
