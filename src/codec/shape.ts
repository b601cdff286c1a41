import { invalidArgument } from '../runtime/status';
import { formatShape } from '../runtime/tensor';
import { DECIMAL_INTEGER, integerText, isLongLike, MAX_DECIMAL_CHARS, toSafeInteger } from './int64';

/**
 * Largest tensor the codec will allocate for itself (bytes). Tensors whose bytes arrived on the
 * wire (raw contents) are checked against the bytes actually present instead.
 */
export const MAX_TENSOR_BYTES = 2 ** 31 - 1;

export interface CheckedShape {
  readonly shape: number[];
  /** product(shape); a safe integer. */
  readonly count: number;
}

const shapeText = (dims: readonly unknown[]): string => formatShape(dims, integerText);

/** Why toSafeInteger refused a dim: wrong kind of value, or an integer beyond 2^53 - 1. */
function whyNotDim(v: unknown): string {
  if (typeof v === 'string' && v.length > MAX_DECIMAL_CHARS && DECIMAL_INTEGER.test(v)) {
    return `is decimal text longer than ${MAX_DECIMAL_CHARS} characters`;
  }
  const integral = typeof v === 'bigint' || isLongLike(v) ||
    (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && DECIMAL_INTEGER.test(v));
  return integral ? 'is out of range (|dim| > 2^53 - 1)' : 'is not an integer';
}

/**
 * Validates a wire shape (numbers, protobufjs Longs, bigints or decimal strings) and computes its
 * element count. `what` names the tensor in messages ("input 'x'").
 *
 * The product of the non-zero dims must be a safe integer, not just the product of all dims: a
 * shape like [0, 2^40, 2^40] holds nothing, but later stages compute row sizes and strides from
 * the trailing dims and must never see an unsafe number.
 */
export function checkShape(raw: unknown, what: string): CheckedShape {
  if (!Array.isArray(raw)) throw invalidArgument(`${what}: shape must be an array of integers`);
  const dims = raw as readonly unknown[];
  const shape = new Array<number>(dims.length);
  let count = 1;
  let nonZeroProduct = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = toSafeInteger(dims[i]);
    if (d === undefined) {
      throw invalidArgument(
        `${what}: dimension ${integerText(dims[i])} in shape ${shapeText(dims)} ${whyNotDim(dims[i])}`);
    }
    if (d < 0) throw invalidArgument(`${what}: negative dimension ${d} in shape ${shapeText(dims)}`);
    shape[i] = d;
    count *= d;
    if (d !== 0) nonZeroProduct *= d;
    if (nonZeroProduct > Number.MAX_SAFE_INTEGER) {
      throw invalidArgument(
        `${what}: shape ${shapeText(dims)} has too many elements (more than 2^53 - 1)`);
    }
  }
  return { shape, count };
}

/**
 * Bytes the codec would allocate for `count` elements of `elementSize` bytes; throws when that is
 * more than MAX_TENSOR_BYTES, before anything is allocated.
 */
export function checkAllocation(count: number, elementSize: number, what: string): number {
  const bytes = count * elementSize;
  if (bytes > MAX_TENSOR_BYTES) {
    throw invalidArgument(
      `${what}: ${count} elements need ${bytes} bytes, more than the ${MAX_TENSOR_BYTES}-byte limit`);
  }
  return bytes;
}

export { formatShape };

/**
 * Most BYTES elements one request may carry, all its inputs together. Each element becomes its
 * own Uint8Array, 100 to 200 bytes of heap however short it is (an empty element is 2 to 4 bytes
 * on the wire), so their number, not their bytes, bounds the memory a request can take.
 */
export const MAX_REQUEST_BYTES_ELEMENTS = 2 ** 19;

/**
 * Adds a BYTES input's `count` elements to the request's running `total`, before any is made;
 * throws when the total passes MAX_REQUEST_BYTES_ELEMENTS. Returns the new total.
 */
export function countBytesElements(total: number, count: number, what: string): number {
  const next = total + count;
  if (next > MAX_REQUEST_BYTES_ELEMENTS) {
    throw invalidArgument(`${what}: ${count} BYTES elements` +
      (total > 0 ? ` (${next} in this request)` : '') +
      ` exceed the ${MAX_REQUEST_BYTES_ELEMENTS}-element limit for one request`);
  }
  return next;
}
