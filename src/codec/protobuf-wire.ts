import { invalidArgument } from '../runtime/status';

/**
 * A cursor over protobuf wire bytes, for the few places where the server reads a message itself
 * instead of through protobufjs: it reads varints as two 32-bit halves (no Long or bigint per
 * value) and skips fields without materialising them. Errors are INVALID_ARGUMENT, "malformed
 * `what` at byte N: why".
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

export class WireCursor {
  pos: number;
  /** Low and high 32 bits of the last varint readVarint64 read. */
  lo = 0;
  hi = 0;

  constructor(readonly bytes: Uint8Array, readonly what: string, start = 0,
    readonly end = bytes.length) {
    this.pos = start;
  }

  get done(): boolean { return this.pos >= this.end; }

  malformed(why: string): never {
    throw invalidArgument(`malformed ${this.what} at byte ${this.pos}: ${why}`);
  }

  /** A varint of up to 10 bytes; its low and high words land in `lo` and `hi`. */
  readVarint64(): void {
    const { bytes, end } = this;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= end) this.malformed('truncated varint');
      const b = bytes[this.pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) { this.lo = lo; this.hi = 0; return; }
    }
    if (this.pos >= end) this.malformed('truncated varint');
    let b = bytes[this.pos++]!;
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) this.malformed('varint longer than 10 bytes');
        if (this.pos >= end) this.malformed('truncated varint');
        b = bytes[this.pos++]!;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.lo = lo;
    this.hi = hi;
  }

  /** A varint that must fit in 32 bits unsigned (tags, lengths). */
  readUint32(): number {
    this.readVarint64();
    if (this.hi !== 0) this.malformed('value does not fit in 32 bits');
    return this.lo >>> 0;
  }

  /** A tag: returns field number and wire type packed as (field << 3 | type). */
  readTag(): number {
    const tag = this.readUint32();
    if (tag >>> 3 === 0) this.malformed('field number 0');
    return tag;
  }

  /** The length of a length-delimited field, checked against the bytes left. */
  readLength(): number {
    const n = this.readUint32();
    if (n > this.end - this.pos) this.malformed(`length ${n} runs past the end (${this.end - this.pos} bytes left)`);
    return n;
  }

  /** Skips one field's value of wire type `type`. Groups (types 3 and 4) are refused. */
  skip(type: number): void {
    switch (type) {
      case WIRE_VARINT: this.readVarint64(); return;
      case WIRE_FIXED64: this.advance(8); return;
      case WIRE_LEN: { const n = this.readLength(); this.pos += n; return; }
      case WIRE_FIXED32: this.advance(4); return;
      default: this.malformed(`unsupported wire type ${type}`);
    }
  }

  advance(n: number): void {
    if (n > this.end - this.pos) this.malformed(`${n}-byte value truncated`);
    this.pos += n;
  }
}

/** Varints in bytes [start, end): the bytes without a continuation bit. The last must end one. */
export function countVarints(cursor: WireCursor, start: number, end: number): number {
  const { bytes } = cursor;
  let n = 0;
  for (let i = start; i < end; i++) if (bytes[i]! < 0x80) n++;
  if (end > start && bytes[end - 1]! >= 0x80) cursor.malformed('packed varints end mid-value');
  return n;
}
