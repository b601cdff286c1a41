/**
 * A lean gRPC unary client written directly on node:http2, for the bench's hot path.
 *
 * Why: the load client shares the machine's 2 cores with the server it measures, and
 * @grpc/grpc-js spends about as much CPU per call as the server does (channel, resolver and
 * picker layers, interceptors, Metadata objects, per-call state machines). perf_analyzer, the
 * reference tool, is a lean C++ client. This one does only what a unary call over an
 * established connection needs: HEADERS, one length-prefixed DATA message, the response
 * message(s) and the grpc-status trailer. No retries, compression, metadata or TLS.
 *
 * Calls are spread round-robin over a small pool of sessions (HTTP/2 connections). A session
 * never carries more streams than the peer's SETTINGS_MAX_CONCURRENT_STREAMS; calls beyond the
 * pool's capacity wait in a local FIFO. A session that fails (GOAWAY, socket error) fails its
 * calls and is replaced by a fresh connection on the next call that needs its slot.
 */
import * as http2 from 'node:http2';
import { status } from '@grpc/grpc-js';
import { SESSION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../src/server/grpc-transport';

/** Called once per call: the gRPC status code (0 = OK), the error text, the response message. */
export type UnaryDone = (code: status, details: string | undefined, response: Buffer | undefined) => void;

export interface H2ClientOptions {
  /** HTTP/2 connections to spread calls over. */
  readonly sessions?: number;
}

const {
  NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY,
  HTTP2_HEADER_STATUS,
} = http2.constants;

const SOCKET_GONE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

// ---- gRPC wire format ------------------------------------------------------------------------

/** The 5-byte message prefix (0 = uncompressed, u32 BE length) followed by the message. */
export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** The length-prefixed messages in a response body, or why the body is malformed. */
export function unframeMessages(body: Buffer): Buffer[] | string {
  const out: Buffer[] = [];
  for (let off = 0; off < body.length;) {
    if (body.length - off < 5) return `truncated message prefix (${body.length - off} bytes)`;
    // Never negotiated (no grpc-accept-encoding sent), so a compressed message is a peer bug.
    if (body[off] !== 0) return `message compressed (flag ${body[off]}) but no compression was negotiated`;
    const len = body.readUInt32BE(off + 1);
    if (off + 5 + len > body.length) return `truncated message: ${body.length - off - 5} of ${len} bytes`;
    out.push(body.subarray(off + 5, off + 5 + len));
    off += 5 + len;
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
  readonly h2: http2.ClientHttp2Session;
  active: number;
  /**
   * The peer's SETTINGS_MAX_CONCURRENT_STREAMS; 0 until its SETTINGS arrive. Streams opened
   * before then would be sent against nghttp2's guess (100), and a peer with a lower limit
   * refuses the excess, so a new session takes no call until the first round trip is done.
   */
  maxStreams: number;
  /** Got the peer's SETTINGS: the connection was established. */
  ready: boolean;
  /** No new streams: it sent or got GOAWAY, failed or closed. */
  dead: boolean;
  /** Why it died, for the calls still on it: a GOAWAY code or a socket/session error. */
  goawayCode: number | undefined;
  error: (Error & { code?: string }) | undefined;
}

interface Call {
  readonly path: string;
  readonly framed: Buffer;
  readonly deadlineAt: number;
  readonly done: UnaryDone;
  timer: NodeJS.Timeout | undefined;
  stream: http2.ClientHttp2Stream | undefined;
  finished: boolean;
}

export class H2Client {
  readonly #authority: string;
  readonly #slots: (Session | undefined)[];
  #next = 0;
  /** Calls waiting for a stream slot; entries whose deadline passed are skipped when reached. */
  #queue: Call[] = [];
  #queueHead = 0;
  #closed = false;

  constructor(address: string, o: H2ClientOptions = {}) {
    this.#authority = `http://${address}`;
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
    const call: Call = { path, framed: frameMessage(message), deadlineAt: performance.now() + deadlineMs, done,
      timer: undefined, stream: undefined, finished: false };
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
    for (const s of this.#slots) if (s !== undefined && !s.h2.closed) s.h2.close();
  }

  /** Round-robin over the slots with a free stream, (re)connecting an empty or dead slot. */
  #pick(): Session | undefined {
    const n = this.#slots.length;
    for (let i = 0; i < n; i++) {
      const slot = (this.#next + i) % n;
      let s = this.#slots[slot];
      if (s === undefined || s.dead) this.#slots[slot] = s = this.#connect();
      if (s.active < s.maxStreams) {
        this.#next = slot + 1;
        return s;
      }
    }
    return undefined;
  }

  #connect(): Session {
    const h2 = http2.connect(this.#authority, {
      // Flow-control windows for the answers, as grpc-js's 'grpc-node.flow_control_window' sets
      // them (and grpc core's BDP probing grows them): with HTTP/2's 64 KiB default, answers
      // would queue in the server for a WINDOW_UPDATE round trip through this busy event loop
      // every ~30 one-row MLP answers, and the bench would measure its own flow control.
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
      // Node caps what one session may hold (10 MB by default) and refuses streams beyond it;
      // the thousands of streams outstanding under overload must not hit that cap before the
      // server does. grpc-js lifts it the same way.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    h2.once('connect', () => h2.setLocalWindowSize(SESSION_WINDOW_BYTES));
    const s: Session = { h2, active: 0, maxStreams: 0, ready: false, dead: false, goawayCode: undefined, error: undefined };
    // Pending calls hold ref'd deadline timers; an idle connection must not keep the process alive.
    h2.unref();
    h2.on('remoteSettings', (settings) => {
      s.ready = true;
      s.maxStreams = settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
      this.#drain();
    });
    h2.on('goaway', (code) => { s.dead = true; s.goawayCode = code; });
    h2.on('error', (e: Error) => { s.dead = true; s.error = e; });
    h2.on('close', () => {
      s.dead = true;
      // Never connected (refused, unreachable): fail what waits rather than reconnect in a loop
      // until the deadlines pass; like grpc-js without waitForReady, the calls fail UNAVAILABLE.
      if (!s.ready) this.#failQueued(status.UNAVAILABLE, `cannot connect: ${s.error?.message ?? 'connection closed'}`);
      this.#drain();
    });
    return s;
  }

  #start(s: Session, call: Call): void {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST', ':path': call.path, 'content-type': 'application/grpc', te: 'trailers',
      'grpc-timeout': grpcTimeout(call.deadlineAt - performance.now()),
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = s.h2.request(headers);
    } catch (e) {
      // The session went away between the events that would have marked it dead and now.
      s.dead = true;
      this.#finish(call, status.UNAVAILABLE, `no stream: ${(e as Error).message}`, undefined);
      return;
    }
    s.active++;
    call.stream = stream;
    let httpStatus: number | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    let streamError: (Error & { code?: string }) | undefined;
    const chunks: Buffer[] = [];
    // Trailers-only responses carry the status in the response headers.
    const readStatus = (h: http2.IncomingHttpHeaders): void => {
      const st = h['grpc-status'];
      if (typeof st === 'string') {
        grpcStatus = st;
        const m = h['grpc-message'];
        grpcMessage = typeof m === 'string' ? m : undefined;
      }
    };
    stream.on('response', (h) => { httpStatus = h[HTTP2_HEADER_STATUS] as number | undefined; readStatus(h); });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('trailers', readStatus);
    stream.on('error', (e: Error) => { streamError = e; });
    // 'close' comes after the last 'data' and 'trailers' and after any 'error': the one place
    // where everything the call will ever get is known.
    stream.on('close', () => {
      s.active--;
      if (call.finished) {
        // Its deadline already answered it.
      } else if (grpcStatus !== undefined) {
        const code = parseGrpcStatus(grpcStatus);
        if (code !== status.OK) this.#finish(call, code, decodeGrpcMessage(grpcMessage ?? ''), undefined);
        else this.#finishOk(call, chunks);
      } else {
        const [code, details] = this.#noStatus(s, stream.rstCode, httpStatus, streamError);
        this.#finish(call, code, details, undefined);
      }
      this.#drain();
    });
    stream.end(call.framed);
  }

  #finishOk(call: Call, chunks: Buffer[]): void {
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    const messages = unframeMessages(body);
    if (typeof messages === 'string') this.#finish(call, status.INTERNAL, messages, undefined);
    else if (messages.length !== 1) {
      this.#finish(call, status.INTERNAL, `unary call got ${messages.length} response messages`, undefined);
    } else this.#finish(call, status.OK, undefined, messages[0]);
  }

  /** A stream that ended without grpc-status: why, as grpc-js would report it. */
  #noStatus(s: Session, rstCode: number | undefined, httpStatus: number | undefined,
    err: (Error & { code?: string }) | undefined): [status, string] {
    if (rstCode === NGHTTP2_REFUSED_STREAM) return [status.UNAVAILABLE, 'stream refused by server'];
    if (s.goawayCode !== undefined) {
      // A server shutting down (NO_ERROR, or CANCEL from grpc-js's forceShutdown) is UNAVAILABLE,
      // i.e. retryable; an error GOAWAY (the bench sees INTERNAL_ERROR when an overloaded node
      // server drops a connection whose streams keep being reset) is a failure, and grpc-js
      // reports it INTERNAL too.
      const shutdown = s.goawayCode === NGHTTP2_NO_ERROR || s.goawayCode === NGHTTP2_CANCEL;
      return [shutdown ? status.UNAVAILABLE : status.INTERNAL,
        `connection closed by GOAWAY with code ${s.goawayCode}${err === undefined ? '' : `: ${err.message}`}`];
    }
    const cause = err ?? s.error;
    for (const e of [err, s.error]) if (e?.code !== undefined && SOCKET_GONE.has(e.code)) return [status.UNAVAILABLE, e.message];
    if (httpStatus !== undefined && httpStatus !== 200) return [statusFromHttp(httpStatus), `HTTP status ${httpStatus}`];
    if (rstCode === NGHTTP2_ENHANCE_YOUR_CALM) return [status.RESOURCE_EXHAUSTED, 'RST_STREAM ENHANCE_YOUR_CALM'];
    if (rstCode === NGHTTP2_INADEQUATE_SECURITY) return [status.PERMISSION_DENIED, 'RST_STREAM INADEQUATE_SECURITY'];
    if (rstCode === NGHTTP2_CANCEL) {
      return s.dead ? [status.UNAVAILABLE, `connection dropped${cause === undefined ? '' : `: ${cause.message}`}`]
        : [status.CANCELLED, 'RST_STREAM CANCEL'];
    }
    if (s.dead && cause !== undefined) return [status.INTERNAL, `session failed: ${cause.message}`];
    return [status.INTERNAL, `stream closed with RST_STREAM code ${rstCode ?? '?'} and no grpc-status`];
  }

  #expire(call: Call): void {
    if (call.finished) return;
    // A started call is cancelled on the wire (the server may drop its work); a queued one is
    // simply skipped when the queue reaches it.
    if (call.stream !== undefined && !call.stream.closed) call.stream.close(NGHTTP2_CANCEL);
    call.timer = undefined;
    this.#finish(call, status.DEADLINE_EXCEEDED, 'Deadline exceeded', undefined);
  }

  #finish(call: Call, code: status, details: string | undefined, response: Buffer | undefined): void {
    if (call.finished) return;
    call.finished = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
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
