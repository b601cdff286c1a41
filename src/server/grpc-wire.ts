import * as zlib from 'node:zlib';
import { SluiceError } from '../runtime/status';

/**
 * gRPC over HTTP/2, the parts below the handlers (grpc/grpc doc/PROTOCOL-HTTP2.md): length-prefixed
 * messages in DATA frames, grpc-timeout, grpc-message encoding. Pure functions and one small
 * reader class; no sockets.
 */

/** Each message on the wire: 1 byte compressed flag, 4 bytes big-endian length, the message. */
export const MESSAGE_PREFIX_BYTES = 5;

/** Encodings a request may be compressed with (responses are never compressed). */
export const ACCEPT_ENCODING = 'identity,gzip,deflate';

/** Frames one message (uncompressed), given whole or as pieces in order: one copy. */
export function frameMessage(message: Uint8Array | readonly Uint8Array[]): Buffer {
  const pieces = message instanceof Uint8Array ? [message] : message;
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + length);
  let at = writeMessagePrefix(out, 0, length);
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The 5 bytes that go before an uncompressed message of `length` bytes. */
export function messagePrefix(length: number): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES);
  writeMessagePrefix(out, 0, length);
  return out;
}

/** Writes the prefix of an uncompressed message of `length` bytes at `at`; returns the offset after it. */
export function writeMessagePrefix(out: Buffer, at: number, length: number): number {
  out[at] = 0;
  out.writeUInt32BE(length, at + 1);
  return at + MESSAGE_PREFIX_BYTES;
}

/**
 * Splits a request body, arriving in DATA chunks of any size, into messages. Messages larger than
 * `maxBytes` are refused from their header, before their body is buffered.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxBytes: number, private readonly encoding: string | undefined) {}

  /** Adds a chunk; returns the messages it completed (usually none or one). Throws SluiceError. */
  push(chunk: Buffer): Buffer[] {
    if (this.buffered === 0 && chunk.length >= MESSAGE_PREFIX_BYTES) {
      // Fast path: the whole message in one chunk.
      const length = chunk.readUInt32BE(1);
      if (chunk.length === MESSAGE_PREFIX_BYTES + length) {
        return [this.message(chunk[0] ?? 0, length, chunk.subarray(MESSAGE_PREFIX_BYTES), false)];
      }
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < MESSAGE_PREFIX_BYTES) return out;
      const head = this.peek(MESSAGE_PREFIX_BYTES);
      const length = head.readUInt32BE(1);
      this.checkLength(length);
      if (this.buffered < MESSAGE_PREFIX_BYTES + length) return out;
      const [whole, owned] = this.take(MESSAGE_PREFIX_BYTES + length);
      out.push(this.message(whole[0] ?? 0, length, whole.subarray(MESSAGE_PREFIX_BYTES), owned));
    }
  }

  /** True when bytes of an incomplete message are left (the body ended mid-message). */
  get pending(): boolean { return this.buffered > 0; }

  /** Bytes of an incomplete message held (the rest of what was pushed was consumed). */
  get pendingBytes(): number { return this.buffered; }

  private checkLength(length: number): void {
    if (length > this.maxBytes) {
      throw new SluiceError('RESOURCE_EXHAUSTED',
        `received message larger than max (${length} vs. ${this.maxBytes})`);
    }
  }

  /**
   * `owned`: `body` views a buffer made for it. Otherwise it views a chunk, itself a view of a
   * socket read of up to 64 KiB, and is copied (copyEndAligned): a view would keep the whole read
   * alive for as long as the request waits in the batcher (often into the old generation), one
   * read per request.
   */
  private message(flag: number, length: number, body: Buffer, owned: boolean): Buffer {
    this.checkLength(length);
    if (flag === 0) return owned ? body : copyEndAligned(body);
    if (flag !== 1) throw new SluiceError('INTERNAL', `invalid gRPC message flag ${flag}`);
    return decompress(body, this.encoding, this.maxBytes);
  }

  /** The first n buffered bytes (n <= buffered), copying at most n when they span chunks. */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const c of this.chunks) {
      at += c.copy(out, at, 0, Math.min(c.length, n - at));
      if (at === n) break;
    }
    return out;
  }

  /** The first n buffered bytes, and whether they were copied out of the chunks they came in. */
  private take(n: number): [Buffer, boolean] {
    const one = this.chunks.length === 1;
    const all = one ? this.chunks[0] as Buffer : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return [all.subarray(0, n), !one];
  }
}

/**
 * A copy of `bytes` that ends on an 8-byte boundary. A request's tensor bytes usually end its
 * message (raw_input_contents is ModelInferRequest's last field) and a tensor's byte length is a
 * multiple of its element size, so the last input's bytes then start aligned as well and decode
 * as a view (codec/raw.ts), not as a second copy in a buffer of their own.
 */
export function copyEndAligned(bytes: Buffer): Buffer {
  const out = Buffer.allocUnsafe(bytes.length + 7);
  const pad = (8 - ((out.byteOffset + bytes.length) % 8)) % 8;
  bytes.copy(out, pad);
  return out.subarray(pad, pad + bytes.length);
}

function decompress(body: Buffer, encoding: string | undefined, maxBytes: number): Buffer {
  const options = { maxOutputLength: Math.max(1, maxBytes) };
  try {
    if (encoding === 'gzip') return zlib.gunzipSync(body, options);
    if (encoding === 'deflate') return zlib.inflateSync(body, options);
  } catch (e) {
    const tooBig = (e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
    throw new SluiceError(tooBig ? 'RESOURCE_EXHAUSTED' : 'INTERNAL', tooBig
      ? `decompressed message larger than max (${maxBytes})`
      : `cannot decompress ${encoding} message: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (encoding === undefined || encoding === 'identity') {
    throw new SluiceError('INTERNAL', 'compressed message received but grpc-encoding names no compression');
  }
  throw new SluiceError('UNIMPLEMENTED', `unsupported grpc-encoding '${encoding.slice(0, 40)}' (accepted: ${ACCEPT_ENCODING})`);
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * grpc-timeout ("100m", "5S", up to 8 digits and a unit) in milliseconds; undefined when absent.
 * A malformed value is an error, as in grpc-js; so is a repeated header, which the HTTP/2 layer
 * joins with ", ".
 */
export function parseGrpcTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(text);
  const unit = m === null ? undefined : TIMEOUT_UNIT_MS[m[2] as string];
  if (m === null || unit === undefined) {
    throw new SluiceError('INVALID_ARGUMENT', `malformed grpc-timeout '${text.slice(0, 20)}'`);
  }
  return Number(m[1]) * unit;
}

/** Lone UTF-16 surrogates (a string cut inside a pair), which have no UTF-8 encoding. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** grpc-message is percent-encoded: everything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  // encodeURIComponent handles UTF-8 (and throws on a lone surrogate, hence U+FFFD for those);
  // then undo what the spec allows to stay literal.
  return encodeURIComponent(message.replace(LONE_SURROGATE, '\uFFFD')).replace(/%(2[0-46-9A-F]|[3-6][0-9A-F]|7[0-9A-E])/g,
    (all, hex: string) => (hex === '25' ? all : String.fromCharCode(parseInt(hex, 16))));
}
