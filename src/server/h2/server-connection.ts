/**
 * One HTTP/2 connection, server side (RFC 9113), framed by hand over a net.Socket.
 *
 * Why not node:http2: every request on the serving path pays for the transport on the one JS
 * thread, and node:http2 spends most of a request's event-loop time on per-stream objects (an
 * Http2Stream duplex, header objects, an RST that flushes the socket). Under overload that is
 * what refusing a request costs too, so the server could not refuse fast enough. This class
 * keeps per stream only what the protocol needs: windows, a queue of unsent DATA and three
 * callbacks. Frames written in one turn of the event loop go out in one writev.
 *
 * What it enforces: the connection preface and SETTINGS first; stream ids rising and odd;
 * SETTINGS_MAX_CONCURRENT_STREAMS (REFUSED_STREAM beyond it); flow control both ways;
 * request header validation (pseudo-headers, lowercase names, no connection-specific fields);
 * a header list bound, also across CONTINUATION frames; a bound on request bytes buffered in
 * the connection, and optionally one shared with other connections; a handshake deadline (a
 * connection that has not sent the preface and its SETTINGS within it is closed); an idle timeout
 * (a connection without streams for idleTimeoutMs gets GOAWAY and is closed); a client that resets
 * streams faster than any real client (CVE-2023-44487, "rapid reset") loses the connection with
 * GOAWAY ENHANCE_YOUR_CALM; answers wait for a slow reader (DATA stops while the socket is
 * backed up) within a bound on unsent answers, and a client that provokes frames without reading
 * them (PING and SETTINGS floods) loses its socket; a socket ended after GOAWAY that the peer does
 * not read is destroyed after closeLingerMs.
 */
import type * as net from 'node:net';
import {
  ConnectionError, DEFAULT_MAX_FRAME, DEFAULT_WINDOW, ErrorCode, Flag, type Frame, FRAME_HEADER_BYTES, FrameReader,
  FrameType, frame, goawayFrame, HeaderBlockReader, MAX_WINDOW, PREFACE, readSettings, readWindowIncrement,
  rstStreamFrame, Setting, settingsFrame, unpadded, windowUpdateFrame, writeFrame, writeFrameHeader,
} from './frames';
import { type HeaderList, HpackDecoder, HpackError } from './hpack';

/** A bound on request bytes shared by several connections (see maxBufferedBytes). */
export interface BufferBudget {
  /** Counts `bytes` as held, or returns false (and counts nothing) when that would pass the bound. */
  take(bytes: number): boolean;
  give(bytes: number): void;
}

export interface ServerConnectionOptions {
  readonly maxConcurrentStreams: number;
  /** Receive windows granted: each stream's (SETTINGS_INITIAL_WINDOW_SIZE) and the connection's. */
  readonly streamWindow: number;
  readonly connectionWindow: number;
  readonly maxHeaderListBytes: number;
  /** Request bytes held across the connection's streams (partial messages) before streams are reset. */
  readonly maxBufferedBytes: number;
  /**
   * The same bytes counted against a bound shared with other connections (the server's): a
   * stream whose DATA it cannot take is reset, as one past maxBufferedBytes is.
   */
  readonly sharedBuffer?: BufferBudget;
  /**
   * Output a peer that does not read can make this side hold, beyond which it loses: answers
   * waiting in streams for its flow-control window (the stream that would pass the bound is
   * reset with ENHANCE_YOUR_CALM), and frames it provokes without reading them, PING and
   * SETTINGS acknowledgements (the socket is destroyed). Default 64 MiB.
   */
  readonly maxUnreadBytes?: number;
  /**
   * Time a new connection has to send the preface and its SETTINGS (default 10 s). A socket that
   * stays silent, or trickles bytes without ever starting HTTP/2, would otherwise be held forever.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * Time a connection may stay open with no stream before it is closed gracefully (GOAWAY
   * NO_ERROR; clients reconnect when they next call). Default 5 minutes; Infinity = never. It
   * frees, among others, the places of clients that forgot their connections (--max-connections).
   */
  readonly idleTimeoutMs?: number;
  /** How long a socket ended after GOAWAY may take to close before it is destroyed (a peer that does not read). Default 5 s. */
  readonly closeLingerMs?: number;
  /** A new request stream with its validated header fields (read them with headerValue()). */
  readonly onStream: (stream: ServerStream, headers: RequestHeaders) => void;
}

/** Resets from the client within RAPID_RESET_WINDOW_MS beyond which the connection is dropped. */
const RAPID_RESET_LIMIT = 20_000;
const RAPID_RESET_WINDOW_MS = 1_000;
const DEFAULT_MAX_UNREAD_BYTES = 64 << 20;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * DATA waits in its stream while the socket holds this much unsent (at most a quarter of
 * maxUnreadBytes), so a client that reads, however slowly, is never cut off by that bound.
 */
const SEND_HIGH_WATER_BYTES = 4 << 20;
const DEFAULT_CLOSE_LINGER_MS = 5_000;
/**
 * Response body pieces this large are written as they are (writeResponse); smaller ones (the
 * message's metadata, tags and lengths) are copied in with the frames, so a one-output response
 * is three writes, not five. A large piece (an output tensor) copied would cost a fresh buffer
 * per response.
 */
const COPY_BELOW = 1024;
const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Request pseudo-headers, one bit each (a repeat is malformed); :authority is optional. */
const PSEUDO = new Map([[':method', 1], [':scheme', 2], [':path', 4], [':authority', 8]]);
const REQUIRED_PSEUDO = 1 | 2 | 4;

/** One request stream. Callbacks are set by whoever handles the stream; unset ones drop what comes. */
export class ServerStream {
  /** A DATA payload (never empty). */
  onData: ((chunk: Buffer) => void) | undefined;
  /** The client ended its side. */
  onEnd: (() => void) | undefined;
  /** The stream is gone: both sides ended, or `reset` (by either side or with the connection). */
  onClose: ((reset: boolean) => void) | undefined;

  remoteEnded = false;
  localEnded = false;
  closed = false;
  /** This side's send window, DATA waiting for it, and trailers to follow that DATA. */
  sendWindow: number;
  queue: Buffer[] = [];
  trailers: Buffer | undefined;
  /** Received and not yet given back with a stream WINDOW_UPDATE. */
  recvUnacked = 0;
  /** Request bytes of a message still arriving, counted against the connection's bound (and the shared one). */
  buffered = 0;

  constructor(readonly id: number, private readonly conn: ServerConnection, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  /** Response headers (an HPACK block); `endStream` for a trailers-only response. */
  sendHeaders(block: Buffer, endStream: boolean): void {
    if (this.localEnded || this.closed) return;
    this.conn.writeHeaders(this.id, block, endStream);
    if (endStream) this.#endLocal();
  }

  sendData(data: Buffer): void {
    if (this.localEnded || this.closed || data.length === 0) return;
    // A client that opens its window to none of it loses the stream, not the server its memory.
    if (!this.conn.queueData(this, data)) this.conn.resetStream(this, ErrorCode.ENHANCE_YOUR_CALM);
  }

  /**
   * A whole response: headers, `prefix` and the `body` pieces as its DATA, then trailers. When
   * nothing is queued and the windows and the peer's frame size allow, the frames go out in one
   * writev, with body pieces of COPY_BELOW bytes or more as they are (not copied); otherwise as
   * sendHeaders, sendData and sendTrailers would send them.
   */
  sendResponse(headers: Buffer, prefix: Buffer, body: readonly Uint8Array[], trailers: Buffer): void {
    if (this.localEnded || this.closed) return;
    if (this.conn.writeResponse(this, headers, prefix, body, trailers)) {
      this.#endLocal();
      return;
    }
    this.sendHeaders(headers, false);
    this.sendData(Buffer.concat([prefix, ...body]));
    this.sendTrailers(trailers);
  }

  /** Ends the response with trailers, once the DATA before them has gone out. */
  sendTrailers(block: Buffer): void {
    if (this.localEnded || this.closed) return;
    this.trailers = block;
    this.conn.flushStream(this);
  }

  /** RST_STREAM with `code`; the stream closes at once. */
  reset(code: number): void {
    if (this.closed) return;
    this.conn.resetStream(this, code);
  }

  /**
   * All but `held` of the request bytes received so far were consumed (a message reader keeps
   * `held` of an incomplete message): the rest no longer count against the bounds.
   */
  releaseTo(held: number): void {
    this.conn.releaseTo(this, held);
  }

  /** Called by the connection when the trailers (or the END_STREAM headers) went out. */
  endLocalSent(): void {
    this.#endLocal();
  }

  #endLocal(): void {
    this.localEnded = true;
    this.queue = [];
    if (this.remoteEnded) this.conn.closeStream(this, false);
  }
}

export class ServerConnection {
  readonly #socket: net.Socket;
  readonly #o: ServerConnectionOptions;
  readonly #reader = new FrameReader();
  readonly #hpack: HpackDecoder;
  readonly #streams = new Map<number, ServerStream>();
  #preface: Buffer | undefined = Buffer.alloc(0);
  #gotSettings = false;
  #lastStreamId = 0;
  /** GOAWAY sent: no new streams; the socket ends once the open ones have. */
  #goingAway = false;
  #sendWindow = DEFAULT_WINDOW;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  readonly #connectionWindow: number;
  #recvUnacked = 0;
  #buffered = 0;
  /** Streams whose DATA or trailers wait for window. */
  #blocked = new Set<ServerStream>();
  readonly #blocks: HeaderBlockReader;
  #corked = false;
  #awaitingDrain = false;
  readonly #sendHighWater: number;
  /** Answer bytes waiting in streams' queues (for window or for the socket to drain). */
  #queued = 0;
  #failed = false;
  #resetWindowStart = 0;
  #resets = 0;
  /** Until the client's SETTINGS arrive: drops a connection that never starts HTTP/2. */
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** When the last stream closed (Date.now()), and the timer that closes the connection after idleTimeoutMs. */
  #idleSince = Date.now();
  #idleTimer: NodeJS.Timeout | undefined;
  /** Called once, when the socket has closed. */
  onClosed: (() => void) | undefined;

  constructor(socket: net.Socket, o: ServerConnectionOptions) {
    this.#socket = socket;
    this.#o = o;
    this.#hpack = new HpackDecoder(4096, o.maxHeaderListBytes);
    this.#sendHighWater = Math.min(SEND_HIGH_WATER_BYTES, (o.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES) / 4);
    this.#blocks = new HeaderBlockReader(o.maxHeaderListBytes);
    socket.setNoDelay(true);
    this.#write(settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, o.maxConcurrentStreams], [Setting.INITIAL_WINDOW_SIZE, o.streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, o.maxHeaderListBytes], [Setting.ENABLE_PUSH, 0],
    ]));
    // The connection window starts at 64 KiB whatever SETTINGS say; it can only be raised.
    this.#connectionWindow = Math.max(o.connectionWindow, DEFAULT_WINDOW);
    if (this.#connectionWindow > DEFAULT_WINDOW) this.#write(windowUpdateFrame(0, this.#connectionWindow - DEFAULT_WINDOW));
    socket.on('data', (chunk: Buffer) => this.#onBytes(chunk));
    // 'close' follows and does the cleanup.
    socket.on('error', () => undefined);
    socket.on('close', () => this.#onSocketClose());
    this.#handshakeTimer = setTimeout(() => {
      // No GOAWAY: the peer has not shown that it speaks HTTP/2.
      if (!this.#gotSettings) socket.destroy();
    }, o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.#handshakeTimer.unref();
    this.#armIdleTimer(this.#idleLimit);
  }

  get #idleLimit(): number { return this.#o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS; }

  /**
   * One timer per connection, not one per stream: when it fires it closes the connection if it
   * has been idle for the limit, and otherwise sets itself for the time still to go.
   */
  #armIdleTimer(ms: number): void {
    if (!(ms < 2 ** 31)) return; // Infinity: never (and setTimeout would take it as 1 ms)
    this.#idleTimer = setTimeout(() => {
      if (this.#goingAway || this.#socket.destroyed) return;
      const limit = this.#idleLimit;
      const idle = this.#streams.size === 0 ? Date.now() - this.#idleSince : 0;
      if (idle >= limit) this.shutdown();
      else this.#armIdleTimer(limit - idle);
    }, ms);
    this.#idleTimer.unref();
  }

  /** Graceful close: GOAWAY NO_ERROR naming the last stream taken; the socket ends after the open streams. */
  shutdown(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    this.#write(goawayFrame(this.#lastStreamId, ErrorCode.NO_ERROR));
    if (this.#streams.size === 0) this.#end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  // ---- input -----------------------------------------------------------------------------------

  #onBytes(chunk: Buffer): void {
    // After a connection error the socket lingers only to flush GOAWAY.
    if (this.#failed) return;
    try {
      let data = chunk;
      if (this.#preface !== undefined) {
        const got = Buffer.concat([this.#preface, chunk]);
        const n = Math.min(got.length, PREFACE.length);
        if (!got.subarray(0, n).equals(PREFACE.subarray(0, n))) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not the HTTP/2 connection preface (this port speaks gRPC over HTTP/2)');
        }
        if (got.length < PREFACE.length) { this.#preface = got; return; }
        this.#preface = undefined;
        data = got.subarray(PREFACE.length);
      }
      this.#reader.push(data, (f) => this.#onFrame(f));
    } catch (e) {
      if (e instanceof ConnectionError) this.#connectionError(e.h2Code, e.message);
      else if (e instanceof HpackError) this.#connectionError(ErrorCode.COMPRESSION_ERROR, e.message);
      else {
        // A bug here must cost this connection, not the process and everyone else's requests.
        process.emitWarning(`HTTP/2 connection dropped: ${(e as Error).stack ?? String(e)}`);
        this.#connectionError(ErrorCode.INTERNAL_ERROR, 'internal error');
      }
    }
  }

  #onFrame(f: Frame): void {
    if (!this.#gotSettings) {
      if (f.type !== FrameType.SETTINGS || f.flags & Flag.ACK) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
      this.#gotSettings = true;
      clearTimeout(this.#handshakeTimer);
    }
    this.#blocks.check(f);
    switch (f.type) {
      case FrameType.DATA: return this.#onData(f);
      case FrameType.HEADERS:
      case FrameType.CONTINUATION: {
        const b = this.#blocks.push(f);
        if (b !== undefined) this.#onHeaderBlock(b.streamId, b.flags, b.block);
        return;
      }
      case FrameType.PRIORITY:
        if (f.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (f.payload.length !== 5) this.#streamError(f.streamId, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM: return this.#onReset(f);
      case FrameType.SETTINGS: return this.#onSettings(f);
      case FrameType.PING:
        if (f.streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (f.payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING payload is not 8 bytes');
        if ((f.flags & Flag.ACK) === 0) this.#write(frame(FrameType.PING, Flag.ACK, 0, f.payload));
        return;
      case FrameType.GOAWAY:
        if (f.streamId !== 0 || f.payload.length < 8) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'malformed GOAWAY');
        // The client opens no more streams; the ones open finish.
        if (this.#streams.size === 0) this.#end();
        return;
      case FrameType.WINDOW_UPDATE: return this.#onWindowUpdate(f);
      case FrameType.PUSH_PROMISE: throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default: // unknown frame types are ignored (§5.5)
    }
  }

  #onHeaderBlock(id: number, flags: number, block: Buffer): void {
    // Decoded whatever becomes of the stream: the dynamic table must follow every block.
    const fields = this.#hpack.decode(block);
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      // Trailers from the client: they must end its side.
      if (existing.remoteEnded || (flags & Flag.END_STREAM) === 0) this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
      else this.#endRemote(existing);
      return;
    }
    if (id % 2 === 0 || id <= this.#lastStreamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS opening stream ${id} after stream ${this.#lastStreamId}`);
    }
    this.#lastStreamId = id;
    if (this.#goingAway || this.#streams.size >= this.#o.maxConcurrentStreams) {
      this.#write(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (!validRequestHeaders(fields)) {
      this.#write(rstStreamFrame(id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const stream = new ServerStream(id, this, this.#peerInitialWindow);
    this.#streams.set(id, stream);
    try {
      this.#o.onStream(stream, fields);
    } catch (e) {
      // A bug in one request's handling must not take the connection (or the process) down.
      process.emitWarning(`HTTP/2 stream ${id}: ${(e as Error).stack ?? String(e)}`);
      this.resetStream(stream, ErrorCode.INTERNAL_ERROR);
      return;
    }
    if (flags & Flag.END_STREAM && !stream.closed) this.#endRemote(stream);
  }

  #onData(f: Frame): void {
    if (f.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = f.payload.length;
    if (this.#recvUnacked + len > this.#connectionWindow) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    }
    // The connection window is given back as DATA arrives: what is held is bounded by the
    // message size per stream and by maxBufferedBytes (and the shared bound) across streams.
    this.#recvUnacked += len;
    if (this.#recvUnacked >= this.#connectionWindow / 2) {
      this.#write(windowUpdateFrame(0, this.#recvUnacked));
      this.#recvUnacked = 0;
    }
    const stream = this.#streams.get(f.streamId);
    if (stream === undefined) {
      if (f.streamId > this.#lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${f.streamId}`);
      return; // a stream closed here (reset, refused): frames already in flight are ignored (§5.1)
    }
    if (stream.remoteEnded) return this.#streamError(stream.id, ErrorCode.STREAM_CLOSED);
    if (stream.recvUnacked + len > this.#o.streamWindow) return this.#streamError(stream.id, ErrorCode.FLOW_CONTROL_ERROR);
    stream.recvUnacked += len;
    const data = unpadded(f);
    const end = (f.flags & Flag.END_STREAM) !== 0;
    if (!end && stream.recvUnacked >= this.#o.streamWindow / 2) {
      this.#write(windowUpdateFrame(stream.id, stream.recvUnacked));
      stream.recvUnacked = 0;
    }
    // DATA nobody reads (a refused or failed call waiting for its reset) is dropped, not held.
    if (data.length > 0 && stream.onData !== undefined) {
      if (this.#o.sharedBuffer?.take(data.length) === false) return this.#streamError(stream.id, ErrorCode.ENHANCE_YOUR_CALM);
      stream.buffered += data.length;
      this.#buffered += data.length;
      if (this.#buffered > this.#o.maxBufferedBytes) return this.#streamError(stream.id, ErrorCode.ENHANCE_YOUR_CALM);
      stream.onData(data);
    }
    if (end && !stream.closed) this.#endRemote(stream);
  }

  #onReset(f: Frame): void {
    if (f.streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (f.payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM payload is not 4 bytes');
    if (f.streamId > this.#lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${f.streamId}`);
    const now = Date.now();
    if (now - this.#resetWindowStart > RAPID_RESET_WINDOW_MS) {
      this.#resetWindowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > RAPID_RESET_LIMIT) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${RAPID_RESET_LIMIT} streams reset within ${RAPID_RESET_WINDOW_MS} ms`);
    }
    const stream = this.#streams.get(f.streamId);
    if (stream !== undefined) this.closeStream(stream, true);
  }

  #onSettings(f: Frame): void {
    if (f.flags & Flag.ACK) {
      if (f.payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    const settings = readSettings(f);
    if (settings.initialWindowSize !== undefined) {
      // §6.9.2: a change applies to every open stream's window.
      const delta = settings.initialWindowSize - this.#peerInitialWindow;
      this.#peerInitialWindow = settings.initialWindowSize;
      for (const s of this.#streams.values()) s.sendWindow += delta;
    }
    if (settings.maxFrameSize !== undefined) this.#peerMaxFrame = settings.maxFrameSize;
    this.#write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.#flushBlocked();
  }

  #onWindowUpdate(f: Frame): void {
    const inc = readWindowIncrement(f);
    if (f.streamId === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'connection WINDOW_UPDATE of 0');
      if (this.#sendWindow + inc > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      this.#sendWindow += inc;
      this.#flushBlocked();
      return;
    }
    const stream = this.#streams.get(f.streamId);
    if (stream === undefined) return;
    if (inc === 0 || stream.sendWindow + inc > MAX_WINDOW) {
      return this.#streamError(stream.id, inc === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR);
    }
    stream.sendWindow += inc;
    this.flushStream(stream);
  }

  #endRemote(stream: ServerStream): void {
    stream.remoteEnded = true;
    this.releaseTo(stream, 0);
    stream.onEnd?.();
    if (stream.localEnded && !stream.closed) this.closeStream(stream, false);
  }

  // ---- output ----------------------------------------------------------------------------------

  /** Frames written in one turn of the event loop leave in one writev. */
  #write(buf: Uint8Array): void {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (socket.writableLength > (this.#o.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES)) {
      // The client asks (PINGs, SETTINGS) but does not read the answers; DATA waits in its
      // stream instead (flushStream), so a client that reads is never cut off here.
      socket.destroy();
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => { this.#corked = false; socket.uncork(); });
    }
    socket.write(buf);
  }

  writeHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    const first = block.subarray(0, max);
    const end = endStream ? Flag.END_STREAM : 0;
    if (first.length === block.length) {
      this.#write(frame(FrameType.HEADERS, Flag.END_HEADERS | end, id, block));
      return;
    }
    this.#write(frame(FrameType.HEADERS, end, id, first));
    for (let at = max; at < block.length; at += max) {
      const part = block.subarray(at, at + max);
      this.#write(frame(FrameType.CONTINUATION, at + max >= block.length ? Flag.END_HEADERS : 0, id, part));
    }
  }

  /** ServerStream.sendResponse's single writev; false (nothing written) when the response does not fit it. */
  writeResponse(stream: ServerStream, headers: Buffer, prefix: Buffer, body: readonly Uint8Array[], trailers: Buffer): boolean {
    let n = prefix.length;
    let copied = 0;
    for (const b of body) {
      n += b.length;
      if (b.length < COPY_BELOW) copied += b.length;
    }
    const max = this.#peerMaxFrame;
    if (stream.queue.length > 0 || n > this.#sendWindow || n > stream.sendWindow || n > max ||
      headers.length > max || trailers.length > max || this.#socket.writableLength >= this.#sendHighWater) return false;
    // The frames, prefix, trailers and small pieces share one buffer, written in the runs between
    // the large pieces; the cork in #write makes the runs and the pieces one writev.
    const own = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headers.length + prefix.length + copied + trailers.length);
    let at = writeFrame(own, 0, FrameType.HEADERS, Flag.END_HEADERS, stream.id, headers);
    at = writeFrameHeader(own, at, n, FrameType.DATA, 0, stream.id); // its payload in pieces
    at += prefix.copy(own, at);
    let from = 0;
    for (const b of body) {
      if (b.length < COPY_BELOW) {
        own.set(b, at);
        at += b.length;
        continue;
      }
      if (at > from) this.#write(own.subarray(from, at));
      this.#write(b);
      from = at;
    }
    at = writeFrame(own, at, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id, trailers);
    this.#write(own.subarray(from, at));
    this.#sendWindow -= n;
    stream.sendWindow -= n;
    return true;
  }

  /** Sends what the windows allow of the stream's queued DATA, then its trailers once nothing is left. */
  flushStream(stream: ServerStream): void {
    while (stream.queue.length > 0) {
      if (this.#socket.writableLength >= this.#sendHighWater) {
        // The client reads slower than we answer: wait for the socket to drain, not pile up.
        this.#blocked.add(stream);
        if (!this.#awaitingDrain) {
          this.#awaitingDrain = true;
          this.#socket.once('drain', () => { this.#awaitingDrain = false; this.#flushBlocked(); });
        }
        return;
      }
      const head = stream.queue[0] as Buffer;
      // A window may be negative after SETTINGS shrank it (§6.9.2): nothing goes out until it refills.
      const n = Math.min(head.length, this.#sendWindow, stream.sendWindow, this.#peerMaxFrame);
      if (n <= 0) {
        this.#blocked.add(stream);
        return;
      }
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, n, FrameType.DATA, 0, stream.id);
      this.#write(header);
      this.#write(n === head.length ? head : head.subarray(0, n));
      this.#sendWindow -= n;
      stream.sendWindow -= n;
      this.#queued -= n;
      if (n === head.length) stream.queue.shift();
      else stream.queue[0] = head.subarray(n);
    }
    this.#blocked.delete(stream);
    if (stream.trailers !== undefined) {
      const block = stream.trailers;
      stream.trailers = undefined;
      this.writeHeaders(stream.id, block, true);
      stream.endLocalSent();
    }
  }

  #flushBlocked(): void {
    for (const s of [...this.#blocked]) {
      if (this.#sendWindow <= 0) return;
      this.flushStream(s);
    }
  }

  // ---- closing ---------------------------------------------------------------------------------

  resetStream(stream: ServerStream, code: number): void {
    this.#write(rstStreamFrame(stream.id, code));
    this.closeStream(stream, true);
  }

  #streamError(id: number, code: number): void {
    const stream = this.#streams.get(id);
    if (stream !== undefined) this.resetStream(stream, code);
    else this.#write(rstStreamFrame(id, code));
  }

  releaseTo(stream: ServerStream, held: number): void {
    const freed = stream.buffered - Math.max(0, held);
    if (freed <= 0) return;
    this.#o.sharedBuffer?.give(freed);
    this.#buffered -= freed;
    stream.buffered -= freed;
  }

  closeStream(stream: ServerStream, reset: boolean): void {
    if (stream.closed) return;
    stream.closed = true;
    for (const b of stream.queue) this.#queued -= b.length;
    stream.queue = [];
    stream.trailers = undefined;
    this.releaseTo(stream, 0);
    this.#streams.delete(stream.id);
    this.#blocked.delete(stream);
    stream.onClose?.(reset);
    if (this.#streams.size === 0) {
      this.#idleSince = Date.now();
      if (this.#goingAway) this.#end();
    }
  }

  #connectionError(code: number, message: string): void {
    if (this.#failed || this.#socket.destroyed) return;
    this.#failed = true;
    this.#write(goawayFrame(this.#lastStreamId, code, message));
    this.#end(true); // once the GOAWAY is written
    this.#closeAll();
  }

  #closeAll(): void {
    const open = [...this.#streams.values()];
    for (const s of open) this.closeStream(s, true);
  }

  /**
   * Ends the socket once what is written has gone: half-closed (the peer closes its side after
   * reading it), or destroyed at once on a connection error. A peer that does not read loses the
   * socket after closeLingerMs either way.
   */
  #end(destroy = false): void {
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (destroy) socket.destroySoon();
    else socket.end();
    setTimeout(() => socket.destroy(), this.#o.closeLingerMs ?? DEFAULT_CLOSE_LINGER_MS).unref();
  }

  /**
   * Queues answer DATA on `stream` and sends what the windows allow; false when the unsent
   * answers the connection holds would pass maxUnreadBytes (the caller resets the stream).
   */
  queueData(stream: ServerStream, data: Buffer): boolean {
    // One answer of any size may wait; beyond that, answers waiting add up to the bound at most.
    if (this.#queued > 0 && this.#queued + data.length > (this.#o.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES)) return false;
    this.#queued += data.length;
    stream.queue.push(data);
    this.flushStream(stream);
    return true;
  }

  #onSocketClose(): void {
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#idleTimer);
    this.#closeAll();
    this.onClosed?.();
  }
}

/**
 * A request's header fields in arrival order, as the HPACK decoder gave them. Read one with
 * headerValue(); a list rather than an object, because building a dictionary per request was a
 * tenth of what the server allocated per request under overload.
 */
export type RequestHeaders = readonly (readonly [string, string])[];

/** The value of header `name` (lowercase), repeats joined with ", " (RFC 9110 §5.3); undefined when absent. */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  let out: string | undefined;
  for (const [n, v] of headers) {
    if (n === name) out = out === undefined ? v : `${out}, ${v}`;
  }
  return out;
}

/**
 * Whether a request's header list is well formed (RFC 9113 §8.2, §8.3). It is not when it has an
 * unknown or repeated pseudo-header, one after a regular field, no :method, :scheme or :path, an
 * uppercase or connection-specific field name, or a te other than "trailers".
 */
function validRequestHeaders(fields: HeaderList): boolean {
  let seen = 0;
  let regular = false;
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      const bit = PSEUDO.get(name);
      if (regular || bit === undefined || (seen & bit) !== 0) return false;
      seen |= bit;
    } else {
      regular = true;
      if (name.length === 0 || name !== name.toLowerCase() || CONNECTION_SPECIFIC.has(name)) return false;
      if (name === 'te' && value !== 'trailers') return false;
    }
  }
  return (seen & REQUIRED_PSEUDO) === REQUIRED_PSEUDO;
}
