import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { SluiceError, toSluiceError } from '../runtime/status';
import type { CancelListener, CancelSignal } from '../runtime/types';
import type { CallLimit } from './call-limit';
import { ACCEPT_ENCODING, MessageReader, encodeGrpcMessage, frameMessage, parseGrpcTimeout } from './grpc-wire';

/**
 * A gRPC server written directly on node:http2: unary, server-streaming and bidi-streaming calls
 * whose messages are raw Buffers (handlers decode them). It replaces @grpc/grpc-js on the serving
 * side because every request pays for the transport on the one JS thread: grpc-js costs ~70-85 µs
 * of server CPU per unary call here, a direct exchange about half (DESIGN.md, "Performance model").
 *
 * What it does: POST + application/grpc checks, routing by :path (UNIMPLEMENTED otherwise),
 * message framing and size limits, gzip/deflate requests, grpc-timeout deadlines (the handler's
 * signal aborts and the call ends DEADLINE_EXCEEDED), client cancellation (RST_STREAM aborts the
 * signal), trailers-only error responses, graceful shutdown with GOAWAY.
 */

const { HTTP2_HEADER_PATH, HTTP2_HEADER_METHOD, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_STATUS, NGHTTP2_NO_ERROR } = http2.constants;

/** Per call: aborted (with a SluiceError reason) when the client cancels or the deadline passes. */
export interface CallContext {
  readonly signal: CancelSignal;
  /** ms since the epoch; Infinity without grpc-timeout. */
  readonly deadline: number;
}

export type UnaryHandler = (request: Buffer, ctx: CallContext) => Buffer | Promise<Buffer>;

/** The writing side of a streaming call. Writes after the call ended are dropped. */
export interface StreamWriter {
  write(message: Buffer): void;
  /** Ends the call with OK, or with `error`'s status. */
  end(error?: unknown): void;
}

/** Server streaming: one request, then any number of writes. */
export type ServerStreamHandler = (request: Buffer, ctx: CallContext, out: StreamWriter) => void;

/** Bidi streaming: `onMessage` per request message; `onEnd` once the client half-closes. */
export interface BidiHandlers {
  onMessage(message: Buffer): void;
  onEnd(): void;
}
export type BidiHandler = (ctx: CallContext, out: StreamWriter) => BidiHandlers;

export type Method =
  /** `limit`: calls of the method beyond it are refused as soon as their headers arrive. */
  | { readonly kind: 'unary'; readonly handler: UnaryHandler; readonly limit?: CallLimit }
  | { readonly kind: 'serverStream'; readonly handler: ServerStreamHandler }
  | { readonly kind: 'bidi'; readonly handler: BidiHandler };

export interface GrpcTransportOptions {
  /** Largest request message (after decompression), bytes. */
  readonly maxMessageBytes: number;
}

/**
 * A client's own deadline timer fires (and resets the stream) slightly before the server's copy of
 * the deadline, which is later by the transit time: a cancel this close to the deadline is it.
 */
const DEADLINE_SLACK_MS = 20;

const MAX_TIMER_MS = 2 ** 31 - 1;

const cancelledError = (): SluiceError => new SluiceError('CANCELLED', 'request cancelled by the client');
const deadlineError = (): SluiceError => new SluiceError('DEADLINE_EXCEEDED', 'the request deadline passed before it completed');

const RESPONSE_HEADERS = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
  'grpc-accept-encoding': ACCEPT_ENCODING,
});
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

function statusHeaders(error: unknown): http2.OutgoingHttpHeaders {
  const err = toSluiceError(error);
  return { 'grpc-status': String(err.grpcCode), 'grpc-message': encodeGrpcMessage(err.message) };
}

/** Trailers-only answers to refusals, per error (the call limit reuses one error for all). */
const REFUSALS = new WeakMap<SluiceError, http2.OutgoingHttpHeaders>();

/**
 * Refuses a call before reading its request: a trailers-only answer with the error's status, sent
 * at once, with no per-call state (no Call, no deadline timer): this is the path that runs when
 * the server is already overloaded.
 */
function refuse(stream: http2.ServerHttp2Stream, error: SluiceError): void {
  let headers = REFUSALS.get(error);
  if (headers === undefined) {
    headers = Object.freeze({ ...RESPONSE_HEADERS, ...statusHeaders(error) });
    REFUSALS.set(error, headers);
  }
  stream.on('error', () => undefined);
  stream.respond(headers, { endStream: true });
  // The body is dropped as it arrives.
  stream.resume();
  setImmediate(resetIfOpen, stream);
}

/**
 * RST_STREAM NO_ERROR tells a client still sending a body that nobody will read it (as gRPC's
 * HTTP/2 protocol allows). Node flushes the socket on every reset, one write per refusal, so it
 * is sent only where it is needed: a unary client that sent HEADERS and its whole body together
 * has ended its side by the next turn of the event loop, and the stream is closed by then.
 */
function resetIfOpen(stream: http2.ServerHttp2Stream): void {
  if (!stream.destroyed && !stream.closed && !stream.readableEnded) stream.close(NGHTTP2_NO_ERROR);
}

/**
 * A call's cancel signal: the part of AbortSignal the runtime uses, without an EventTarget per
 * request. Listeners run once, in order, when the call is cancelled or its deadline passes.
 */
class CallSignal implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: CancelListener[] | undefined;

  addEventListener(_type: 'abort', listener: CancelListener): void {
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: CancelListener): void {
    const i = this.#listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.#listeners?.splice(i, 1);
  }

  abort(reason: SluiceError): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners ?? [];
    this.#listeners = undefined;
    for (const l of listeners) l.handleEvent();
  }
}

/** One gRPC call on one HTTP/2 stream. */
class Call implements StreamWriter, CallContext {
  readonly signal = new CallSignal();
  private timer: NodeJS.Timeout | undefined;
  private responded = false;
  private ended = false;

  constructor(private readonly stream: http2.ServerHttp2Stream, readonly deadline: number) {
    // setTimeout cannot wait past 2^31-1 ms (~24.8 days; it would fire at once): a deadline that
    // far away is no deadline in practice.
    const wait = deadline - Date.now();
    if (wait <= MAX_TIMER_MS) this.timer = setTimeout(() => this.fail(deadlineError()), Math.max(0, wait));
    stream.once('close', () => {
      clearTimeout(this.timer);
      if (!this.ended) {
        this.ended = true;
        this.signal.abort(Date.now() >= this.deadline - DEADLINE_SLACK_MS ? deadlineError() : cancelledError());
      }
    });
    // An RST or socket error; 'close' follows and does the cleanup.
    stream.on('error', () => undefined);
  }

  get open(): boolean { return !this.ended; }

  /** A unary answer: headers, one message and OK trailers. */
  reply(message: Buffer): void {
    if (this.ended) return;
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frameMessage(message));
  }

  write(message: Buffer): void {
    if (this.ended || this.stream.destroyed || this.stream.closed) return;
    if (!this.responded) {
      this.responded = true;
      this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    }
    this.stream.write(frameMessage(message));
  }

  end(error?: unknown): void {
    if (error !== undefined) { this.fail(error); return; }
    if (this.ended) return;
    this.finish();
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (!this.responded) {
      stream.respond({ ...RESPONSE_HEADERS, ...OK_TRAILERS }, { endStream: true });
      return;
    }
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end();
  }

  /** Ends the call with `error`'s status (trailers-only when nothing was sent yet). */
  fail(error: unknown): void {
    if (this.ended) return;
    const err = toSluiceError(error);
    const trailers = statusHeaders(err);
    this.finish();
    if (err.code === 'DEADLINE_EXCEEDED' || err.code === 'CANCELLED') this.signal.abort(err);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    if (!this.responded) {
      stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
    } else {
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end();
    }
    // The client may still be sending a body we will never read.
    stream.resume();
  }

  private finish(): void {
    this.ended = true;
    clearTimeout(this.timer);
  }
}

/**
 * HTTP/2 flow-control windows the server grants its clients.
 *
 * Not too small: with HTTP/2's 64 KiB defaults a connection carries at most 64 KiB of requests
 * per WINDOW_UPDATE round trip through the event loop, ~30 one-row MLP requests, so under load
 * requests pile up unsent in the client while the server idles.
 *
 * Not too large: node:http2 stops reading a socket while a write to it is in progress (blocked on
 * a full kernel buffer), and so does a Node client. If this window let a client queue more
 * requests than the kernel buffers between the two hold, and the client's own windows let the
 * server queue more answers than that (the bench's client does; any Node client configured with
 * large windows would), both writes block under load and neither side reads again: every call
 * on the connection hangs until its deadline. 16 MiB did that at twice the MLP's saturation
 * rate and in the transport test that reproduces it; 1 MiB (~480 one-row MLP requests in flight)
 * did not, in either. Request HEADERS are not flow-controlled, but a few dozen bytes each
 * (HPACK) they add little.
 */
export const SESSION_WINDOW_BYTES = 2 ** 20;
export const STREAM_WINDOW_BYTES = 2 ** 20;

export class GrpcTransport {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /**
   * The raw sockets under the sessions. A session whose write is stuck (its client stopped
   * reading) waits for that write before it closes its socket, i.e. forever: forceShutdown
   * destroys the sockets themselves, which the session's own socket proxy does not allow.
   */
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  constructor(private readonly methods: ReadonlyMap<string, Method>, private readonly options: GrpcTransportOptions) {
    this.server = http2.createServer({
      // Requests of up to maxMessageBytes each on many streams at once; nghttp2's default
      // (10 MiB per session) would reset streams with ENHANCE_YOUR_CALM under load.
      maxSessionMemory: Math.max(64, Math.ceil((options.maxMessageBytes * 4) / 2 ** 20)),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
    });
    this.server.on('session', (session) => {
      if (this.closed) { session.destroy(); return; }
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
    });
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Listens on host:port (0 = ephemeral); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Refuses new connections and streams (GOAWAY); resolves when every open call has ended. */
  shutdown(): Promise<void> {
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    return done;
  }

  /** Drops every connection now, a stuck one included. */
  forceShutdown(): void {
    this.closed = true;
    this.server.close();
    for (const s of this.sessions) s.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (headers[HTTP2_HEADER_METHOD] !== 'POST' || typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      // Not a gRPC request: plain HTTP statuses, as the gRPC spec asks.
      stream.on('error', () => undefined);
      stream.respond({ [HTTP2_HEADER_STATUS]: headers[HTTP2_HEADER_METHOD] !== 'POST' ? 405 : 415 }, { endStream: true });
      stream.resume();
      return;
    }
    const path = headers[HTTP2_HEADER_PATH];
    const method = typeof path === 'string' ? this.methods.get(path) : undefined;
    if (method?.kind === 'unary' && method.limit !== undefined) {
      const limit = method.limit;
      const busy = limit.acquire();
      if (busy !== undefined) { refuse(stream, busy); return; }
      stream.once('close', () => limit.release());
    }
    let deadline = Number.POSITIVE_INFINITY;
    let early: unknown;
    try {
      const timeout = parseGrpcTimeout(headers['grpc-timeout']);
      if (timeout !== undefined) deadline = Date.now() + timeout;
    } catch (e) {
      early = e;
    }
    const call = new Call(stream, deadline);
    if (early === undefined && method === undefined) {
      early = new SluiceError('UNIMPLEMENTED', `unknown method ${String(path).slice(0, 120)}`);
    }
    if (early !== undefined || method === undefined) { call.fail(early); return; }
    const encoding = headers['grpc-encoding'];
    const reader = new MessageReader(this.options.maxMessageBytes, typeof encoding === 'string' ? encoding : undefined);
    if (method.kind === 'bidi') {
      this.bidi(stream, call, reader, method.handler);
    } else {
      this.singleRequest(stream, call, reader, method);
    }
  }

  /** Unary and server-streaming calls: exactly one request message. */
  private singleRequest(stream: http2.ServerHttp2Stream, call: Call, reader: MessageReader,
    method: Exclude<Method, { kind: 'bidi' }>): void {
    let request: Buffer | undefined;
    let count = 0;
    stream.on('data', (chunk: Buffer) => {
      if (!call.open) return;
      try {
        for (const m of reader.push(chunk)) { request = m; count += 1; }
      } catch (e) {
        call.fail(e);
      }
    });
    stream.once('end', () => {
      if (!call.open) return;
      if (count !== 1 || reader.pending || request === undefined) {
        call.fail(reader.pending
          ? new SluiceError('INTERNAL', 'the request body ended inside a message')
          : new SluiceError('UNIMPLEMENTED', count > 1
            ? 'a unary call carried more than one request message'
            : 'a unary call ended without a request message'));
        return;
      }
      if (method.kind === 'serverStream') {
        runSafely(call, () => method.handler(request as Buffer, call, call));
        return;
      }
      let result: Buffer | Promise<Buffer>;
      try {
        result = method.handler(request, call);
      } catch (e) {
        call.fail(e);
        return;
      }
      if (Buffer.isBuffer(result)) call.reply(result);
      else result.then((r) => call.reply(r), (e: unknown) => call.fail(e));
    });
  }

  private bidi(stream: http2.ServerHttp2Stream, call: Call, reader: MessageReader, handler: BidiHandler): void {
    let handlers: BidiHandlers | undefined;
    runSafely(call, () => { handlers = handler(call, call); });
    stream.on('data', (chunk: Buffer) => {
      if (!call.open || handlers === undefined) return;
      try {
        for (const m of reader.push(chunk)) handlers.onMessage(m);
      } catch (e) {
        call.fail(e);
      }
    });
    stream.once('end', () => {
      if (!call.open || handlers === undefined) return;
      if (reader.pending) { call.fail(new SluiceError('INTERNAL', 'the request stream ended inside a message')); return; }
      runSafely(call, () => handlers?.onEnd());
    });
  }
}

function runSafely(call: Call, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    call.fail(e);
  }
}
