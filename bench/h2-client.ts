/**
 * A lean gRPC unary client for the bench's hot path: HTTP/2 framed by hand over net.Socket.
 *
 * Why: the load client shares the machine's 2 cores with the server it measures. @grpc/grpc-js
 * spends about as much CPU per call as the server does, and node:http2's client still spends
 * ~85 us per call on its per-stream objects (Http2Stream, AsyncResource.bind, header objects),
 * which at ~5,000 calls/s is 0.4 of the machine's 2 cores taken from the server. perf_analyzer,
 * the reference tool, is a lean C++ client. This one does only what a unary call needs: a
 * HEADERS frame whose block is built once per method and connection (the fields every call
 * repeats go into the server's HPACK dynamic table, as nghttp2 does: h2-header-encoder.ts;
 * only grpc-timeout changes), one DATA frame with the length-prefixed message, and the response
 * message(s) and grpc-status trailer, decoded by the HPACK decoder the server uses too (src/server/h2/hpack.ts).
 * Both directions are flow-controlled per RFC 9113 §6.9; the socket is always read, so a write
 * blocked on a full peer never stops this side from reading (the deadlock grpc-transport.ts
 * describes). No retries, compression, metadata, TLS or server push.
 *
 * Calls are spread round-robin over a small pool of sessions (HTTP/2 connections). A session
 * never carries more streams than the peer's SETTINGS_MAX_CONCURRENT_STREAMS and takes no call
 * before the peer's SETTINGS arrive; calls beyond the pool's capacity wait in a local FIFO. A
 * session that fails (GOAWAY, socket error, protocol error) fails its calls and is replaced by a
 * fresh connection on the next call that needs its slot.
 */
import * as net from 'node:net';
import { status } from '@grpc/grpc-js';
import { SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../src/server/grpc-transport';
import { frameMessage, MESSAGE_PREFIX_BYTES, writeMessagePrefix } from '../src/server/grpc-wire';
import {
  ConnectionError, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, ErrorCode, Flag, type Frame, FRAME_HEADER_BYTES, FrameReader,
  FrameType, frame, goawayFrame, HeaderBlockReader, MAX_WINDOW, PREFACE, readSettings, readWindowIncrement,
  rstStreamFrame, Setting, settingsFrame, unpadded, windowUpdateFrame, writeFrameHeader,
} from '../src/server/h2/frames';
import { HpackDecoder, HpackError } from '../src/server/h2/hpack';
import { RequestHeaderEncoder } from './h2-header-encoder';

/** Called once per call: the gRPC status code (0 = OK), the error text, the response message. */
export type UnaryDone = (code: status, details: string | undefined, response: Buffer | undefined) => void;

export interface H2ClientOptions {
  /** HTTP/2 connections to spread calls over. */
  readonly sessions?: number;
}

const SOCKET_GONE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Client stream ids are odd and below 2^31. */
const LAST_STREAM_ID = 2 ** 31 - 1;
/** A response header block (HEADERS + CONTINUATION) larger than this is a connection error. */
const MAX_HEADER_BLOCK = 256 << 10;

// ---- gRPC wire format ------------------------------------------------------------------------

/** The length-prefixed messages in a response body, or why the body is malformed. */
export function unframeMessages(body: Buffer): Buffer[] | string {
  const out: Buffer[] = [];
  for (let off = 0; off < body.length;) {
    if (body.length - off < MESSAGE_PREFIX_BYTES) return `truncated message prefix (${body.length - off} bytes)`;
    // Never negotiated (no grpc-accept-encoding sent), so a compressed message is a peer bug.
    if (body[off] !== 0) return `message compressed (flag ${body[off]}) but no compression was negotiated`;
    const len = body.readUInt32BE(off + 1);
    const start = off + MESSAGE_PREFIX_BYTES;
    if (start + len > body.length) return `truncated message: ${body.length - start} of ${len} bytes`;
    out.push(body.subarray(start, start + len));
    off = start + len;
  }
  return out;
}

/** grpc-timeout: at most 8 digits, so long deadlines switch from milliseconds to seconds. */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  return whole < 1e8 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

/**
 * grpc-message is percent-encoded UTF-8. Each run of %XX escapes is decoded as one byte sequence
 * (a multi-byte character is one run); anything else, malformed escapes included, stays as is.
 */
export function decodeGrpcMessage(raw: string): string {
  if (!raw.includes('%')) return raw;
  return raw.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
}

/** grpc-status header → code; anything outside 0..16 is UNKNOWN. */
export function parseGrpcStatus(raw: string): status {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 16 ? (n as status) : status.UNKNOWN;
}

/** A non-200 response without grpc-status, mapped as the gRPC HTTP/2 spec (and grpc-js) do. */
export function statusFromHttp(httpStatus: number): status {
  switch (httpStatus) {
    case 400: return status.INTERNAL;
    case 401: return status.UNAUTHENTICATED;
    case 403: return status.PERMISSION_DENIED;
    case 404: return status.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return status.UNAVAILABLE;
    default: return status.UNKNOWN;
  }
}

// ---- sessions and calls ----------------------------------------------------------------------

interface Session {
  readonly socket: net.Socket;
  readonly reader: FrameReader;
  readonly hpack: HpackDecoder;
  /** Open streams: started here and not yet ended, reset or expired. */
  readonly streams: Map<number, Call>;
  nextStreamId: number;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS; 0 until its SETTINGS arrive. */
  maxStreams: number;
  /** Got the peer's SETTINGS: the connection was established. */
  ready: boolean;
  /** No new streams: it sent or got GOAWAY, failed or closed. */
  dead: boolean;
  /** Why it died, for the calls still on it: a GOAWAY code or a socket/protocol error. */
  goawayCode: number | undefined;
  /** The GOAWAY's debug data (the server's reason), '' when it gave none. */
  goawayReason: string;
  error: (Error & { code?: string }) | undefined;
  /** Flow control for what this side sends: the connection window and the peer's settings. */
  sendWindow: number;
  peerInitialWindow: number;
  peerMaxFrame: number;
  /** DATA bytes received and not yet given back with a connection WINDOW_UPDATE. */
  recvUnacked: number;
  /** Calls whose request body waits for window, in the order they were started. */
  blocked: Call[];
  /** HEADERS and CONTINUATION frames joined into blocks. */
  readonly blocks: HeaderBlockReader;
  /** Request header blocks, with this connection's HPACK dynamic table. */
  readonly headers: RequestHeaderEncoder;
  corked: boolean;
}

interface Call {
  readonly path: string;
  readonly message: Buffer;
  readonly deadlineAt: number;
  readonly done: UnaryDone;
  timer: NodeJS.Timeout | undefined;
  finished: boolean;
  session: Session | undefined;
  streamId: number;
  /** This stream's send window, and the framed request body not yet sent (rare: only when windows are short). */
  sendWindow: number;
  unsent: Buffer | undefined;
  /** Response state. */
  gotHeaders: boolean;
  httpStatus: number | undefined;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  chunks: Buffer[];
  recvUnacked: number;
}

/** "GOAWAY with code 11 (more than … streams reset …)": the code and the server's debug data. */
const goawayText = (s: Session): string =>
  `GOAWAY with code ${s.goawayCode}${s.goawayReason === '' ? '' : ` (${s.goawayReason})`}`;

export class H2Client {
  readonly #host: string;
  readonly #port: number;
  readonly #authority: string;
  readonly #slots: (Session | undefined)[];
  #next = 0;
  /** Calls waiting for a stream slot; entries whose deadline passed are skipped when reached. */
  #queue: Call[] = [];
  #queueHead = 0;
  #closed = false;

  constructor(address: string, o: H2ClientOptions = {}) {
    const colon = address.lastIndexOf(':');
    this.#host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(address.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(this.#port) || this.#port < 0 || this.#port > 65535) {
      throw new RangeError(`address must be host:port, got '${address}'`);
    }
    this.#authority = address;
    const n = o.sessions ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`sessions must be a positive integer, got ${n}`);
    this.#slots = new Array<Session | undefined>(n).fill(undefined);
  }

  /** One unary call of `path` (e.g. '/inference.GRPCInferenceService/ModelInfer') with a serialized request. */
  unary(path: string, message: Buffer, deadlineMs: number, done: UnaryDone): void {
    if (this.#closed) {
      done(status.UNAVAILABLE, 'client is closed', undefined);
      return;
    }
    const call: Call = {
      path, message, deadlineAt: performance.now() + deadlineMs, done, timer: undefined, finished: false,
      session: undefined, streamId: 0, sendWindow: 0, unsent: undefined,
      gotHeaders: false, httpStatus: undefined, grpcStatus: undefined, grpcMessage: undefined, chunks: [], recvUnacked: 0,
    };
    // Local too, not only grpc-timeout: a server that never answers (or a call still queued
    // here) must not outlive its deadline.
    call.timer = setTimeout(() => this.#expire(call), deadlineMs);
    const s = this.#pick();
    if (s === undefined) this.#queue.push(call);
    else this.#start(s, call);
  }

  /** Closes every session once its streams end; calls still queued fail CANCELLED. */
  close(): void {
    this.#closed = true;
    this.#failQueued(status.CANCELLED, 'client closed');
    for (const s of this.#slots) {
      if (s === undefined) continue;
      s.dead = true;
      if (s.streams.size === 0) this.#end(s);
    }
  }

  /** Round-robin over the slots with a free stream, (re)connecting an empty or dead slot. */
  #pick(): Session | undefined {
    const n = this.#slots.length;
    for (let i = 0; i < n; i++) {
      const slot = (this.#next + i) % n;
      let s = this.#slots[slot];
      if (s === undefined || s.dead) this.#slots[slot] = s = this.#connect();
      if (s.streams.size < s.maxStreams) {
        this.#next = slot + 1;
        return s;
      }
    }
    return undefined;
  }

  #connect(): Session {
    const socket = net.connect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    // Pending calls hold ref'd deadline timers; an idle connection must not keep the process alive.
    socket.unref();
    const s: Session = {
      socket, reader: new FrameReader(), hpack: new HpackDecoder(), streams: new Map(), nextStreamId: 1,
      maxStreams: 0, ready: false, dead: false, goawayCode: undefined, goawayReason: '', error: undefined,
      sendWindow: DEFAULT_WINDOW, peerInitialWindow: DEFAULT_WINDOW, peerMaxFrame: DEFAULT_MAX_FRAME,
      recvUnacked: 0, blocked: [], blocks: new HeaderBlockReader(MAX_HEADER_BLOCK), headers: new RequestHeaderEncoder(this.#authority),
      corked: false,
    };
    // Windows for the answers as grpc-js's 'grpc-node.flow_control_window' sets them: with
    // HTTP/2's 64 KiB default, answers would wait for a WINDOW_UPDATE round trip every ~30
    // one-row MLP answers, and the bench would measure its own flow control.
    this.#write(s, PREFACE);
    this.#write(s, settingsFrame([[Setting.ENABLE_PUSH, 0], [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES]]));
    this.#write(s, windowUpdateFrame(0, SESSION_WINDOW_BYTES - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => {
      try {
        s.reader.push(chunk, (f) => this.#onFrame(s, f));
      } catch (e) {
        if (e instanceof ConnectionError) this.#connectionError(s, e.h2Code, e.message);
        else if (e instanceof HpackError) this.#connectionError(s, ErrorCode.COMPRESSION_ERROR, e.message);
        else throw e;
      }
    });
    socket.on('error', (e: Error) => { s.error ??= e; s.dead = true; });
    socket.on('close', () => this.#onClose(s));
    return s;
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** Writes coalesce until the end of the current tick: one writev for all the tick's frames. */
  #write(s: Session, buf: Buffer): void {
    if (s.socket.destroyed) return;
    if (!s.corked) {
      s.corked = true;
      s.socket.cork();
      process.nextTick(() => { s.corked = false; s.socket.uncork(); });
    }
    s.socket.write(buf);
  }

  #start(s: Session, call: Call): void {
    const fixed = s.headers.prefix(call.path);
    const timeout = s.headers.timeoutField(grpcTimeout(call.deadlineAt - performance.now()));
    const blockLen = fixed.length + timeout.length;
    // Never with a real peer (16 KiB at least; the block is ~120 bytes), so no CONTINUATION here.
    if (blockLen > s.peerMaxFrame) {
      // The block may have added to the peer's table, which now differs from the encoder's.
      s.dead = true;
      this.#finish(call, status.INTERNAL, `request header block of ${blockLen} bytes exceeds the peer's frame size`, undefined);
      return;
    }
    const id = s.nextStreamId;
    s.nextStreamId += 2;
    // Ids run out after 2^30 calls: the session takes no more and is replaced.
    if (s.nextStreamId > LAST_STREAM_ID) s.dead = true;
    s.streams.set(id, call);
    call.session = s;
    call.streamId = id;
    call.sendWindow = s.peerInitialWindow;
    const bodyLen = MESSAGE_PREFIX_BYTES + call.message.length;
    // The common case: the whole body fits the windows and one frame. HEADERS, the DATA frame's
    // header and the gRPC message prefix go out as one buffer, the message itself as another.
    const inline = bodyLen <= s.sendWindow && bodyLen <= call.sendWindow && bodyLen <= s.peerMaxFrame;
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + blockLen + (inline ? FRAME_HEADER_BYTES + MESSAGE_PREFIX_BYTES : 0));
    writeFrameHeader(out, 0, blockLen, FrameType.HEADERS, Flag.END_HEADERS, id);
    fixed.copy(out, FRAME_HEADER_BYTES);
    timeout.copy(out, FRAME_HEADER_BYTES + fixed.length);
    if (!inline) {
      this.#write(s, out);
      call.unsent = frameMessage(call.message);
      s.blocked.push(call);
      this.#flush(s);
      return;
    }
    const at = FRAME_HEADER_BYTES + blockLen;
    writeMessagePrefix(out, writeFrameHeader(out, at, bodyLen, FrameType.DATA, Flag.END_STREAM, id), call.message.length);
    s.sendWindow -= bodyLen;
    call.sendWindow -= bodyLen;
    this.#write(s, out);
    if (call.message.length > 0) this.#write(s, call.message);
  }

  /** Sends what the windows allow of the bodies that wait, oldest first. */
  #flush(s: Session): void {
    let i = 0;
    while (i < s.blocked.length && s.sendWindow > 0) {
      const call = s.blocked[i] as Call;
      const rest = call.unsent as Buffer;
      // A window may be negative after SETTINGS shrank it (§6.9.2): nothing goes out until it refills.
      const n = Math.min(rest.length, s.sendWindow, call.sendWindow, s.peerMaxFrame);
      if (n <= 0 && rest.length > 0) {
        i++;
        continue;
      }
      const last = n === rest.length;
      this.#write(s, frame(FrameType.DATA, last ? Flag.END_STREAM : 0, call.streamId, rest.subarray(0, n)));
      s.sendWindow -= n;
      call.sendWindow -= n;
      if (last) {
        call.unsent = undefined;
        s.blocked.splice(i, 1);
      } else {
        call.unsent = rest.subarray(n);
      }
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  #onFrame(s: Session, f: Frame): void {
    s.blocks.check(f);
    switch (f.type) {
      case FrameType.DATA: return this.#onData(s, f);
      case FrameType.HEADERS:
      case FrameType.CONTINUATION: {
        const b = s.blocks.push(f);
        if (b !== undefined) this.#onHeaderBlock(s, b.streamId, b.flags, b.block);
        return;
      }
      case FrameType.RST_STREAM: {
        if (f.payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
        const call = s.streams.get(f.streamId);
        if (call !== undefined) this.#endStream(s, call, f.payload.readUInt32BE(0));
        return;
      }
      case FrameType.SETTINGS: return this.#onSettings(s, f);
      case FrameType.PING:
        if (f.payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if ((f.flags & Flag.ACK) === 0) this.#write(s, frame(FrameType.PING, Flag.ACK, 0, f.payload));
        return;
      case FrameType.GOAWAY: return this.#onGoaway(s, f);
      case FrameType.WINDOW_UPDATE: return this.#onWindowUpdate(s, f);
      case FrameType.PUSH_PROMISE: throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
      default: // PRIORITY and unknown frame types are ignored (RFC 9113 §5.5).
    }
  }

  #onData(s: Session, f: Frame): void {
    if (f.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    // The whole payload, padding included, counts against the windows (§6.9.1), and is given
    // back even for a stream that is no longer open here (expired, reset).
    s.recvUnacked += f.payload.length;
    if (s.recvUnacked >= SESSION_WINDOW_BYTES / 2) {
      this.#write(s, windowUpdateFrame(0, s.recvUnacked));
      s.recvUnacked = 0;
    }
    const call = s.streams.get(f.streamId);
    if (call === undefined) return;
    const data = unpadded(f);
    if (data.length > 0) call.chunks.push(data);
    if (f.flags & Flag.END_STREAM) return this.#endStream(s, call, undefined);
    call.recvUnacked += f.payload.length;
    if (call.recvUnacked >= STREAM_WINDOW_BYTES / 2) {
      this.#write(s, windowUpdateFrame(call.streamId, call.recvUnacked));
      call.recvUnacked = 0;
    }
  }

  #onHeaderBlock(s: Session, streamId: number, flags: number, block: Buffer): void {
    // Decoded even when the stream is gone here: the dynamic table must follow every block.
    const fields = s.hpack.decode(block);
    const call = s.streams.get(streamId);
    if (call === undefined) return;
    const trailers = call.gotHeaders;
    call.gotHeaders = true;
    for (const [name, value] of fields) {
      if (name === ':status' && !trailers) call.httpStatus = Number(value);
      else if (name === 'grpc-status') call.grpcStatus = value;
      else if (name === 'grpc-message') call.grpcMessage = value;
    }
    if (flags & Flag.END_STREAM) this.#endStream(s, call, undefined);
    else if (trailers) {
      this.#write(s, rstStreamFrame(streamId, ErrorCode.PROTOCOL_ERROR));
      this.#closeStream(s, call);
      this.#finish(call, status.INTERNAL, 'trailers without END_STREAM', undefined);
      this.#drain();
    }
  }

  #onSettings(s: Session, f: Frame): void {
    if (f.flags & Flag.ACK) {
      if (f.payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    const settings = readSettings(f);
    if (settings.maxConcurrentStreams !== undefined) s.maxStreams = settings.maxConcurrentStreams;
    else if (!s.ready) s.maxStreams = Number.POSITIVE_INFINITY;
    if (settings.initialWindowSize !== undefined) {
      // §6.9.2: a change applies to every open stream's window.
      const delta = settings.initialWindowSize - s.peerInitialWindow;
      s.peerInitialWindow = settings.initialWindowSize;
      for (const call of s.streams.values()) call.sendWindow += delta;
    }
    if (settings.maxFrameSize !== undefined) s.peerMaxFrame = settings.maxFrameSize;
    if (settings.headerTableSize !== undefined) s.headers.setPeerTableSize(settings.headerTableSize);
    this.#write(s, frame(FrameType.SETTINGS, Flag.ACK, 0));
    s.ready = true;
    this.#flush(s);
    this.#drain();
  }

  #onGoaway(s: Session, f: Frame): void {
    if (f.streamId !== 0 || f.payload.length < 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'malformed GOAWAY');
    const last = f.payload.readUInt32BE(0) & 0x7fffffff;
    s.goawayCode = f.payload.readUInt32BE(4);
    s.goawayReason = f.payload.subarray(8).toString('utf8');
    s.dead = true;
    // Streams above the last one the server processed never reached it: retryable.
    for (const call of [...s.streams.values()]) {
      if (call.streamId <= last) continue;
      this.#closeStream(s, call);
      this.#finish(call, status.UNAVAILABLE, `stream not processed: ${goawayText(s)}`, undefined);
    }
    if (s.streams.size === 0) this.#end(s);
    this.#drain();
  }

  #onWindowUpdate(s: Session, f: Frame): void {
    const inc = readWindowIncrement(f);
    if (f.streamId === 0) {
      if (inc === 0 || s.sendWindow + inc > MAX_WINDOW) {
        throw new ConnectionError(inc === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR, `connection WINDOW_UPDATE of ${inc}`);
      }
      s.sendWindow += inc;
    } else {
      const call = s.streams.get(f.streamId);
      if (call === undefined) return;
      if (inc === 0 || call.sendWindow + inc > MAX_WINDOW) {
        this.#write(s, rstStreamFrame(call.streamId, inc === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR));
        this.#closeStream(s, call);
        this.#finish(call, status.INTERNAL, `stream WINDOW_UPDATE of ${inc}`, undefined);
        this.#drain();
        return;
      }
      call.sendWindow += inc;
    }
    this.#flush(s);
  }

  // ---- ending calls and sessions ---------------------------------------------------------------

  /** The stream ended: END_STREAM from the server (rstCode undefined) or RST_STREAM. */
  #endStream(s: Session, call: Call, rstCode: number | undefined): void {
    // The server answered before the whole body went out (a refusal at the headers): stop sending.
    if (rstCode === undefined && call.unsent !== undefined) this.#write(s, rstStreamFrame(call.streamId, ErrorCode.CANCEL));
    this.#closeStream(s, call);
    if (call.grpcStatus !== undefined && rstCode === undefined) {
      const code = parseGrpcStatus(call.grpcStatus);
      if (code !== status.OK) this.#finish(call, code, decodeGrpcMessage(call.grpcMessage ?? ''), undefined);
      else this.#finishOk(call);
    } else {
      const [code, details] = this.#noStatus(call, rstCode);
      this.#finish(call, code, details, undefined);
    }
    this.#drain();
  }

  /** Forgets an open stream here (its session may then end); does not answer the call. */
  #closeStream(s: Session, call: Call): void {
    s.streams.delete(call.streamId);
    if (call.unsent !== undefined) {
      call.unsent = undefined;
      const i = s.blocked.indexOf(call);
      if (i >= 0) s.blocked.splice(i, 1);
    }
    if (s.dead && s.streams.size === 0) this.#end(s);
  }

  #finishOk(call: Call): void {
    const body = call.chunks.length === 1 ? (call.chunks[0] as Buffer) : Buffer.concat(call.chunks);
    const messages = unframeMessages(body);
    if (typeof messages === 'string') this.#finish(call, status.INTERNAL, messages, undefined);
    else if (messages.length !== 1) {
      this.#finish(call, status.INTERNAL, `unary call got ${messages.length} response messages`, undefined);
    } else this.#finish(call, status.OK, undefined, messages[0]);
  }

  /** A stream that ended without grpc-status: why, as grpc-js would report it. */
  #noStatus(call: Call, rstCode: number | undefined): [status, string] {
    if (rstCode === ErrorCode.REFUSED_STREAM) return [status.UNAVAILABLE, 'stream refused by server'];
    if (rstCode === ErrorCode.ENHANCE_YOUR_CALM) return [status.RESOURCE_EXHAUSTED, 'RST_STREAM ENHANCE_YOUR_CALM'];
    if (rstCode === ErrorCode.INADEQUATE_SECURITY) return [status.PERMISSION_DENIED, 'RST_STREAM INADEQUATE_SECURITY'];
    if (rstCode === ErrorCode.CANCEL) return [status.CANCELLED, 'RST_STREAM CANCEL'];
    if (call.httpStatus !== undefined && call.httpStatus !== 200) {
      return [statusFromHttp(call.httpStatus), `HTTP status ${call.httpStatus}`];
    }
    if (rstCode !== undefined) return [status.INTERNAL, `stream closed with RST_STREAM code ${rstCode} and no grpc-status`];
    return [status.INTERNAL, 'stream ended without grpc-status'];
  }

  /** A session that is gone: why, for the calls still open on it. */
  #sessionGone(s: Session): [status, string] {
    const e = s.error;
    if (s.goawayCode !== undefined) {
      // A server shutting down (NO_ERROR, or CANCEL from grpc-js's forceShutdown) is UNAVAILABLE,
      // i.e. retryable; an error GOAWAY (an overloaded node server drops a connection whose
      // streams keep being reset with INTERNAL_ERROR) is a failure, as grpc-js reports it.
      const shutdown = s.goawayCode === ErrorCode.NO_ERROR || s.goawayCode === ErrorCode.CANCEL;
      return [shutdown ? status.UNAVAILABLE : status.INTERNAL,
        `connection closed by ${goawayText(s)}${e === undefined ? '' : `: ${e.message}`}`];
    }
    if (e instanceof ConnectionError) return [status.INTERNAL, `HTTP/2 protocol error from the server: ${e.message}`];
    if (e === undefined || (e.code !== undefined && SOCKET_GONE.has(e.code))) {
      return [status.UNAVAILABLE, `connection dropped${e === undefined ? '' : `: ${e.message}`}`];
    }
    return [status.INTERNAL, `session failed: ${e.message}`];
  }

  /** The peer broke the protocol: GOAWAY with its code, and every call on the session fails. */
  #connectionError(s: Session, code: number, message: string): void {
    s.error ??= new ConnectionError(code, message);
    s.dead = true;
    s.socket.end(goawayFrame(0, code, message));
    s.socket.destroySoon();
    this.#failStreams(s);
  }

  #onClose(s: Session): void {
    s.dead = true;
    this.#failStreams(s);
    // Never connected (refused, unreachable): fail what waits rather than reconnect in a loop
    // until the deadlines pass; like grpc-js without waitForReady, the calls fail UNAVAILABLE.
    if (!s.ready) this.#failQueued(status.UNAVAILABLE, `cannot connect: ${s.error?.message ?? 'connection closed'}`);
    this.#drain();
  }

  #failStreams(s: Session): void {
    if (s.streams.size === 0) return;
    const [code, details] = this.#sessionGone(s);
    const open = [...s.streams.values()];
    s.streams.clear();
    s.blocked = [];
    for (const call of open) this.#finish(call, code, details, undefined);
  }

  /** Ends a session with no open streams: GOAWAY NO_ERROR, then the socket. */
  #end(s: Session): void {
    if (s.socket.destroyed || s.socket.writableEnded) return;
    s.socket.end(goawayFrame(s.nextStreamId > 1 ? s.nextStreamId - 2 : 0, ErrorCode.NO_ERROR));
  }

  #expire(call: Call): void {
    if (call.finished) return;
    call.timer = undefined;
    // A started call is cancelled on the wire (the server may drop its work); a queued one is
    // simply skipped when the queue reaches it.
    const s = call.session;
    if (s !== undefined && s.streams.get(call.streamId) === call) {
      this.#write(s, rstStreamFrame(call.streamId, ErrorCode.CANCEL));
      this.#closeStream(s, call);
    }
    this.#finish(call, status.DEADLINE_EXCEEDED, 'Deadline exceeded', undefined);
    this.#drain();
  }

  #finish(call: Call, code: status, details: string | undefined, response: Buffer | undefined): void {
    if (call.finished) return;
    call.finished = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    call.chunks = [];
    call.done(code, details, response);
  }

  #failQueued(code: status, details: string): void {
    const waiting = this.#queue.slice(this.#queueHead);
    this.#queue = [];
    this.#queueHead = 0;
    for (const call of waiting) this.#finish(call, code, details, undefined);
  }

  /** Starts queued calls while some session has a free stream. */
  #drain(): void {
    while (this.#queueHead < this.#queue.length && !this.#closed) {
      const call = this.#queue[this.#queueHead] as Call;
      if (!call.finished) {
        const s = this.#pick();
        if (s === undefined) break;
        this.#start(s, call);
      }
      this.#queueHead++;
    }
    // Compact now and then so a long-lived queue does not grow without bound.
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }
}
