import { dataTypeInfo, type DataType, type NumericArray } from './datatypes';

/**
 * A tensor as the runtime sees it. Shapes are plain numbers (every dim is a safe, non-negative
 * integer once validated). Non-BYTES data is a typed array of exactly product(shape) elements
 * (FP16/BF16 as Uint16Array bit patterns, BOOL as Uint8Array of 0/1). BYTES data is one
 * Uint8Array per element.
 */
export interface Tensor {
  readonly datatype: DataType;
  readonly shape: readonly number[];
  readonly data: NumericArray | readonly Uint8Array[];
}

/** Declared shape of a model input/output; -1 marks a variable dim. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: DataType;
  /** Full shape as the model sees it (including the batch dim when the model batches). */
  readonly shape: readonly number[];
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Longest shape printed in full in a message; longer ones are cut (a client may send 10^5 dims). */
const MAX_PRINTED_DIMS = 16;

/** "[1,64]" for messages; a shape of more than 16 dims is abbreviated with its rank. */
export function formatShape(shape: readonly unknown[], text: (d: unknown) => string = String): string {
  if (shape.length <= MAX_PRINTED_DIMS) return `[${shape.map(text).join(',')}]`;
  return `[${shape.slice(0, MAX_PRINTED_DIMS).map(text).join(',')},… (${shape.length} dims)]`;
}

/**
 * Why a tensor's data does not fit its datatype and shape, or undefined when it does: the data
 * must be the datatype's typed array (one Uint8Array per element for BYTES) holding
 * product(shape) elements. Callers choose the code: a client's or embedder's tensor is
 * INVALID_ARGUMENT, one the server built itself is INTERNAL.
 */
export function tensorDataProblem(t: Tensor): string | undefined {
  const { datatype, shape, data } = t;
  const Ctor = dataTypeInfo(datatype).array;
  const kindOk = Ctor === undefined
    ? Array.isArray(data) && data.every((e) => e instanceof Uint8Array)
    : data instanceof Ctor;
  if (!kindOk) {
    const needs = Ctor === undefined ? 'an array of Uint8Array, one per element'
      : `${Ctor.name.startsWith('I') ? 'an' : 'a'} ${Ctor.name}`;
    const d = data as unknown;
    const got = typeof d === 'object' && d !== null ? d.constructor.name : String(d);
    return `${datatype} data must be ${needs}, got ${got}`;
  }
  const count = elementCount(shape);
  if (data.length !== count) {
    return `${datatype} data holds ${data.length} elements, but shape ${formatShape(shape)} needs ${count}`;
  }
  return undefined;
}
