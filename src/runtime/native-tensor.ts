/**
 * Tensor ⇄ NativeTensor, the raw little-endian form that crosses the addon boundary.
 *
 * Inputs: numeric data goes as a view of the caller's own memory (no copy; the batcher references
 * it until the request completes); BYTES elements are joined into one length-prefixed buffer (the
 * one copy). Outputs: views of the batcher's per-request memory, copied only when a typed array
 * cannot be aligned on it.
 */
import { checkTensorData, joinBytesElements, splitBytesElements, tensorFromRaw } from '../codec/raw';
import type { NativeTensor } from '../native/binding';
import type { DataTypeInfo, NumericArray } from './datatypes';
import { internal } from './status';
import { elementCount, formatShape, type Tensor } from './tensor';

/**
 * A validated input (its form and its datatype and shape checked by validateInferInputs) as a
 * NativeTensor. The data's size is checked once more here, where it crosses into native code
 * that trusts it: a mismatch now is a runtime bug (INTERNAL), not a client error.
 */
export function toNativeTensor(name: string, t: Tensor, info: DataTypeInfo): NativeTensor {
  checkTensorData(t, `input '${name}'`);
  const { data } = t;
  if (info.size === 0) return { data: joinBytesElements(data as readonly Uint8Array[]), shape: t.shape };
  const array = data as NumericArray;
  return { data: new Uint8Array(array.buffer, array.byteOffset, array.byteLength), shape: t.shape };
}

/**
 * One request's output, as the batcher split it, as a Tensor. A malformed output is a backend or
 * batcher bug, so every problem is INTERNAL.
 */
export function fromNativeTensor(name: string, t: NativeTensor, info: DataTypeInfo): Tensor {
  const shape = [...t.shape];
  const what = `output '${name}'`;
  try {
    if (info.size === 0) return { datatype: 'BYTES', shape, data: splitBytesElements(t.data, elementCount(shape), what) };
    return tensorFromRaw(info.name, shape, elementCount(shape), t.data, what);
  } catch (e) {
    throw internal(`${e instanceof Error ? e.message : String(e)} (from the batcher, shape ${formatShape(shape)})`, e);
  }
}
