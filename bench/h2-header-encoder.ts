/**
 * Request header blocks for one HTTP/2 connection of the bench client, encoded the way nghttp2
 * (under grpc-js) encodes them by default: the fields every request repeats are added to the
 * peer's dynamic table by the first request that sends them (RFC 7541 §6.2.1) and referenced by
 * index after (§6.1), so the server decodes what it would decode from a real client. Sending
 * every field as a literal instead, as this client first did, cost the server a string per field
 * per request: about a quarter of what it allocated per request under overload.
 *
 * Entries are only added while they fit HTTP/2's default table of 4096 bytes, so none is ever
 * evicted and the indices are known without modelling eviction. A peer whose
 * SETTINGS_HEADER_TABLE_SIZE is smaller gets a table size update to 0 at the start of the next
 * block (§4.2, §6.3) and no additions.
 */
import {
  entrySize, FIRST_DYNAMIC_INDEX, indexedField, literalField, STATIC, staticName, tableSizeUpdate,
} from '../src/server/h2/hpack';

/** SETTINGS_HEADER_TABLE_SIZE until the peer says otherwise (RFC 9113 §6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;
const TIMEOUT = 'grpc-timeout';

/** A header field: its static-table name index, or the name itself, and the value. */
type Field = readonly [name: number | string, value: string];

export class RequestHeaderEncoder {
  /** Names and values added to the peer's table, oldest first. */
  readonly #added: string[] = [];
  #addedBytes = 0;
  #tableSize = DEFAULT_TABLE_SIZE;
  /** A table size update to 0 must open the next block. */
  #resize = false;
  /** Blocks up to grpc-timeout per path; valid until the next addition (indices move). */
  readonly #prefixes = new Map<string, Buffer>();
  /** The index of the grpc-timeout entry's name, 0 for none; undefined until looked up. */
  #timeoutName: number | undefined;

  constructor(private readonly authority: string) {}

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE. Below the 4096 bytes this encoder assumed, the next
   * block opens with a table size update to 0 (RFC 7541 §4.2), and nothing more is added.
   */
  setPeerTableSize(bytes: number): void {
    if (bytes >= DEFAULT_TABLE_SIZE || this.#tableSize === 0) return;
    this.#resize = true;
    this.#added.length = 0;
    this.#addedBytes = 0;
    this.#tableSize = 0;
    this.#prefixes.clear();
    this.#timeoutName = undefined;
  }

  /**
   * The header block of a unary gRPC request to `path` up to grpc-timeout, whose field
   * timeoutField() gives; call this first (what it adds moves the indices).
   */
  prefix(path: string): Buffer {
    const cached = this.#prefixes.get(path);
    if (cached !== undefined) return cached;
    const resize = this.#resize;
    const before = this.#added.length;
    const prefix = Buffer.from([
      ...(resize ? tableSizeUpdate(0) : []),
      ...indexedField(STATIC.methodPost), ...indexedField(STATIC.schemeHttp),
      ...this.#field([STATIC.path, path]), ...this.#field([STATIC.authority, this.authority]),
      ...this.#field([STATIC.contentType, 'application/grpc']), ...this.#field(['te', 'trailers']),
    ]);
    this.#resize = false;
    // A block that added entries or resized the table is sent once: the next one refers to them.
    if (!resize && this.#added.length === before) this.#prefixes.set(path, prefix);
    return prefix;
  }

  /** The grpc-timeout field, whose value changes per call: never added, but its name is, by the first call. */
  timeoutField(value: string): Buffer {
    this.#timeoutName ??= this.#indexOfName(TIMEOUT);
    return Buffer.from(this.#timeoutName > 0 ? literalField(this.#timeoutName, value)
      : literalField(TIMEOUT, value, this.#add(TIMEOUT, value)));
  }

  /** Indexed when added before; else a literal that adds it when it fits; else a plain literal. */
  #field([name, value]: Field): number[] {
    const nameText = typeof name === 'number' ? staticName(name) : name;
    const index = this.#indexOf(nameText, value);
    return index !== undefined ? indexedField(index) : literalField(name, value, this.#add(nameText, value));
  }

  #add(name: string, value: string): boolean {
    const size = entrySize(name, value);
    if (this.#addedBytes + size > this.#tableSize) return false;
    this.#added.push(`${name}\n${value}`);
    this.#addedBytes += size;
    // Every index moved.
    this.#prefixes.clear();
    this.#timeoutName = undefined;
    return true;
  }

  #indexOf(name: string, value: string): number | undefined {
    const at = this.#added.lastIndexOf(`${name}\n${value}`);
    return at < 0 ? undefined : FIRST_DYNAMIC_INDEX + this.#added.length - 1 - at;
  }

  /** The index of the newest entry named `name`; 0 when there is none. */
  #indexOfName(name: string): number {
    for (let at = this.#added.length - 1; at >= 0; at--) {
      if ((this.#added[at] as string).startsWith(`${name}\n`)) return FIRST_DYNAMIC_INDEX + this.#added.length - 1 - at;
    }
    return 0;
  }
}
