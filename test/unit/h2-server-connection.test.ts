/**
 * The server side of HTTP/2 against a raw client on loopback that writes frames by hand: what a
 * confused or hostile client sends (a wrong preface, malformed request headers, too many streams,
 * a reset flood, DATA beyond the window, endless CONTINUATION, bodies beyond the buffer bound) gets
 * the stream or connection error RFC 9113 names, and the connection survives what is only a
 * stream error; a connection that never starts HTTP/2 is closed at the handshake deadline, and
 * one left without streams at the idle timeout. Plus flow control on answers bigger than the
 * client's window.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  ErrorCode, Flag, type Frame, FrameReader, FrameType, frame, PREFACE, rstStreamFrame, Setting, settingsFrame,
  windowUpdateFrame,
} from '../../src/server/h2/frames';
import { HpackDecoder, indexedField, literalField, STATIC } from '../../src/server/h2/hpack';
import { headerValue, type RequestHeaders, ServerConnection, type ServerConnectionOptions, type ServerStream } from '../../src/server/h2/server-connection';

const HANDSHAKE_MS = 400;
const OPTIONS: Omit<ServerConnectionOptions, 'onStream'> = {
  maxConcurrentStreams: 4, streamWindow: 1 << 16, connectionWindow: 1 << 20, maxHeaderListBytes: 4096,
  maxBufferedBytes: 100_000, handshakeTimeoutMs: HANDSHAKE_MS,
};

/**
 * Echo: the request body back with :status 200 once the client ends, as one sendResponse;
 * "/big/n" answers `n` bytes, "/parts" sends headers, DATA and trailers with a call each,
 * "/prefixed" puts "> " before the body, and "/pieces" passes the body as small and large pieces.
 */
function echo(stream: ServerStream, headers: RequestHeaders): void {
  const chunks: Buffer[] = [];
  stream.onData = (c) => chunks.push(c);
  stream.onEnd = () => {
    const path = headerValue(headers, ':path') ?? '';
    const status = Buffer.from(indexedField(STATIC.status200));
    const trailers = Buffer.from(literalField('x-done', 'yes'));
    const big = /^\/big\/(\d+)$/.exec(path);
    const body = big !== null ? Buffer.alloc(Number(big[1]), 7) : Buffer.concat(chunks);
    if (path === '/parts') {
      stream.sendHeaders(status, false);
      stream.sendData(body);
      stream.sendTrailers(trailers);
    } else if (path === '/pieces') {
      const cuts = [0, 3, 1500, 1510, 1520, body.length].map((n) => Math.min(n, body.length));
      stream.sendResponse(status, Buffer.from('> '), cuts.slice(1).map((end, i) => body.subarray(cuts[i], end)), trailers);
    } else {
      stream.sendResponse(status, Buffer.from(path === '/prefixed' ? '> ' : ''), [body], trailers);
    }
  };
}

/** A hand-driven client: writes raw bytes, collects frames (header blocks decoded). */
class RawClient {
  readonly frames: (Frame & { headers?: [string, string][] })[] = [];
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  readonly #reader = new FrameReader(1 << 24);
  readonly #hpack = new HpackDecoder();

  constructor(port: number, preface = true) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => undefined);
    // Rejects after 5 s, so a server that wrongly keeps the connection fails the test, not hangs it.
    this.closed = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the server kept the connection open')), 5_000);
      this.socket.once('close', () => { clearTimeout(timer); resolve(); });
    });
    this.closed.catch(() => undefined);
    this.socket.on('data', (chunk: Buffer) => this.#reader.push(chunk, (f) => {
      const headers = f.type === FrameType.HEADERS ? this.#hpack.decode(f.payload) : undefined;
      this.frames.push(headers === undefined ? f : { ...f, headers });
      if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) this.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
    }));
    if (preface) this.send(Buffer.concat([PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]])]));
  }

  send(b: Buffer): void { this.socket.write(b); }

  /** A request HEADERS frame: POST `path` plus `extra` literal fields. */
  headers(id: number, path: string, flags: number = Flag.END_HEADERS, extra: [string, string][] = []): void {
    const block = Buffer.from([...indexedField(STATIC.methodPost), ...indexedField(STATIC.schemeHttp),
      ...literalField(STATIC.path, path), ...extra.flatMap(([n, v]) => literalField(n, v))]);
    this.send(frame(FrameType.HEADERS, flags, id, block));
  }

  async waitFor(pred: (f: Frame & { headers?: [string, string][] }) => boolean, what: string): Promise<Frame & { headers?: [string, string][] }> {
    for (let i = 0; i < 200; i++) {
      const f = this.frames.find(pred);
      if (f !== undefined) return f;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${what}; got ${this.frames.map((f) => `${f.type}/${f.streamId}`).join(' ')}`);
  }

  close(): void { this.socket.destroy(); }
}

const isRst = (id: number, code: number) => (f: Frame): boolean =>
  f.type === FrameType.RST_STREAM && f.streamId === id && f.payload.readUInt32BE(0) === code;
const isGoaway = (code: number) => (f: Frame): boolean => f.type === FrameType.GOAWAY && f.payload.readUInt32BE(4) === code;
const endsStream = (id: number) => (f: Frame): boolean => f.streamId === id && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0;

describe('HTTP/2 server connection', () => {
  let server: net.Server;
  let port = 0;
  const clients: RawClient[] = [];
  const client = (preface = true): RawClient => { const c = new RawClient(port, preface); clients.push(c); return c; };

  before(async () => {
    server = net.createServer((socket) => new ServerConnection(socket, { ...OPTIONS, onStream: echo }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    for (const c of clients) c.close();
    server.close();
  });

  test('a request and its answer: headers, body, trailers; SETTINGS name the limits', async () => {
    const c = client();
    c.headers(1, '/echo');
    c.send(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('hello')));
    const settings = await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0, 'SETTINGS');
    assert.equal(settings.payload.readUInt16BE(0), Setting.MAX_CONCURRENT_STREAMS);
    assert.equal(settings.payload.readUInt32BE(2), OPTIONS.maxConcurrentStreams);
    const trailers = await c.waitFor(endsStream(1), 'trailers');
    assert.deepEqual(trailers.headers, [['x-done', 'yes']]);
    const data = c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1);
    assert.equal(Buffer.concat(data.map((f) => f.payload)).toString(), 'hello');
    assert.deepEqual(c.frames.find((f) => f.type === FrameType.HEADERS && f.streamId === 1)?.headers, [[':status', '200']]);
  });

  test('an answer sent in parts or whole, with a prefix, comes out as the same frames', async () => {
    const c = client();
    const paths = ['/parts', '/echo', '/prefixed'];
    paths.forEach((path, i) => {
      c.headers(2 * i + 1, path);
      c.send(frame(FrameType.DATA, Flag.END_STREAM, 2 * i + 1, Buffer.from('hello')));
    });
    for (let i = 0; i < paths.length; i++) await c.waitFor(endsStream(2 * i + 1), `trailers of ${paths[i]}`);
    const answers = paths.map((_, i) => c.frames.filter((f) => f.streamId === 2 * i + 1)
      .map((f) => [f.type, f.flags, f.headers ?? f.payload.toString()]));
    const answer = (body: string) => [[FrameType.HEADERS, Flag.END_HEADERS, [[':status', '200']]], [FrameType.DATA, 0, body],
      [FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, [['x-done', 'yes']]]];
    assert.deepEqual(answers, [answer('hello'), answer('hello'), answer('> hello')]);
  });

  test('an answer in small and large pieces comes out as one DATA frame with the pieces in order', async () => {
    const c = client();
    const body = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff));
    c.headers(1, '/pieces');
    c.send(frame(FrameType.DATA, Flag.END_STREAM, 1, body));
    c.headers(3, '/prefixed');
    c.send(frame(FrameType.DATA, Flag.END_STREAM, 3, body));
    for (const id of [1, 3]) await c.waitFor(endsStream(id), `trailers of stream ${id}`);
    const answer = (id: number) => c.frames.filter((f) => f.streamId === id).map((f) => [f.type, f.flags, f.headers ?? f.payload]);
    assert.deepEqual(answer(1), answer(3));
    const data = c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1);
    assert.equal(data.length, 1);
    assert.deepEqual(data[0]?.payload, Buffer.concat([Buffer.from('> '), body]));
  });

  test('an answer larger than the client\'s stream window waits for WINDOW_UPDATE, in frames of at most 16 KiB', async () => {
    const c = new RawClient(port, false);
    clients.push(c);
    c.send(Buffer.concat([PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 20_000]])]));
    c.headers(1, '/big/50000', Flag.END_HEADERS | Flag.END_STREAM);
    await c.waitFor((f) => f.type === FrameType.DATA, 'DATA');
    await new Promise((r) => setTimeout(r, 50));
    const sent = (): number => c.frames.filter((f) => f.type === FrameType.DATA).reduce((a, f) => a + f.payload.length, 0);
    assert.equal(sent(), 20_000, 'stopped at the window');
    assert.ok(c.frames.every((f) => f.payload.length <= 16_384));
    c.send(windowUpdateFrame(1, 30_000));
    await c.waitFor(endsStream(1), 'trailers after the rest');
    assert.equal(sent(), 50_000);
  });

  test('a SETTINGS that shrinks the window below what is in flight leaves it negative until WINDOW_UPDATEs refill it (§6.9.2)', async () => {
    const c = new RawClient(port, false);
    clients.push(c);
    c.send(Buffer.concat([PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 20_000]])]));
    c.headers(1, '/big/50000', Flag.END_HEADERS | Flag.END_STREAM);
    const sent = (): number => c.frames.filter((f) => f.type === FrameType.DATA).reduce((a, f) => a + f.payload.length, 0);
    for (let i = 0; i < 200 && sent() < 20_000; i++) await new Promise((r) => setTimeout(r, 5));
    c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 10_000]])); // the stream's window: 10,000 - 20,000 = -10,000
    c.send(windowUpdateFrame(1, 15_000)); // now 5,000
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent(), 25_000);
    c.send(windowUpdateFrame(1, 25_000));
    await c.waitFor(endsStream(1), 'the trailers once the window covers the rest');
    assert.equal(sent(), 50_000);
    assert.ok(!c.frames.some((f) => f.type === FrameType.GOAWAY), 'the connection survives');
  });

  test('malformed request headers are a stream error; the connection goes on', async () => {
    const c = client();
    c.headers(1, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [['X-Upper', 'a']]);
    c.headers(3, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [['connection', 'close']]);
    c.headers(5, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [['te', 'gzip']]);
    c.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 7, Buffer.from(indexedField(STATIC.methodPost))));
    // Pseudo-headers: repeated, unknown, and after a regular field.
    c.headers(9, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [[':path', '/echo']]);
    c.headers(11, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [[':protocol', 'x']]);
    c.headers(13, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [['x-a', '1'], [':authority', 'h']]);
    for (const id of [1, 3, 5, 7, 9, 11, 13]) await c.waitFor(isRst(id, ErrorCode.PROTOCOL_ERROR), `RST_STREAM PROTOCOL_ERROR on ${id}`);
    c.headers(15, '/echo', Flag.END_HEADERS | Flag.END_STREAM, [[':authority', 'h'], ['x-a', '1']]);
    await c.waitFor(endsStream(15), 'a good request after them');
  });

  test('headerValue finds a field and joins repeats with ", "', () => {
    const headers = [[':path', '/p'], ['x-a', '1'], ['x-b', '2'], ['x-a', '3']] as const;
    assert.equal(headerValue(headers, ':path'), '/p');
    assert.equal(headerValue(headers, 'x-a'), '1, 3');
    assert.equal(headerValue(headers, 'x-c'), undefined);
  });

  test('streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused', async () => {
    const c = client();
    for (let i = 0; i < 6; i++) c.headers(1 + 2 * i, '/echo'); // open, never ended
    await c.waitFor(isRst(9, ErrorCode.REFUSED_STREAM), 'REFUSED_STREAM on the 5th');
    await c.waitFor(isRst(11, ErrorCode.REFUSED_STREAM), 'REFUSED_STREAM on the 6th');
    assert.ok(!c.frames.some(isRst(7, ErrorCode.REFUSED_STREAM)));
  });

  test('DATA beyond the stream window granted is a stream error; the connection goes on', async () => {
    // A window smaller than one frame: the only way past it, since windows are given back at half.
    const small = net.createServer((socket) => new ServerConnection(socket, { ...OPTIONS, streamWindow: 10_000, onStream: echo }));
    await new Promise<void>((resolve) => small.listen(0, '127.0.0.1', resolve));
    const c = new RawClient((small.address() as net.AddressInfo).port);
    try {
      c.headers(1, '/echo');
      c.send(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_000)));
      await c.waitFor(isRst(1, ErrorCode.FLOW_CONTROL_ERROR), 'RST_STREAM FLOW_CONTROL_ERROR');
      c.headers(3, '/echo');
      c.send(frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(9_000)));
      await c.waitFor(endsStream(3), 'a good request after it');
    } finally {
      c.close();
      small.close();
    }
  });

  test('a connection that stays silent, or trickles the preface, is closed at the handshake deadline; one that completed it is kept', async () => {
    const start = Date.now();
    // Plain sockets: a RawClient would answer the server's SETTINGS.
    const closes = (socket: net.Socket): Promise<number> => new Promise((resolve, reject) => {
      const timer = setTimeout(() => { socket.destroy(); reject(new Error('the server kept a connection that never started HTTP/2')); }, 5_000);
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.on('close', () => { clearTimeout(timer); resolve(Date.now() - start); });
    });
    const silent = net.connect(port, '127.0.0.1');
    const trickle = net.connect(port, '127.0.0.1');
    let at = 0;
    const drip = setInterval(() => { if (at < PREFACE.length) trickle.write(PREFACE.subarray(at, ++at)); }, 50);
    const done = client();
    const [silentMs, trickleMs] = await Promise.all([closes(silent), closes(trickle)]).finally(() => clearInterval(drip));
    for (const ms of [silentMs, trickleMs]) assert.ok(ms >= HANDSHAKE_MS - 50 && ms < 5 * HANDSHAKE_MS, `closed after ${ms} ms`);
    assert.ok(at < PREFACE.length, 'the trickle was cut off before it finished');
    // Past the deadline, the connection that sent its SETTINGS in time still serves.
    await new Promise((r) => setTimeout(r, HANDSHAKE_MS));
    done.headers(1, '/echo');
    done.send(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('late')));
    await done.waitFor(endsStream(1), 'an answer after the deadline');
  });

  test('a connection without streams for idleTimeoutMs gets GOAWAY NO_ERROR and is closed; one with a stream open is kept', async () => {
    const IDLE_MS = 300;
    const idle = net.createServer((socket) => new ServerConnection(socket, { ...OPTIONS, idleTimeoutMs: IDLE_MS, onStream: echo }));
    await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', resolve));
    const idlePort = (idle.address() as net.AddressInfo).port;
    const quiet = new RawClient(idlePort);
    const busy = new RawClient(idlePort);
    try {
      const start = Date.now();
      busy.headers(1, '/echo');
      busy.send(frame(FrameType.DATA, 0, 1, Buffer.from('held')));
      await quiet.closed;
      const quietMs = Date.now() - start;
      assert.ok(quietMs >= IDLE_MS - 50 && quietMs < 5 * IDLE_MS, `the idle connection closed after ${quietMs} ms`);
      assert.ok(quiet.frames.some(isGoaway(ErrorCode.NO_ERROR)), 'GOAWAY NO_ERROR before the close');
      // Twice the limit with a stream open: kept; then idle once its stream is done: closed.
      await new Promise((r) => setTimeout(r, 2 * IDLE_MS));
      assert.ok(!busy.socket.destroyed && !busy.frames.some((f) => f.type === FrameType.GOAWAY), 'the connection with an open stream was kept');
      busy.send(frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from(' done')));
      await busy.waitFor(endsStream(1), 'the held stream\'s answer');
      const answered = Date.now();
      await busy.closed;
      const afterMs = Date.now() - answered;
      assert.ok(afterMs >= IDLE_MS - 50 && afterMs < 5 * IDLE_MS, `closed ${afterMs} ms after its last stream`);
      assert.ok(busy.frames.some(isGoaway(ErrorCode.NO_ERROR)));
    } finally {
      quiet.close();
      busy.close();
      idle.close();
    }
  });

  test('a wrong preface, a first frame other than SETTINGS, and a stream id going backwards end the connection', async () => {
    const http1 = client(false);
    http1.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await http1.closed;
    assert.ok(http1.frames.some(isGoaway(ErrorCode.PROTOCOL_ERROR)));

    const noSettings = client(false);
    noSettings.send(Buffer.concat([PREFACE, frame(FrameType.PING, 0, 0, Buffer.alloc(8))]));
    await noSettings.closed;
    assert.ok(noSettings.frames.some(isGoaway(ErrorCode.PROTOCOL_ERROR)));

    const backwards = client();
    backwards.headers(5, '/echo', Flag.END_HEADERS | Flag.END_STREAM);
    backwards.headers(3, '/echo', Flag.END_HEADERS | Flag.END_STREAM);
    await backwards.closed;
    assert.ok(backwards.frames.some(isGoaway(ErrorCode.PROTOCOL_ERROR)));
  });

  test('CONTINUATION frames past the header list bound end the connection', async () => {
    const c = client();
    c.headers(1, '/echo', 0);
    for (let i = 0; i < 10; i++) c.send(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(1000, 0x40)));
    await c.closed;
    assert.ok(c.frames.some(isGoaway(ErrorCode.ENHANCE_YOUR_CALM)));
  });

  test('request bytes beyond the connection\'s buffer bound reset the stream that overflows it', async () => {
    const c = client();
    for (const id of [1, 3]) {
      c.headers(id, '/echo');
      for (let i = 0; i < 4; i++) c.send(frame(FrameType.DATA, 0, id, Buffer.alloc(15_000)));
    }
    await c.waitFor(isRst(3, ErrorCode.ENHANCE_YOUR_CALM), 'RST_STREAM ENHANCE_YOUR_CALM on the second body');
    assert.ok(!c.frames.some(isRst(1, ErrorCode.ENHANCE_YOUR_CALM)));
  });

  describe('output to clients that read slowly or not at all (maxUnreadBytes 1 MiB)', () => {
    let tight: net.Server;
    let tightPort = 0;
    /** Server-side sockets closed so far (a paused client cannot see its socket close). */
    let serverClosed = 0;
    before(async () => {
      tight = net.createServer((socket) => {
        socket.on('close', () => { serverClosed++; });
        return new ServerConnection(socket, { ...OPTIONS, maxUnreadBytes: 1 << 20, closeLingerMs: 300, onStream: echo });
      });
      await new Promise<void>((resolve) => tight.listen(0, '127.0.0.1', resolve));
      tightPort = (tight.address() as net.AddressInfo).port;
    });
    after(() => tight.close());

    /** A client whose windows are wide open, so flow control holds nothing back. */
    const openClient = async (): Promise<RawClient> => {
      const c = new RawClient(tightPort, false);
      clients.push(c);
      c.send(Buffer.concat([PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]),
        windowUpdateFrame(0, 2 ** 31 - 1 - 65_535)]));
      await c.waitFor((f) => f.type === FrameType.SETTINGS, 'SETTINGS');
      return c;
    };
    const dataBytes = (c: RawClient, id: number): number =>
      c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id).reduce((a, f) => a + f.payload.length, 0);

    test('an answer 20 times the bound reaches a client that pauses, whole: DATA waits for the socket to drain', async () => {
      const c = await openClient();
      c.socket.pause();
      c.headers(1, '/big/20000000', Flag.END_HEADERS | Flag.END_STREAM);
      await new Promise((r) => setTimeout(r, 300));
      c.socket.resume();
      await c.waitFor(endsStream(1), 'the end of the answer');
      assert.equal(dataBytes(c, 1), 20_000_000);
      assert.ok(!c.socket.destroyed);
    });

    test('a client that floods PINGs and does not read the ACKs loses the connection', async () => {
      const c = await openClient();
      c.socket.pause();
      const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
      c.send(Buffer.concat(Array.from({ length: 1_000_000 }, () => ping)));
      await c.closed;
    });

    test('answers waiting for a window that never opens are bounded: the stream that would pass it is reset', async () => {
      const c = new RawClient(tightPort, false);
      clients.push(c);
      c.send(Buffer.concat([PREFACE, settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]])]));
      c.headers(1, '/big/800000', Flag.END_HEADERS | Flag.END_STREAM);
      c.headers(3, '/big/800000', Flag.END_HEADERS | Flag.END_STREAM);
      await c.waitFor(isRst(3, ErrorCode.ENHANCE_YOUR_CALM), 'RST_STREAM ENHANCE_YOUR_CALM on the second answer');
      assert.ok(!c.frames.some(isRst(1, ErrorCode.ENHANCE_YOUR_CALM)), 'the first answer (one may always wait) was kept');
    });

    test('after a connection error, a client that does not read loses the socket at closeLingerMs', async () => {
      const c = await openClient();
      c.socket.pause();
      c.headers(1, '/big/20000000', Flag.END_HEADERS | Flag.END_STREAM);
      await new Promise((r) => setTimeout(r, 100));
      const before = serverClosed;
      c.send(frame(FrameType.DATA, 0, 0, Buffer.from('x'))); // DATA on stream 0: a connection error
      const start = Date.now();
      while (serverClosed === before) {
        assert.ok(Date.now() - start < 3_000, 'the server still holds the socket of a client that does not read');
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  });

  test('a rapid-reset flood (CVE-2023-44487) loses the connection', async () => {
    const c = client();
    const burst: Buffer[] = [];
    const block = Buffer.from([...indexedField(STATIC.methodPost), ...indexedField(STATIC.schemeHttp), ...literalField(STATIC.path, '/echo')]);
    for (let i = 0; i < 20_500; i++) {
      const id = 1 + 2 * i;
      burst.push(frame(FrameType.HEADERS, Flag.END_HEADERS, id, block), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    c.send(Buffer.concat(burst));
    await c.closed;
    assert.ok(c.frames.some(isGoaway(ErrorCode.ENHANCE_YOUR_CALM)));
  });
});
