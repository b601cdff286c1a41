/**
 * HTTP/2 framing (RFC 9113 §4, §6): frame and settings constants, frame writers, and a reader
 * that cuts a socket's byte stream into frames without copying payloads that arrive whole.
 */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE's default; neither the server nor the bench client advertises more, so no frame may exceed it. */
export const DEFAULT_MAX_FRAME = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export const FrameType = {
  DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7,
  WINDOW_UPDATE: 8, CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const Setting = {
  HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** RFC 9113 §7. */
export const ErrorCode = {
  NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11, INADEQUATE_SECURITY: 12, HTTP_1_1_REQUIRED: 13,
} as const;

/** Writes a 9-byte frame header at `at`; returns the offset after it. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): number {
  out.writeUIntBE(length, at, 3);
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId, at + 5);
  return at + FRAME_HEADER_BYTES;
}

/** Writes a whole frame (header and payload) at `at`; returns the offset after it. */
export function writeFrame(out: Buffer, at: number, type: number, flags: number, streamId: number, payload: Uint8Array): number {
  const start = writeFrameHeader(out, at, payload.length, type, flags, streamId);
  out.set(payload, start);
  return start + payload.length;
}

/** A whole frame with a small payload. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  writeFrame(out, 0, type, flags, streamId, payload);
  return out;
}

export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A frame the peer should not have sent: a connection error with an RFC 9113 §7 code. */
export class ConnectionError extends Error {
  constructor(readonly h2Code: number, message: string) {
    super(message);
  }
}

/**
 * Cuts chunks of a byte stream into frames. Payloads are views of the chunks where they fit in
 * one; a frame cut by a chunk's end is copied into a buffer of its own as its bytes arrive, so a
 * chunk is never copied whole and its tail is not kept.
 */
export class FrameReader {
  /** The cut frame: its bytes so far (all of the 9-byte header first, then the whole frame). */
  #partial: Buffer | undefined;
  #filled = 0;

  constructor(readonly maxFrameSize = DEFAULT_MAX_FRAME) {}

  /** Calls `onFrame` for every complete frame in `chunk` (and what was left of the last one). */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let at = 0;
    if (this.#partial !== undefined) {
      at = this.#fill(chunk);
      if (at < 0) return;
      const whole = this.#partial;
      this.#partial = undefined;
      this.#emit(whole, 0, onFrame);
    }
    while (chunk.length - at >= FRAME_HEADER_BYTES) {
      const end = at + FRAME_HEADER_BYTES + this.#length(chunk, at);
      if (end > chunk.length) break;
      this.#emit(chunk, at, onFrame);
      at = end;
    }
    if (at < chunk.length) {
      const rest = chunk.subarray(at);
      this.#partial = Buffer.allocUnsafe(rest.length >= FRAME_HEADER_BYTES
        ? FRAME_HEADER_BYTES + this.#length(rest, 0) : FRAME_HEADER_BYTES);
      this.#filled = rest.copy(this.#partial);
    }
  }

  /**
   * Copies into the cut frame what `chunk` has of it; returns the offset after those bytes, or -1
   * when the frame is still incomplete (all of `chunk` taken).
   */
  #fill(chunk: Buffer): number {
    let at = 0;
    let p = this.#partial as Buffer;
    if (this.#filled < FRAME_HEADER_BYTES) {
      const n = chunk.copy(p, this.#filled, 0, FRAME_HEADER_BYTES - this.#filled);
      this.#filled += n;
      at = n;
      if (this.#filled < FRAME_HEADER_BYTES) return -1;
      const whole = Buffer.allocUnsafe(FRAME_HEADER_BYTES + this.#length(p, 0));
      p.copy(whole);
      this.#partial = p = whole;
    }
    const n = chunk.copy(p, this.#filled, at, at + p.length - this.#filled);
    this.#filled += n;
    return this.#filled < p.length ? -1 : at + n;
  }

  /** The payload length in the frame header at `at`; a frame over the size limit is a connection error. */
  #length(buf: Buffer, at: number): number {
    const length = buf.readUIntBE(at, 3);
    if (length > this.maxFrameSize) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`);
    }
    return length;
  }

  #emit(buf: Buffer, at: number, onFrame: (f: Frame) => void): void {
    const end = at + FRAME_HEADER_BYTES + buf.readUIntBE(at, 3);
    onFrame({
      type: buf[at + 3] as number, flags: buf[at + 4] as number,
      streamId: buf.readUInt32BE(at + 5) & 0x7fffffff, payload: buf.subarray(at + FRAME_HEADER_BYTES, end),
    });
  }
}

/**
 * A frame's payload without its padding (§6.1, §6.2): the PADDED flag's length byte, and for
 * HEADERS the PRIORITY flag's 5 bytes, removed.
 */
export function unpadded(f: Frame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & Flag.PADDED) {
    if (p.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    pad = p[0] as number;
    p = p.subarray(1);
  }
  if (f.type === FrameType.HEADERS && f.flags & Flag.PRIORITY) {
    if (p.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority fields truncated');
    p = p.subarray(5);
  }
  if (pad > p.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `padding of ${pad} bytes exceeds the payload`);
  return p.subarray(0, p.length - pad);
}

/** The SETTINGS values this code acts on (§6.5.2), validated; a field is absent when not sent. */
export interface PeerSettings {
  headerTableSize?: number;
  maxConcurrentStreams?: number;
  initialWindowSize?: number;
  maxFrameSize?: number;
}

/** Reads a SETTINGS frame that is not an ACK; throws ConnectionError on a malformed frame or value. */
export function readSettings(f: Frame): PeerSettings {
  if (f.streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
  if (f.payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6');
  const out: PeerSettings = {};
  for (let at = 0; at < f.payload.length; at += 6) {
    const id = f.payload.readUInt16BE(at);
    const value = f.payload.readUInt32BE(at + 2);
    if (id === Setting.HEADER_TABLE_SIZE) out.headerTableSize = value;
    else if (id === Setting.MAX_CONCURRENT_STREAMS) out.maxConcurrentStreams = value;
    else if (id === Setting.INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, `INITIAL_WINDOW_SIZE ${value}`);
      out.initialWindowSize = value;
    } else if (id === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `MAX_FRAME_SIZE ${value}`);
      out.maxFrameSize = value;
    } else if (id === Setting.ENABLE_PUSH && value > 1) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `ENABLE_PUSH ${value}`);
    }
    // The rest are advisory.
  }
  return out;
}

/** A WINDOW_UPDATE's increment (0 is the caller's error to report: stream or connection). */
export function readWindowIncrement(f: Frame): number {
  if (f.payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload is not 4 bytes');
  return f.payload.readUInt32BE(0) & 0x7fffffff;
}

/** A header block: HEADERS and any CONTINUATION frames, joined. `flags` are the HEADERS frame's. */
export interface HeaderBlock {
  readonly streamId: number;
  readonly flags: number;
  readonly block: Buffer;
}

/**
 * Joins HEADERS and CONTINUATION frames into header blocks (§6.10): nothing but CONTINUATION of the
 * same stream may come while a block is open, and a block may not grow past `maxBytes`.
 */
export class HeaderBlockReader {
  #open: { streamId: number; flags: number; parts: Buffer[]; bytes: number } | undefined;

  constructor(readonly maxBytes: number) {}

  /** Throws unless `f` may come now. Call for every frame before handling it. */
  check(f: Frame): void {
    const open = this.#open;
    if (open !== undefined && (f.type !== FrameType.CONTINUATION || f.streamId !== open.streamId)) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${f.type} inside a header block of stream ${open.streamId}`);
    }
  }

  /** A HEADERS or CONTINUATION frame; the complete block once END_HEADERS arrives, else undefined. */
  push(f: Frame): HeaderBlock | undefined {
    if (f.type === FrameType.HEADERS) {
      if (f.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
      const block = unpadded(f);
      if (f.flags & Flag.END_HEADERS) return { streamId: f.streamId, flags: f.flags, block };
      this.#open = { streamId: f.streamId, flags: f.flags, parts: [block], bytes: block.length };
      return undefined;
    }
    const open = this.#open;
    if (open === undefined) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    open.parts.push(f.payload);
    open.bytes += f.payload.length;
    if (open.bytes > this.maxBytes) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${this.maxBytes} bytes`);
    if ((f.flags & Flag.END_HEADERS) === 0) return undefined;
    this.#open = undefined;
    return { streamId: open.streamId, flags: open.flags, block: Buffer.concat(open.parts) };
  }
}
