import type { DataType, NumericArray } from './datatypes';

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
