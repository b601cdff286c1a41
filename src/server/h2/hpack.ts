/**
 * HPACK (RFC 7541): a decoder for the peer's header blocks, and the few encoder pieces this side
 * needs for its own (static-table references and literals without indexing, so it never has to
 * track a dynamic table of its own making: the blocks it sends are built once and reused).
 */
import { decodeHuffman } from './huffman';

/** RFC 7541 Appendix A; index 1 is STATIC_TABLE[0]. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** Static-table indexes that encoders here (answers, the bench client's requests) refer to. */
export const STATIC = { authority: 1, methodPost: 3, path: 4, schemeHttp: 6, status200: 8, status: 8, contentType: 31 } as const;

/** §2.3.3: the newest dynamic-table entry's index; older ones follow. */
export const FIRST_DYNAMIC_INDEX = STATIC_TABLE.length + 1;

/** §4.1: an entry's size is its name and value lengths plus 32 (latin1: one octet per char). */
export function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}

/** The name of static-table entry `index` (1-based, Appendix A). */
export function staticName(index: number): string {
  const e = STATIC_TABLE[index - 1];
  if (e === undefined) throw new RangeError(`no static-table entry ${index}`);
  return e[0];
}

/** A malformed header block: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {}

export type HeaderList = [string, string][];

export class HpackDecoder {
  /** Newest first: dynamic index 62 is entries[0]. */
  #entries: [string, string][] = [];
  #size = 0;
  /** The most a table size update may set: our SETTINGS_HEADER_TABLE_SIZE. */
  readonly #limit: number;
  #max: number;

  constructor(settingsTableSize = 4096, readonly maxListBytes = 64 << 10) {
    this.#limit = settingsTableSize;
    this.#max = settingsTableSize;
  }

  /** Decodes one complete header block; throws HpackError. The dynamic table changes as §3 says. */
  decode(block: Uint8Array): HeaderList {
    const out: HeaderList = [];
    let listBytes = 0;
    const cur = { at: 0 };
    let fieldSeen = false;
    while (cur.at < block.length) {
      const b = block[cur.at] as number;
      let name: string;
      let value: string;
      if (b & 0x80) { // §6.1 indexed field
        [name, value] = this.#lookup(readInteger(block, cur, 7));
      } else if ((b & 0xe0) === 0x20) { // §6.3 dynamic table size update, only before any field
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        const size = readInteger(block, cur, 5);
        if (size > this.#limit) throw new HpackError(`table size update to ${size} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.#limit}`);
        this.#max = size;
        this.#evict(0);
        continue;
      } else {
        // §6.2.1 incremental indexing (01), §6.2.2 without (0000), §6.2.3 never indexed (0001)
        const indexing = (b & 0xc0) === 0x40;
        const index = readInteger(block, cur, indexing ? 6 : 4);
        name = index === 0 ? readString(block, cur) : (this.#lookup(index)[0]);
        value = readString(block, cur);
        if (indexing) this.#insert(name, value);
      }
      fieldSeen = true;
      listBytes += entrySize(name, value);
      if (listBytes > this.maxListBytes) throw new HpackError(`header list larger than ${this.maxListBytes} bytes`);
      out.push([name, value]);
    }
    return out;
  }

  #lookup(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('header field index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as [string, string];
    const e = this.#entries[index - STATIC_TABLE.length - 1];
    if (e === undefined) throw new HpackError(`header field index ${index} beyond the table (${STATIC_TABLE.length + this.#entries.length})`);
    return e;
  }

  #insert(name: string, value: string): void {
    const size = entrySize(name, value);
    this.#evict(size);
    // §4.4: an entry larger than the table empties it and is not added.
    if (size > this.#max) return;
    this.#entries.unshift([name, value]);
    this.#size += size;
  }

  /** Drops the oldest entries until `room` more bytes fit under the maximum. */
  #evict(room: number): void {
    while (this.#entries.length > 0 && this.#size + room > this.#max) {
      const [n, v] = this.#entries.pop() as [string, string];
      this.#size -= entrySize(n, v);
    }
  }
}

/** §5.1 integer with an N-bit prefix, at cur.at; advances cur. Rejects values past 2^28. */
function readInteger(buf: Uint8Array, cur: { at: number }, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  let value = (buf[cur.at++] as number) & mask;
  if (value < mask) return value;
  for (let shift = 0; ; shift += 7) {
    if (cur.at >= buf.length) throw new HpackError('truncated integer');
    if (shift > 21) throw new HpackError('integer too large');
    const b = buf[cur.at++] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return value;
  }
}

/** §5.2 string literal (latin1), Huffman-coded or not. */
function readString(buf: Uint8Array, cur: { at: number }): string {
  if (cur.at >= buf.length) throw new HpackError('truncated string');
  const huffman = ((buf[cur.at] as number) & 0x80) !== 0;
  const len = readInteger(buf, cur, 7);
  const end = cur.at + len;
  if (end > buf.length) throw new HpackError(`string of ${len} bytes overruns the block`);
  const start = cur.at;
  cur.at = end;
  if (!huffman) {
    // A Buffer's own toString reads the range without making a Buffer of it first.
    return Buffer.isBuffer(buf) ? buf.toString('latin1', start, end)
      : Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('latin1');
  }
  const r = decodeHuffman(buf, start, end);
  if ('error' in r) throw new HpackError(r.error);
  return r.text;
}

// ---- encoder pieces --------------------------------------------------------------------------

/** §5.1 integer with an N-bit prefix; `flags` fills the bits above the prefix of the first byte. */
function encodeInteger(value: number, prefixBits: number, flags = 0): number[] {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return [flags | value];
  const out = [flags | mask];
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

/** A raw (not Huffman) string literal. */
function encodeString(s: string): number[] {
  const bytes = Buffer.from(s, 'latin1');
  return [...encodeInteger(bytes.length, 7), ...bytes];
}

/** §6.1: an indexed field (static table, or dynamic from 62 on), name and value. */
export function indexedField(index: number): number[] {
  return encodeInteger(index, 7, 0x80);
}

/**
 * A literal field named by a table index or (0) by a literal name: §6.2.2 without indexing, or
 * §6.2.1 with incremental indexing, which adds it to the peer's dynamic table.
 */
export function literalField(nameIndex: number | string, value: string, indexing = false): number[] {
  const [prefixBits, flags] = indexing ? [6, 0x40] : [4, 0];
  return typeof nameIndex === 'number'
    ? [...encodeInteger(nameIndex, prefixBits, flags), ...encodeString(value)]
    : [flags, ...encodeString(nameIndex), ...encodeString(value)];
}

/** §6.3: a dynamic table size update (only at the start of a block). */
export function tableSizeUpdate(size: number): number[] {
  return encodeInteger(size, 5, 0x20);
}
