import * as net from 'node:net';
import { SluiceError, toSluiceError } from '../runtime/status';
import type { CancelListener, CancelSignal } from '../runtime/types';
import { type ConnectionLimit, DEFAULT_RECEIVE_TIMEOUT_MS, type RequestBuffers } from './admission';
import type { CallLimit } from './call-limit';
import { ACCEPT_ENCODING, MessageReader, encodeGrpcMessage, frameMessage, messagePrefix, parseGrpcTimeout } from './grpc-wire';
import { ErrorCode } from './h2/frames';
import { indexedField, literalField, STATIC } from './h2/hpack';
import { headerValue, type RequestHeaders, ServerConnection, type ServerStream } from './h2/server-connection';

/**
 * A gRPC server on its own HTTP/2 connections (h2/server-connection.ts): unary, server-streaming
 * and bidi-streaming calls whose messages are raw Buffers (handlers decode them). It replaces
 * @grpc/grpc-js and node:http2 on the serving side because every request pays for the transport
 * on the one JS thread: grpc-js costs ~70-85 µs of server CPU per unary call here, node:http2
 * about half that, and most of node:http2's share is per-stream objects this side does without.
 *
 * What it does: POST + application/grpc checks, routing by :path (UNIMPLEMENTED otherwise),
 * message framing and size limits, gzip/deflate requests, grpc-timeout deadlines (the handler's
 * signal aborts and the call ends DEADLINE_EXCEEDED), client cancellation (RST_STREAM aborts the
 * signal), a receive timeout per request message (receiveTimeoutMs), trailers-only error
 * responses, graceful shutdown with GOAWAY.
 */

/** Per call: aborted (with a SluiceError reason) when the client cancels or the deadline passes. */
export interface CallContext {
  readonly signal: CancelSignal;
  /** ms since the epoch; Infinity without grpc-timeout. */
  readonly deadline: number;
}

/**
 * A response message: one buffer, or its bytes as pieces in order (large pieces are written as
 * they are, not copied: see ServerStream.sendResponse).
 */
export type OutgoingMessage = Buffer | readonly Uint8Array[];

export type UnaryHandler = (request: Buffer, ctx: CallContext) => OutgoingMessage | Promise<OutgoingMessage>;

/** The answering side of a unary call. The first answer counts; later ones are dropped. */
export interface UnaryCall extends CallContext {
  reply(message: OutgoingMessage): void;
  /** Ends the call with `error`'s status. */
  fail(error: unknown): void;
}

/**
 * A unary handler that answers through `call` when it is ready (a throw fails the call): no
 * promise chain per call, for the method that serves every inference request.
 */
export type ReplyingUnaryHandler = (request: Buffer, call: UnaryCall) => void;

/** The writing side of a streaming call. Writes after the call ended are dropped. */
export interface StreamWriter {
  write(message: OutgoingMessage): void;
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
  | { readonly kind: 'unaryReply'; readonly handler: ReplyingUnaryHandler; readonly limit?: CallLimit }
  | { readonly kind: 'serverStream'; readonly handler: ServerStreamHandler }
  | { readonly kind: 'bidi'; readonly handler: BidiHandler };

export interface GrpcTransportOptions {
  /** Largest request message (after decompression), bytes. */
  readonly maxMessageBytes: number;
  /** Server-wide bounds (admission.ts), shared with the HTTP server; none when undefined. */
  readonly connections?: ConnectionLimit | undefined;
  readonly requestBuffers?: RequestBuffers | undefined;
  /**
   * Longest a request message may take to arrive once part of it has (default
   * DEFAULT_RECEIVE_TIMEOUT_MS): past it the call ends DEADLINE_EXCEEDED and the bytes held for
   * the message are freed, so a client that trickles a message never finishes cannot hold its
   * share of the request-byte bounds for longer, whatever the call's own deadline.
   */
  readonly receiveTimeoutMs?: number | undefined;
}

/**
 * A client's own deadline timer fires (and resets the stream) slightly before the server's copy of
 * the deadline, which is later by the transit time: a cancel this close to the deadline is it.
 */
const DEADLINE_SLACK_MS = 20;

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One error each, shared by every call that ends so (as CallLimit's refusal): their text never
 * changes, and under overload thousands of deadlines can pass in a second, each of which would
 * otherwise build an Error and its stack trace on the event loop.
 */
const CANCELLED_ERROR = new SluiceError('CANCELLED', 'request cancelled by the client');
const DEADLINE_ERROR = new SluiceError('DEADLINE_EXCEEDED', 'the request deadline passed before it completed');

/** HPACK blocks: response headers, OK trailers, and a status as trailers. */
const RESPONSE_BLOCK = Buffer.from([
  ...indexedField(STATIC.status200), ...literalField(STATIC.contentType, 'application/grpc'),
  ...literalField('grpc-accept-encoding', ACCEPT_ENCODING),
]);
const OK_TRAILERS = Buffer.from(literalField('grpc-status', '0'));
const OK_TRAILERS_ONLY = Buffer.concat([RESPONSE_BLOCK, OK_TRAILERS]);

function statusBlock(error: unknown): Buffer {
  const err = toSluiceError(error);
  return Buffer.from([...literalField('grpc-status', String(err.grpcCode)),
    ...literalField('grpc-message', encodeGrpcMessage(err.message))]);
}

/** A trailers-only answer: response headers and the status in one block. */
const trailersOnly = (error: unknown): Buffer => Buffer.concat([RESPONSE_BLOCK, statusBlock(error)]);

/** Answers to requests that are not gRPC, as the gRPC spec asks: plain HTTP statuses. */
const METHOD_NOT_ALLOWED = Buffer.from(literalField(STATIC.status, '405'));
const UNSUPPORTED_MEDIA_TYPE = Buffer.from(literalField(STATIC.status, '415'));

/** Trailers-only answers to refusals, per error (the call limit reuses one error for all). */
const REFUSALS = new WeakMap<SluiceError, Buffer>();

/**
 * Refuses a call before reading its request: a trailers-only answer with the error's status, sent
 * at once, with no per-call state (no Call, no deadline timer): this is the path that runs when
 * the server is already overloaded.
 */
function refuse(stream: ServerStream, error: SluiceError): void {
  let block = REFUSALS.get(error);
  if (block === undefined) {
    block = trailersOnly(error);
    REFUSALS.set(error, block);
  }
  stream.sendHeaders(block, true);
  setImmediate(resetIfOpen, stream);
}

/**
 * RST_STREAM NO_ERROR tells a client still sending a body that nobody will read it (as gRPC's
 * HTTP/2 protocol allows). A unary client that sent HEADERS and its whole body together has
 * ended its side by the next turn of the event loop, and the stream is closed by then.
 */
function resetIfOpen(stream: ServerStream): void {
  if (!stream.closed && !stream.remoteEnded) stream.reset(ErrorCode.NO_ERROR);
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
class Call implements StreamWriter, UnaryCall {
  readonly signal = new CallSignal();
  private timer: NodeJS.Timeout | undefined;
  /** Runs while part of a request message is held (receiving()). */
  private receiveTimer: NodeJS.Timeout | undefined;
  private responded = false;
  private ended = false;

  /**
   * `release` (a call-limit slot) runs once, when the call is answered or its stream closes: an
   * answer waiting for a client that does not open its window no longer counts as in progress.
   */
  constructor(private readonly stream: ServerStream, readonly deadline: number, private release?: () => void) {
    // setTimeout cannot wait past 2^31-1 ms (~24.8 days; it would fire at once): a deadline that
    // far away is no deadline in practice.
    const wait = deadline - Date.now();
    if (wait <= MAX_TIMER_MS) this.timer = setTimeout(() => this.fail(DEADLINE_ERROR), Math.max(0, wait));
    stream.onClose = () => {
      const open = !this.ended;
      this.finish();
      if (open) this.signal.abort(Date.now() >= this.deadline - DEADLINE_SLACK_MS ? DEADLINE_ERROR : CANCELLED_ERROR);
    };
  }

  get open(): boolean { return !this.ended; }

  /**
   * After each DATA chunk: `pendingBytes` of an incomplete message are held (0 = none), and
   * `completed` says whether a message ended in the chunk (a message still pending then is a new
   * one). A message gets `timeoutMs` from the chunk that began its wait to arrive whole.
   */
  receiving(pendingBytes: number, completed: boolean, timeoutMs: number): void {
    if (this.receiveTimer !== undefined && (pendingBytes === 0 || completed)) {
      clearTimeout(this.receiveTimer);
      this.receiveTimer = undefined;
    }
    if (pendingBytes === 0 || this.receiveTimer !== undefined || this.ended || timeoutMs > MAX_TIMER_MS) return;
    this.receiveTimer = setTimeout(() => this.fail(new SluiceError('DEADLINE_EXCEEDED',
      `a request message was still arriving after ${timeoutMs / 1000} s (the server's receive timeout); ` +
      'its bytes were dropped')), timeoutMs);
  }

  /** A unary answer: headers, one message and OK trailers (in one write when the windows allow). */
  reply(message: OutgoingMessage): void {
    if (this.ended) return;
    this.finish();
    const pieces = Buffer.isBuffer(message) ? [message] : message;
    let length = 0;
    for (const p of pieces) length += p.length;
    this.stream.sendResponse(RESPONSE_BLOCK, messagePrefix(length), pieces, OK_TRAILERS);
  }

  write(message: OutgoingMessage): void {
    if (this.ended) return;
    if (!this.responded) {
      this.responded = true;
      this.stream.sendHeaders(RESPONSE_BLOCK, false);
    }
    this.stream.sendData(frameMessage(message));
  }

  end(error?: unknown): void {
    if (error !== undefined) { this.fail(error); return; }
    if (this.ended) return;
    this.finish();
    if (!this.responded) this.stream.sendHeaders(OK_TRAILERS_ONLY, true);
    else this.stream.sendTrailers(OK_TRAILERS);
  }

  /** Ends the call with `error`'s status (trailers-only when nothing was sent yet). */
  fail(error: unknown): void {
    if (this.ended) return;
    const err = toSluiceError(error);
    this.finish();
    if (err.code === 'DEADLINE_EXCEEDED' || err.code === 'CANCELLED') this.signal.abort(err);
    const stream = this.stream;
    if (!this.responded) stream.sendHeaders(trailersOnly(err), true);
    else stream.sendTrailers(statusBlock(err));
    // The client may still be sending a body nobody will read: dropped as it comes, and the
    // stream reset if the client has not ended it by the next turn of the loop.
    stream.onData = undefined;
    stream.onEnd = undefined;
    setImmediate(resetIfOpen, stream);
  }

  private finish(): void {
    this.ended = true;
    clearTimeout(this.timer);
    clearTimeout(this.receiveTimer);
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

/**
 * HTTP/2 flow-control windows the server grants its clients.
 *
 * Not too small: with HTTP/2's 64 KiB defaults a connection carries at most 64 KiB of requests
 * per WINDOW_UPDATE round trip through the event loop, ~30 one-row MLP requests, so under load
 * requests pile up unsent in the client while the server idles.
 *
 * Not too large: requests buffered in the server cost memory, and a Node client on node:http2
 * stops reading its socket while a write to it is blocked on a full kernel buffer (as this
 * server did when it ran on node:http2). With a window that let such a client queue more
 * requests than the kernel buffers hold, and its own windows letting the server queue more
 * answers than that, both writes blocked under load and neither side read again: 16 MiB did that
 * at twice the MLP's saturation rate and in the transport test that reproduces it; 1 MiB (~480
 * one-row MLP requests in flight) did not. This server now always reads, but keeps the bound.
 */
export const SESSION_WINDOW_BYTES = 2 ** 20;
export const STREAM_WINDOW_BYTES = 2 ** 20;

/** Bounds a client may not exceed (SETTINGS_MAX_CONCURRENT_STREAMS; request header list). */
const MAX_CONCURRENT_STREAMS = 4096;
const MAX_HEADER_LIST_BYTES = 64 << 10;

export class GrpcTransport {
  private readonly server: net.Server;
  private readonly connections = new Set<ServerConnection>();
  private closed = false;
  private readonly receiveTimeoutMs: number;

  constructor(private readonly methods: ReadonlyMap<string, Method>, private readonly options: GrpcTransportOptions) {
    const receive = options.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
    if (!(receive > 0)) throw new RangeError(`receiveTimeoutMs must be > 0 ms, got ${receive}`);
    this.receiveTimeoutMs = receive;
    this.server = net.createServer((socket) => {
      if (this.closed) { socket.destroy(); return; }
      if (options.connections !== undefined && !options.connections.admit(socket)) return;
      const c = new ServerConnection(socket, {
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS, streamWindow: STREAM_WINDOW_BYTES,
        connectionWindow: SESSION_WINDOW_BYTES, maxHeaderListBytes: MAX_HEADER_LIST_BYTES,
        // Requests of up to maxMessageBytes each on several streams at once.
        maxBufferedBytes: Math.max(64 << 20, 4 * options.maxMessageBytes),
        ...(options.requestBuffers === undefined ? {} : { sharedBuffer: options.requestBuffers }),
        onStream: (stream, headers) => this.onStream(stream, headers),
      });
      this.connections.add(c);
      c.onClosed = () => this.connections.delete(c);
    });
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

  /** Refuses new connections and streams (GOAWAY); resolves once every connection has closed. */
  shutdown(): Promise<void> {
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.shutdown();
    return done;
  }

  /** Drops every connection now, a stuck one included. */
  forceShutdown(): void {
    this.closed = true;
    this.server.close();
    for (const c of this.connections) c.destroy();
  }

  private onStream(stream: ServerStream, headers: RequestHeaders): void {
    const method = headerValue(headers, ':method');
    const contentType = headerValue(headers, 'content-type');
    if (method !== 'POST' || contentType === undefined || !contentType.startsWith('application/grpc')) {
      stream.sendHeaders(method !== 'POST' ? METHOD_NOT_ALLOWED : UNSUPPORTED_MEDIA_TYPE, true);
      setImmediate(resetIfOpen, stream);
      return;
    }
    const path = headerValue(headers, ':path') as string;
    const m = this.methods.get(path);
    let release: (() => void) | undefined;
    if ((m?.kind === 'unary' || m?.kind === 'unaryReply') && m.limit !== undefined) {
      const limit = m.limit;
      const busy = limit.acquire();
      if (busy !== undefined) { refuse(stream, busy); return; }
      release = () => limit.release();
    }
    let deadline = Number.POSITIVE_INFINITY;
    let early: unknown;
    try {
      const timeout = parseGrpcTimeout(headerValue(headers, 'grpc-timeout'));
      if (timeout !== undefined) deadline = Date.now() + timeout;
    } catch (e) {
      early = e;
    }
    const call = new Call(stream, deadline, release);
    if (early === undefined && m === undefined) {
      early = new SluiceError('UNIMPLEMENTED', `unknown method ${path.slice(0, 120)}`);
    }
    if (early !== undefined || m === undefined) { call.fail(early); return; }
    const reader = new MessageReader(this.options.maxMessageBytes, headerValue(headers, 'grpc-encoding'));
    if (m.kind === 'bidi') {
      this.bidi(stream, call, reader, m.handler);
    } else {
      this.singleRequest(stream, call, reader, m);
    }
  }

  /** Unary and server-streaming calls: exactly one request message. */
  private singleRequest(stream: ServerStream, call: Call, reader: MessageReader,
    method: Exclude<Method, { kind: 'bidi' }>): void {
    let request: Buffer | undefined;
    let count = 0;
    stream.onData = (chunk) => {
      if (!call.open) return;
      const before = count;
      try {
        for (const m of reader.push(chunk)) { request = m; count += 1; }
      } catch (e) {
        call.fail(e);
        return;
      }
      stream.releaseTo(reader.pendingBytes);
      call.receiving(reader.pendingBytes, count !== before, this.receiveTimeoutMs);
    };
    stream.onEnd = () => {
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
      if (method.kind === 'unaryReply') {
        try {
          method.handler(request, call);
        } catch (e) {
          call.fail(e);
        }
        return;
      }
      let result: OutgoingMessage | Promise<OutgoingMessage>;
      try {
        result = method.handler(request, call);
      } catch (e) {
        call.fail(e);
        return;
      }
      if (result instanceof Promise) result.then((r) => call.reply(r), (e: unknown) => call.fail(e));
      else call.reply(result);
    };
  }

  private bidi(stream: ServerStream, call: Call, reader: MessageReader, handler: BidiHandler): void {
    let handlers: BidiHandlers | undefined;
    runSafely(call, () => { handlers = handler(call, call); });
    stream.onData = (chunk) => {
      if (!call.open || handlers === undefined) return;
      let completed = false;
      try {
        for (const m of reader.push(chunk)) { completed = true; handlers.onMessage(m); }
      } catch (e) {
        call.fail(e);
        return;
      }
      stream.releaseTo(reader.pendingBytes);
      call.receiving(reader.pendingBytes, completed, this.receiveTimeoutMs);
    };
    stream.onEnd = () => {
      if (!call.open || handlers === undefined) return;
      if (reader.pending) { call.fail(new SluiceError('INTERNAL', 'the request stream ended inside a message')); return; }
      runSafely(call, () => handlers?.onEnd());
    };
  }
}

function runSafely(call: Call, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    call.fail(e);
  }
}
