import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { internal, invalidArgument } from '../runtime/status';
import { tensorDataProblem, type Tensor } from '../runtime/tensor';
import { formatShape } from './shape';

/**
 * Raw tensor bytes (KServe v2 `raw_input_contents` / `raw_output_contents` and the HTTP binary
 * extension) ⇄ Tensor. The wire is little-endian, row-major, unpadded; typed arrays use host byte
 * order, so the views below are only correct on a little-endian host (x86-64, arm64).
 *
 * Decoded tensors alias the caller's bytes when alignment allows: whoever owns the request buffer
 * must not reuse it while the tensors are alive.
 */

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('sluice codec: raw tensor views need a little-endian host');
}

/** Size of a BYTES element's length prefix (u32 little-endian). */
const PREFIX = 4;

/**
 * Raw bytes → Tensor. `count` is product(shape) (from checkShape). Numeric data is a zero-copy
 * view when `bytes.byteOffset` is aligned to the element size, otherwise one copy.
 */
export function tensorFromRaw(datatype: DataType, shape: number[], count: number, bytes: Uint8Array,
  what: string): Tensor {
  if (datatype === 'BYTES') return { datatype, shape, data: splitBytesElements(bytes, count, what) };
  const info = dataTypeInfo(datatype);
  const expected = count * info.size;
  if (bytes.byteLength !== expected) {
    throw invalidArgument(`${what}: raw contents have ${bytes.byteLength} bytes, but ${datatype} ` +
      `shape ${formatShape(shape)} needs ${BigInt(count) * BigInt(info.size)} (${count} elements × ` +
      `${info.size} bytes)`);
  }
  if (datatype === 'BOOL') checkBoolBytes(bytes, what);
  const Ctor = info.array;
  if (Ctor === undefined) throw internal(`no typed array for ${datatype}`);
  if (bytes.byteOffset % info.size === 0) {
    return { datatype, shape, data: new Ctor(bytes.buffer, bytes.byteOffset, count) };
  }
  // A fresh, unpooled ArrayBuffer starts aligned; skipping the zero-fill halves the copy's cost.
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return { datatype, shape, data: new Ctor(copy.buffer, 0, count) };
}

function checkBoolBytes(bytes: Uint8Array, what: string): void {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 1) throw invalidArgument(`${what}: BOOL element ${i} is ${b}; raw BOOL bytes must be 0 or 1`);
  }
}

/**
 * Walks u32-LE length prefixes. Elements are views into `bytes` (no copy). Exactly `count`
 * elements must fill `bytes` exactly.
 */
export function splitBytesElements(bytes: Uint8Array, count: number, what: string): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < end) {
    const index = out.length;
    if (index === count) {
      throw invalidArgument(`${what}: BYTES raw contents hold more than the ${count} elements the ` +
        `shape needs (${end - offset} extra bytes at offset ${offset})`);
    }
    if (end - offset < PREFIX) {
      throw invalidArgument(`${what}: BYTES element ${index} at offset ${offset}: length prefix ` +
        `truncated (${end - offset} of ${PREFIX} bytes left)`);
    }
    const length = view.getUint32(offset, true);
    const start = offset + PREFIX;
    if (length > end - start) {
      throw invalidArgument(`${what}: BYTES element ${index} at offset ${offset}: length prefix ` +
        `${length} runs past the end of the ${end}-byte contents`);
    }
    out.push(bytes.subarray(start, start + length));
    offset = start + length;
  }
  if (out.length !== count) {
    throw invalidArgument(`${what}: BYTES raw contents hold ${out.length} elements, but the shape ` +
      `needs ${count}`);
  }
  return out;
}

/** BYTES elements → one buffer of u32-LE length-prefixed elements. */
export function joinBytesElements(elements: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const e of elements) total += PREFIX + e.byteLength;
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.byteLength, offset);
    out.set(e, offset + PREFIX);
    offset += PREFIX + e.byteLength;
  }
  return out;
}

/**
 * Tensor → raw wire bytes. Numeric data is returned as a view of the tensor's own memory (no
 * copy); BYTES is re-prefixed. `what` names the tensor in errors ("output 'y'").
 */
export function tensorToRaw(tensor: Tensor, what: string): Buffer {
  checkTensorData(tensor, what);
  const { data } = tensor;
  if (Array.isArray(data)) return joinBytesElements(data as readonly Uint8Array[]);
  const array = data as NumericArray;
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * Checks an outgoing tensor's data against its datatype and shape. A mismatch is a runtime bug
 * (INTERNAL), not a client error; catching it here keeps a wrong response off the wire.
 */
export function checkTensorData(tensor: Tensor, what: string): void {
  const problem = tensorDataProblem(tensor);
  if (problem !== undefined) throw internal(`${what}: ${problem}`);
}
