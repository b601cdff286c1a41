import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { internal, invalidArgument } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';
import { countVarints, WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, WireCursor } from './protobuf-wire';
import { checkAllocation, formatShape } from './shape';

/**
 * KServe v2 InferTensorContents (typed, non-raw tensor data) → Tensor. The field for each
 * datatype is fixed by the protocol; FP16/BF16 have none and must travel as raw bytes.
 *
 * The message is read here from its wire bytes, not by protobufjs: protobufjs would make a JS
 * value per element first (a Long object of ~60 bytes for each 1-byte int64, a boxed slot for
 * each 1-byte bool or int32), so a 64 MiB request could take gigabytes of heap and seconds of the
 * event loop before its shape was even checked. Here the elements are counted without being
 * decoded, the count is checked against the shape, and the values are written straight into one
 * typed array of the right size. Both packed and unpacked encodings are accepted, as proto3
 * parsers must.
 */

const FIELDS = ['bool_contents', 'int_contents', 'int64_contents', 'uint_contents',
  'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents'] as const;
type ContentsField = typeof FIELDS[number];
/** Field number of FIELDS[i] is i + 1. */
const fieldNumber = (f: ContentsField): number => FIELDS.indexOf(f) + 1;

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

/** Width in bytes of fixed-width fields (fp32, fp64); 0 for varint fields and bytes. */
const FIXED_WIDTH = [0, 0, 0, 0, 0, 0, 4, 8, 0];
/** Unpacked wire type of each field number (packed is WIRE_LEN for all but bytes). */
const SCALAR_WIRE = [-1, WIRE_VARINT, WIRE_VARINT, WIRE_VARINT, WIRE_VARINT, WIRE_VARINT,
  WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN];
const BYTES_FIELD = 8;

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

/** An InferTensorContents message's bytes and how many elements each field holds. */
export interface ScannedContents {
  readonly bytes: Uint8Array;
  /** counts[n]: elements of field number n (1..8); counts[0] is unused. */
  readonly counts: readonly number[];
}

/**
 * Walks the message once, counting each field's elements without decoding them, and checks
 * every known field's wire type. Unknown fields are skipped, as protobuf readers must.
 */
export function scanContents(bytes: Uint8Array, what: string): ScannedContents {
  const c = new WireCursor(bytes, `InferTensorContents of ${what}`);
  const counts = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  while (!c.done) {
    const tag = c.readTag();
    const field = tag >>> 3;
    const type = tag & 7;
    if (field > BYTES_FIELD) { c.skip(type); continue; }
    if (type === WIRE_LEN && field !== BYTES_FIELD) { // packed
      const length = c.readLength();
      const width = FIXED_WIDTH[field]!;
      if (width === 0) counts[field]! += countVarints(c, c.pos, c.pos + length);
      else if (length % width !== 0) c.malformed(`packed ${FIELDS[field - 1]} of ${length} bytes is not a whole number of ${width}-byte values`);
      else counts[field]! += length / width;
      c.pos += length;
    } else if (type === SCALAR_WIRE[field]) {
      c.skip(type);
      counts[field]! += 1;
    } else {
      c.malformed(`${FIELDS[field - 1]} sent with wire type ${type}`);
    }
  }
  return { bytes, counts };
}

/** Whether any typed field holds a value (an empty contents message means "no typed data"). */
export function hasTypedContents(contents: ScannedContents | undefined): boolean {
  return contents !== undefined && contents.counts.some((n) => n > 0);
}

/** Typed contents → Tensor. `count` is product(shape) (from checkShape). */
export function tensorFromContents(datatype: DataType, shape: number[], count: number,
  contents: ScannedContents, what: string): Tensor {
  const field = FIELD_FOR[datatype];
  if (field === undefined) {
    throw invalidArgument(`${what}: ${datatype} is raw only (InferTensorContents has no field for ` +
      'it); send it in raw_input_contents');
  }
  const number = fieldNumber(field);
  contents.counts.forEach((n, f) => {
    if (f !== number && n > 0) {
      throw invalidArgument(`${what}: ${datatype} data belongs in ${field}, but ${FIELDS[f - 1]} has ` +
        `${n} values`);
    }
  });
  const n = contents.counts[number]!;
  if (n !== count) {
    throw invalidArgument(`${what}: ${field} has ${n} values, but shape ${formatShape(shape)} ` +
      `needs ${count}`);
  }
  if (datatype === 'BYTES') return { datatype, shape, data: bytesValues(contents.bytes, count, what) };
  checkAllocation(count, dataTypeInfo(datatype).size, what);
  return { datatype, shape, data: numericValues(datatype, number, count, contents.bytes, what) };
}

/** The bytes_contents elements, as views into the message bytes (no copy). */
function bytesValues(bytes: Uint8Array, count: number, what: string): Uint8Array[] {
  const out = new Array<Uint8Array>(count);
  const c = new WireCursor(bytes, `InferTensorContents of ${what}`);
  let i = 0;
  while (!c.done) {
    const tag = c.readTag();
    if (tag !== ((BYTES_FIELD << 3) | WIRE_LEN)) { c.skip(tag & 7); continue; }
    const length = c.readLength();
    out[i++] = bytes.subarray(c.pos, c.pos + length);
    c.pos += length;
  }
  return out;
}

/**
 * Writes field `number`'s values into a new typed array of `count` elements. scanContents has
 * checked the wire types and the count, so only values (integer ranges) can still be refused.
 */
function numericValues(datatype: DataType, number: number, count: number, bytes: Uint8Array,
  what: string): NumericArray {
  const Ctor = dataTypeInfo(datatype).array;
  if (Ctor === undefined) throw internal(`no typed array for ${datatype}`);
  const out = new Ctor(count);
  const width = FIXED_WIDTH[number]!;
  const put = width === 0 ? varintWriter(datatype, out, what) : undefined;
  const c = new WireCursor(bytes, `InferTensorContents of ${what}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (!c.done) {
    const tag = c.readTag();
    const type = tag & 7;
    if (tag >>> 3 !== number) { c.skip(type); continue; }
    if (type === WIRE_LEN) {
      const length = c.readLength();
      const stop = c.pos + length;
      if (put === undefined) { // fixed width: copy the little-endian bytes as they are
        new Uint8Array(out.buffer, out.byteOffset + i * width, length).set(bytes.subarray(c.pos, stop));
        i += length / width;
        c.pos = stop;
      } else {
        while (c.pos < stop) { c.readVarint64(); put(i++, c.lo, c.hi); }
      }
    } else if (put !== undefined) {
      c.readVarint64();
      put(i++, c.lo, c.hi);
    } else {
      const at = c.pos;
      c.advance(width);
      out[i++] = width === 4 ? view.getFloat32(at, true) : view.getFloat64(at, true);
    }
  }
  return out;
}

/** Stores one varint (as low and high words) at index i of `out`, checking its range. */
type VarintWriter = (i: number, lo: number, hi: number) => void;

function varintWriter(datatype: DataType, out: NumericArray, what: string): VarintWriter {
  switch (datatype) {
    case 'BOOL': return (i, lo, hi) => { out[i] = (lo | hi) !== 0 ? 1 : 0; };
    case 'INT64':
    case 'UINT64': {
      const words = new Int32Array(out.buffer, out.byteOffset, 2 * out.length); // little-endian host
      return (i, lo, hi) => { words[2 * i] = lo; words[2 * i + 1] = hi; };
    }
    default: {
      // int32 / uint32 fields: a wider varint is truncated to its low 32 bits, as protobuf does.
      const range = INT_RANGE[datatype];
      if (range === undefined) throw internal(`no integer range for ${datatype}`);
      const [lo, hi] = range;
      const signed = lo < 0;
      return (i, low) => {
        const v = signed ? low | 0 : low >>> 0;
        if (v < lo || v > hi) {
          throw invalidArgument(`${what}: value ${v} at index ${i} is out of range for ${datatype} ` +
            `[${lo}, ${hi}]`);
        }
        out[i] = v;
      };
    }
  }
}
