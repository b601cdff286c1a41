/**
 * Tensor ⇄ WireTensor, and the BYTES packing both threads share. Pure functions, no ORT import,
 * so the main thread never loads onnxruntime-node just to move tensors.
 */
import { dataTypeInfo } from '../../runtime/datatypes';
import type { NumericArray } from '../../runtime/datatypes';
import { internal, invalidArgument } from '../../runtime/status';
import { elementCount } from '../../runtime/tensor';
import type { Tensor } from '../../runtime/tensor';
import type { WireTensor } from './ort-messages';

/**
 * One copy of `view`'s bytes into a fresh ArrayBuffer that may go in a transfer list.
 * Transferring the caller's own buffer would detach memory it still owns (a Buffer from a pool,
 * a view into a protobuf message), so inputs are always copied exactly once.
 */
export function copyToOwnedBuffer(view: ArrayBufferView): ArrayBuffer {
  const out = new ArrayBuffer(view.byteLength);
  new Uint8Array(out).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return out;
}

/** A view's bytes as a transferable ArrayBuffer: the view's own buffer when it spans it exactly. */
export function ownedBufferOf(view: ArrayBufferView): ArrayBuffer {
  const { buffer } = view;
  if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength) {
    return buffer;
  }
  return copyToOwnedBuffer(view);
}

export function packBytes(elements: readonly Uint8Array[]): { data: ArrayBuffer; ends: ArrayBuffer } {
  let total = 0;
  for (const e of elements) total += e.byteLength;
  if (total > 0xffffffff) throw invalidArgument(`BYTES tensor of ${total} bytes exceeds 4 GiB`);
  const data = new Uint8Array(total);
  const ends = new Uint32Array(elements.length);
  let at = 0;
  elements.forEach((e, i) => {
    data.set(e, at);
    at += e.byteLength;
    ends[i] = at;
  });
  return { data: data.buffer, ends: ends.buffer };
}

/** Views into `data`, one per element (no copy). */
export function unpackBytes(data: ArrayBuffer, ends: ArrayBuffer): Uint8Array[] {
  const endArr = new Uint32Array(ends);
  const out = new Array<Uint8Array>(endArr.length);
  let start = 0;
  endArr.forEach((end, i) => {
    out[i] = new Uint8Array(data, start, end - start);
    start = end;
  });
  return out;
}

/** An input tensor for the worker, plus the buffers to transfer (all freshly copied). */
export function tensorToWire(name: string, t: Tensor): { wire: WireTensor; transfer: ArrayBuffer[] } {
  const shape = [...t.shape];
  if (t.datatype === 'BYTES') {
    if (!Array.isArray(t.data)) throw invalidArgument(`input '${name}': BYTES data must be Uint8Array[]`);
    const { data, ends } = packBytes(t.data as readonly Uint8Array[]);
    return { wire: { name, datatype: 'BYTES', shape, data, ends }, transfer: [data, ends] };
  }
  if (Array.isArray(t.data)) throw invalidArgument(`input '${name}': ${t.datatype} data must be a typed array`);
  const data = copyToOwnedBuffer(t.data as NumericArray);
  return { wire: { name, datatype: t.datatype, shape, data }, transfer: [data] };
}

/** A worker's output as a Tensor; the buffers were transferred to this thread, so views suffice. */
export function wireToTensor(w: WireTensor): Tensor {
  if (w.datatype === 'BYTES') return { datatype: 'BYTES', shape: w.shape, data: unpackBytes(w.data, w.ends) };
  const info = dataTypeInfo(w.datatype);
  if (info.array === undefined || w.data.byteLength !== elementCount(w.shape) * info.size) {
    throw internal(`output '${w.name}': ${w.data.byteLength} bytes do not fit ${w.datatype}[${w.shape.join(',')}]`);
  }
  return { datatype: w.datatype, shape: w.shape, data: new info.array(w.data, 0, elementCount(w.shape)) };
}
