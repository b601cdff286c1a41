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
