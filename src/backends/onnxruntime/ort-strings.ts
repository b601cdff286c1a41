/**
 * BYTES ⇄ ONNX Runtime string tensors. onnxruntime-node carries strings only as JS strings and
 * cuts each one at its first NUL byte, so an element that is not valid UTF-8 or holds a NUL would
 * change silently: such elements are refused instead, naming the input and the element. Shared by
 * the main thread (refusing a request before it is queued, so it cannot fail a whole batch) and
 * the workers (converting batches). No ORT import, so the main thread never loads it for this.
 */
import { isUtf8 } from 'node:buffer';
import { invalidArgument } from '../../runtime/status';
import type { Tensor } from '../../runtime/tensor';

/** Why ONNX Runtime cannot carry BYTES element `index` of input `input`; undefined if it can. */
export function stringProblem(input: string, index: number, b: Uint8Array): string | undefined {
  if (b.includes(0)) {
    return `input '${input}': BYTES element ${index} contains a NUL byte, which ONNX Runtime string tensors cannot carry`;
  }
  if (!isUtf8(b)) {
    return `input '${input}': BYTES element ${index} is not valid UTF-8, which ONNX Runtime string tensors require`;
  }
  return undefined;
}

/** Throws INVALID_ARGUMENT for the first element of `t` (a BYTES tensor) that ORT cannot carry. */
export function checkStringTensor(input: string, t: Tensor): void {
  const elements = t.data as readonly Uint8Array[];
  for (let i = 0; i < elements.length; i++) {
    const problem = stringProblem(input, i, elements[i] as Uint8Array);
    if (problem !== undefined) throw invalidArgument(problem);
  }
}

/** ORT's strings → the KServe raw BYTES form (u32-LE length, then the UTF-8 bytes), one buffer. */
export function joinStrings(strings: readonly string[]): Buffer {
  let total = 0;
  for (const s of strings) total += 4 + Buffer.byteLength(s, 'utf8');
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const s of strings) {
    const written = out.write(s, at + 4, 'utf8');
    out.writeUInt32LE(written, at);
    at += 4 + written;
  }
  return out;
}
