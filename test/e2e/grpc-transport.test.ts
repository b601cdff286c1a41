import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SluiceError, isErrorCode } from '../../src/runtime/status';
import { GrpcTransport, type CallContext, type Method } from '../../src/server/grpc-transport';
import { frameMessage } from '../../src/server/grpc-wire';
import { headerValue, type RequestHeaders, type ServerStream } from '../../src/server/h2/server-connection';

/**
 * GrpcTransport on its own, with small handlers defined here, driven by a real @grpc/grpc-js client
 * and, where grpc-js cannot express a case (no RST on deadline, malformed headers, odd framing),
 * by raw node:http2 requests.
 */

const Status = grpc.status;
const MAX_MESSAGE = 64 * 1024;
const SERVICE = '/test.Echo';
const identity = (b: Buffer): Buffer => b;

/** Each Hang call announces itself with the promise of its signal's abort reason. */
const hangs = new EventEmitter();
/** Request headers and the first DATA byte seen on /test.Echo/Echo while `recording` is set. */
let recording: { headers: RequestHeaders[]; firstBytes: number[] } | undefined;

function abortReason(ctx: CallContext): Promise<unknown> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) resolve(ctx.signal.reason);
    else ctx.signal.addEventListener('abort', { handleEvent: () => resolve(ctx.signal.reason) }, { once: true });
  });
}

function methods(): Map<string, Method> {
  return new Map<string, Method>([
    [`${SERVICE}/Echo`, { kind: 'unary', handler: (req) => req }],
    // Echoes after 0.1 ms of work on the event loop.
    [`${SERVICE}/Busy`, { kind: 'unary', handler: (req) => {
      const end = performance.now() + 0.1;
      while (performance.now() < end);
      return req;
    } }],
    [`${SERVICE}/AsyncEcho`, { kind: 'unary', handler: async (req) => { await delay(50); return req; } }],
    // The request is JSON {code, message}; the handler throws that SluiceError.
    [`${SERVICE}/Fail`, { kind: 'unary', handler: (req) => {
      const { code, message } = JSON.parse(req.toString('utf8')) as { code: string; message: string };
      if (!isErrorCode(code)) throw new Error(`bad test code ${code}`);
      throw new SluiceError(code, message);
    } }],
    [`${SERVICE}/Crash`, { kind: 'unary', handler: () => { throw new Error('plain crash'); } }],
    [`${SERVICE}/Reject`, { kind: 'unary', handler: async () => { await delay(1); throw new TypeError('async plain failure'); } }],
    [`${SERVICE}/Hang`, { kind: 'unary', handler: (_req, ctx) => {
      hangs.emit('hang', abortReason(ctx));
      return new Promise<Buffer>(() => undefined);
    } }],
    // Replies after the number of ms in the request (ASCII).
    [`${SERVICE}/Slow`, { kind: 'unary', handler: async (req, ctx) => {
      hangs.emit('slow', abortReason(ctx));
      await delay(Number(req.toString('ascii')));
      return Buffer.from('slow done');
    } }],
    [`${SERVICE}/Count`, { kind: 'serverStream', handler: (req, _ctx, out) => {
      for (let i = 1; i <= 3; i++) out.write(Buffer.from(`${req.toString('utf8')}#${i}`));
      out.end();
      out.write(Buffer.from('dropped after end'));
    } }],
    [`${SERVICE}/CountThenFail`, { kind: 'serverStream', handler: (_req, _ctx, out) => {
      out.write(Buffer.from('one'));
      setTimeout(() => out.end(new SluiceError('ABORTED', 'stream failed after one')), 5);
    } }],
    // Writes every 10 ms until the call is aborted, then once more (dropped).
    [`${SERVICE}/Ticker`, { kind: 'serverStream', handler: (_req, ctx, out) => {
      hangs.emit('ticker', abortReason(ctx));
      let n = 0;
      const timer = setInterval(() => {
        out.write(Buffer.from(`tick ${++n}`));
        if (ctx.signal.aborted) clearInterval(timer);
      }, 10);
    } }],
    // Never answers nor ends.
    [`${SERVICE}/Silent`, { kind: 'bidi', handler: (ctx) => {
      hangs.emit('silent', abortReason(ctx));
      return { onMessage: () => undefined, onEnd: () => undefined };
    } }],
    [`${SERVICE}/Chat`, { kind: 'bidi', handler: (_ctx, out) => {
      let n = 0;
      return {
        onMessage: (m) => { n += 1; out.write(Buffer.concat([Buffer.from(`${n}:`), m])); },
        onEnd: () => out.end(),
      };
    } }],
  ]);
}

async function startTransport(receiveTimeoutMs?: number): Promise<{ transport: GrpcTransport; port: number; address: string }> {
  const transport = new GrpcTransport(methods(), { maxMessageBytes: MAX_MESSAGE,
    ...(receiveTimeoutMs === undefined ? {} : { receiveTimeoutMs }) });
  const port = await transport.listen('127.0.0.1', 0);
  // A look at what reached the server (grpc-encoding, compressed flag), around the private onStream.
  const t = transport as unknown as { onStream(stream: ServerStream, headers: RequestHeaders): void };
  const onStream = t.onStream.bind(transport);
  t.onStream = (stream, headers) => {
    onStream(stream, headers);
    const rec = recording;
    if (rec === undefined || headerValue(headers, ':path') !== `${SERVICE}/Echo`) return;
    rec.headers.push(headers);
    const onData = stream.onData;
    let first = true;
    stream.onData = (chunk: Buffer) => {
      if (first) { first = false; rec.firstBytes.push(chunk[0] ?? -1); }
      onData?.(chunk);
    };
  };
  return { transport, port, address: `127.0.0.1:${port}` };
}

/** Rejects after `ms` so no test can hang. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
  ]);
}

function newClient(address: string, options: grpc.ChannelOptions = {}): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure(), options);
}

function unary(client: grpc.Client, method: string, request: Buffer, options: grpc.CallOptions = {}):
  { response: Promise<Buffer>; call: grpc.ClientUnaryCall } {
  let call: grpc.ClientUnaryCall | undefined;
  const response = new Promise<Buffer>((resolve, reject) => {
    call = client.makeUnaryRequest(`${SERVICE}/${method}`, identity, identity, request, new grpc.Metadata(), options,
      (err, res) => (err !== null ? reject(err) : resolve(res as Buffer)));
  });
  return { response, call: call as unknown as grpc.ClientUnaryCall };
}

async function rejectsWith(p: Promise<unknown>, code: number, details?: RegExp | string): Promise<grpc.ServiceError> {
  let caught: grpc.ServiceError | undefined;
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `expected ${Status[code]}, got ${Status[e.code]}: ${e.details}`);
    if (typeof details === 'string') assert.equal(e.details, details);
    else if (details !== undefined) assert.match(e.details, details);
    caught = e;
    return true;
  });
  return caught as grpc.ServiceError;
}

interface RawResponse {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  data: Buffer;
  /** grpc-status from trailers, or from the headers of a trailers-only response. */
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
}

/**
 * One request on a raw http2 session: `body` chunks written in turn, `pauseMs` apart, then the end
 * of the request. Never resets the stream itself.
 */
async function rawRequest(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders,
  body: Buffer[], pauseMs = 0): Promise<RawResponse> {
  const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
  const data: Buffer[] = [];
  let responseHeaders: http2.IncomingHttpHeaders = {};
  let trailers: http2.IncomingHttpHeaders = {};
  req.on('response', (h) => { responseHeaders = h; });
  req.on('trailers', (t) => { trailers = t; });
  req.on('data', (c: Buffer) => data.push(c));
  const done = new Promise<void>((resolve, reject) => {
    req.on('close', () => resolve());
    req.on('error', reject);
  });
  for (const chunk of body) {
    if (req.closed) break;
    req.write(chunk);
    if (pauseMs > 0) await delay(pauseMs);
  }
  if (!req.closed) req.end();
  await done;
  const pick = (k: string): string | undefined => {
    const v = trailers[k] ?? responseHeaders[k];
    return typeof v === 'string' ? v : undefined;
  };
  return { headers: responseHeaders, trailers, data: Buffer.concat(data), grpcStatus: pick('grpc-status'), grpcMessage: pick('grpc-message') };
}

/** Splits a response body into its messages (uncompressed frames). */
function unframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    assert.equal(body[at], 0, 'responses are not compressed');
    const n = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + n));
    at += 5 + n;
  }
  return out;
}

describe('GrpcTransport', () => {
  let transport: GrpcTransport;
  let address: string;
  let client: grpc.Client;
  let session: http2.ClientHttp2Session;
  const extraClients: grpc.Client[] = [];

  before(async () => {
    ({ transport, address } = await startTransport());
    client = newClient(address);
    session = http2.connect(`http://${address}`);
    session.on('error', () => undefined);
  });

  after(async () => {
    client.close();
    for (const c of extraClients) c.close();
    session.close();
    await within(transport.shutdown(), 2000, 'main transport shutdown');
  });

  describe('unary calls through grpc-js', () => {
    test('echo, empty message and a message of exactly the limit', async () => {
      assert.deepEqual(await unary(client, 'Echo', Buffer.from('hello')).response, Buffer.from('hello'));
      assert.deepEqual(await unary(client, 'Echo', Buffer.alloc(0)).response, Buffer.alloc(0));
      const full = Buffer.alloc(MAX_MESSAGE, 0xab);
      assert.deepEqual(await unary(client, 'Echo', full).response, full);
      assert.deepEqual(await unary(client, 'AsyncEcho', Buffer.from('later')).response, Buffer.from('later'));
    });

    test('grants each connection and each stream 1 MiB of flow-control window', async () => {
      // With HTTP/2's 64 KiB defaults, a loaded connection stalls every ~30 small requests on a
      // WINDOW_UPDATE round trip through the event loop (seen in the bench as seconds of backlog);
      // much more can deadlock it (see the test below).
      const fresh = http2.connect(`http://${address}`);
      fresh.on('error', () => undefined);
      try {
        const [settings] = await once(fresh, 'remoteSettings') as [http2.Settings];
        assert.equal(settings.initialWindowSize, 2 ** 20);
        // The connection-level WINDOW_UPDATE follows the SETTINGS frame; a PING's ack comes after it.
        await new Promise<void>((resolve, reject) => fresh.ping((e) => (e ? reject(e) : resolve())));
        assert.equal(fresh.state.remoteWindowSize, 2 ** 20);
        const body = Buffer.alloc(MAX_MESSAGE, 7);
        assert.deepEqual(await unary(client, 'Echo', body).response, body);
      } finally {
        fresh.close();
      }
    });

    test('many concurrent calls on one connection each get their own answer', async () => {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        unary(client, i % 2 === 0 ? 'Echo' : 'AsyncEcho', Buffer.from(`msg-${i}`)).response));
      replies.forEach((r, i) => assert.equal(r.toString(), `msg-${i}`));
    });

    for (const [name, algorithm] of [['gzip', 2], ['deflate', 1]] as const) {
      test(`${name}-compressed requests from grpc-js`, async () => {
        const c = newClient(address, { 'grpc.default_compression_algorithm': algorithm });
        extraClients.push(c);
        recording = { headers: [], firstBytes: [] };
        try {
          const body = Buffer.from(`compress me with ${name} `.repeat(400));
          assert.deepEqual(await unary(c, 'Echo', body).response, body);
          assert.deepEqual(await unary(c, 'Echo', Buffer.from('small')).response, Buffer.from('small'));
          // What the server saw: the encoding header and the compressed flag set.
          assert.equal(headerValue(recording.headers[0] ?? [], 'grpc-encoding'), name);
          assert.equal(recording.firstBytes[0], 1, 'the message was sent compressed');
          // The limit applies after decompression: a bomb small on the wire is refused.
          await rejectsWith(unary(c, 'Echo', Buffer.alloc(4 * MAX_MESSAGE)).response, Status.RESOURCE_EXHAUSTED,
            /decompressed message larger than max/);
          assert.deepEqual(await unary(c, 'Echo', body).response, body, 'the client still works');
        } finally {
          recording = undefined;
        }
      });
    }

    test('unknown method and unknown service are UNIMPLEMENTED', async () => {
      await rejectsWith(unary(client, 'NoSuchMethod', Buffer.from('x')).response, Status.UNIMPLEMENTED,
        /unknown method \/test\.Echo\/NoSuchMethod/);
      await new Promise<void>((resolve, reject) => {
        client.makeUnaryRequest('/other.Service/Echo', identity, identity, Buffer.from('x'), (err) => {
          try {
            assert.equal(err?.code, Status.UNIMPLEMENTED);
            resolve();
          } catch (e) { reject(e); }
        });
      });
    });

    test('an over-limit message is RESOURCE_EXHAUSTED, and the same client still works after', async () => {
      await rejectsWith(unary(client, 'Echo', Buffer.alloc(MAX_MESSAGE + 1)).response, Status.RESOURCE_EXHAUSTED,
        `received message larger than max (${MAX_MESSAGE + 1} vs. ${MAX_MESSAGE})`);
      // Much larger than the limit (many DATA frames the server never reads).
      await rejectsWith(unary(client, 'Echo', Buffer.alloc(4 * 1024 * 1024)).response, Status.RESOURCE_EXHAUSTED,
        /received message larger than max/);
      assert.deepEqual(await unary(client, 'Echo', Buffer.from('still fine')).response, Buffer.from('still fine'));
      const again = await Promise.all([unary(client, 'Echo', Buffer.from('a')).response, unary(client, 'AsyncEcho', Buffer.from('b')).response]);
      assert.deepEqual(again.map(String), ['a', 'b']);
    });

    test('a SluiceError code and message arrive intact', async () => {
      const cases: [string, number, string][] = [
        ['NOT_FOUND', Status.NOT_FOUND, "model 'resnet' is not found"],
        ['INVALID_ARGUMENT', Status.INVALID_ARGUMENT, 'shape [1,2] != [1,3]; 100% wrong: #1 ?a=b&c'],
        ['UNAVAILABLE', Status.UNAVAILABLE, 'model loading'],
        ['FAILED_PRECONDITION', Status.FAILED_PRECONDITION, 'line one\nline two\ttabbed'],
        ['RESOURCE_EXHAUSTED', Status.RESOURCE_EXHAUSTED, 'queue full'],
        ['NOT_FOUND', Status.NOT_FOUND, 'модель «x» не найдена — 模型 🚀 é%C3'],
        ['INTERNAL', Status.INTERNAL, ''],
      ];
      for (const [code, status, message] of cases) {
        await rejectsWith(unary(client, 'Fail', Buffer.from(JSON.stringify({ code, message }))).response, status, message);
      }
    });

    test('a plain Error thrown or rejected by a handler is INTERNAL with its message', async () => {
      await rejectsWith(unary(client, 'Crash', Buffer.from('x')).response, Status.INTERNAL, 'plain crash');
      await rejectsWith(unary(client, 'Reject', Buffer.from('x')).response, Status.INTERNAL, 'async plain failure');
    });

    test('a client deadline: DEADLINE_EXCEEDED at the client, the handler signal aborts with DEADLINE_EXCEEDED', async () => {
      const started = once(hangs, 'hang') as Promise<[Promise<unknown>]>;
      const t0 = Date.now();
      const { response } = unary(client, 'Hang', Buffer.from('x'), { deadline: Date.now() + 150 });
      const [reasonP] = await within(started, 1000, 'handler start');
      await rejectsWith(response, Status.DEADLINE_EXCEEDED);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 140 && elapsed < 1000, `deadline after ${elapsed} ms`);
      const reason = await within(reasonP, 1000, 'server-side abort');
      assert.ok(reason instanceof SluiceError, String(reason));
      assert.equal(reason.code, 'DEADLINE_EXCEEDED');
    });

    test('a client cancel: the handler signal aborts with CANCELLED', async () => {
      const started = once(hangs, 'hang') as Promise<[Promise<unknown>]>;
      const { response, call } = unary(client, 'Hang', Buffer.from('x'), { deadline: Date.now() + 5000 });
      const [reasonP] = await within(started, 1000, 'handler start');
      call.cancel();
      await rejectsWith(response, Status.CANCELLED);
      const reason = await within(reasonP, 1000, 'server-side abort');
      assert.ok(reason instanceof SluiceError, String(reason));
      assert.equal(reason.code, 'CANCELLED');
    });

    test('an error message with a lone surrogate still ends the call with its code', async () => {
      // E.g. a message cut with slice() inside a surrogate pair. Bounded by a deadline: if the
      // status cannot be sent, the call would otherwise hang.
      const message = 'emoji 🚀'.slice(0, 7);
      await rejectsWith(unary(client, 'Fail', Buffer.from(JSON.stringify({ code: 'INVALID_ARGUMENT', message })),
        { deadline: Date.now() + 500 }).response, Status.INVALID_ARGUMENT, /^emoji /);
    });

    test('a 30-day client deadline does not end the call early', async () => {
      // grpc-js sends it as '2592000S' (2.6e9 ms, more than setTimeout's 2^31-1 ms).
      assert.deepEqual(await unary(client, 'AsyncEcho', Buffer.from('month'), { deadline: Date.now() + 30 * 86_400_000 }).response,
        Buffer.from('month'));
    });

    test('a far deadline does not end the call early', async () => {
      // A deadline in an hour: grpc-js sends grpc-timeout in a coarse unit.
      assert.deepEqual(await unary(client, 'AsyncEcho', Buffer.from('hour'), { deadline: Date.now() + 3_600_000 }).response,
        Buffer.from('hour'));
    });
  });

  describe('raw http2 requests', () => {
    test('echo over raw http2 (trailers carry grpc-status 0)', async () => {
      const res = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.from('raw'))]);
      assert.equal(res.headers[':status'], 200);
      assert.equal(res.headers['content-type'], 'application/grpc');
      assert.match(String(res.headers['grpc-accept-encoding']), /gzip/);
      assert.equal(res.trailers['grpc-status'], '0');
      assert.deepEqual(unframe(res.data), [Buffer.from('raw')]);
    });

    test('grpc-timeout shorter than the handler, client never resets: the server answers grpc-status 4 by itself', async () => {
      const started = once(hangs, 'hang') as Promise<[Promise<unknown>]>;
      const t0 = Date.now();
      const res = await within(rawRequest(session, { ':path': `${SERVICE}/Hang`, 'grpc-timeout': '100m' },
        [frameMessage(Buffer.from('x'))]), 1500, 'server deadline');
      const elapsed = Date.now() - t0;
      assert.equal(res.grpcStatus, '4');
      assert.ok(elapsed >= 90 && elapsed < 1000, `answered after ${elapsed} ms`);
      assert.equal(res.headers[':status'], 200);
      assert.equal(res.data.length, 0);
      const [reasonP] = await started;
      const reason = await within(reasonP, 500, 'server-side abort');
      assert.ok(reason instanceof SluiceError);
      assert.equal(reason.code, 'DEADLINE_EXCEEDED');
    });

    test('a client with large windows that keeps sending while answers pile up never deadlocks the connection', async () => {
      // node:http2 stops reading a socket while a write to it is in progress. When the client's
      // windows let the server queue more answers than the kernel buffers hold (as the bench's
      // client's do), and the server's windows let the
      // client queue more requests than that, both writes block and neither side reads again:
      // every call hangs until its deadline. With 16 MiB server windows this stalls after a few
      // dozen answers; the server's windows must keep what a client may send unread below what
      // the kernel buffers.
      // Its own server: a deadlocked session never reads again, so only forceShutdown ends it.
      const own = await startTransport();
      const big = http2.connect(`http://${own.address}`, {
        settings: { initialWindowSize: 2 ** 20 }, maxSessionMemory: Number.MAX_SAFE_INTEGER,
      });
      big.on('error', () => undefined);
      big.once('connect', () => big.setLocalWindowSize(16 * 2 ** 20));
      try {
        // Offered at 20 calls per ms, 2 KiB each, to a handler that takes 0.1 ms: a backlog builds.
        const CALLS = 10_000;
        const message = (i: number): Buffer => Buffer.alloc(2048, i % 251);
        const calls: Promise<RawResponse>[] = [];
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            const due = Math.min(CALLS, Math.floor((performance.now() - t0) * 20));
            while (calls.length < due) calls.push(rawRequest(big, { ':path': `${SERVICE}/Busy` }, [frameMessage(message(calls.length))]));
            if (calls.length === CALLS) { clearInterval(timer); resolve(); }
          }, 1);
        });
        const results = await within(Promise.all(calls), 20_000, `${CALLS} calls (the connection deadlocked)`);
        results.forEach((res, i) => {
          assert.equal(res.grpcStatus, '0', `call ${i}: ${res.grpcMessage}`);
          assert.deepEqual(unframe(res.data), [message(i)], `call ${i} got its own bytes back`);
        });
      } finally {
        big.destroy();
        own.transport.forceShutdown();
      }
    });

    test('grpc-timeout in every unit is accepted', async () => {
      for (const t of ['1H', '1M', '10S', '5000m', '5000000u', '90000000n']) {
        const res = await rawRequest(session, { ':path': `${SERVICE}/Echo`, 'grpc-timeout': t }, [frameMessage(Buffer.from(t))]);
        assert.equal(res.grpcStatus, '0', `${t}: ${res.grpcMessage}`);
        assert.deepEqual(unframe(res.data), [Buffer.from(t)]);
      }
    });

    test('a far grpc-timeout (beyond setTimeout\'s 2^31-1 ms) does not expire at once', async () => {
      // 600 hours and 99999999 hours are valid grpc-timeout values; setTimeout clamps delays over
      // 2^31-1 ms (~24.8 days) to 1 ms.
      for (const t of ['600H', '99999999H', '99999999S']) {
        const res = await within(rawRequest(session, { ':path': `${SERVICE}/AsyncEcho`, 'grpc-timeout': t },
          [frameMessage(Buffer.from(t))]), 1500, t);
        assert.equal(res.grpcStatus, '0', `grpc-timeout ${t}: got grpc-status ${res.grpcStatus} ${res.grpcMessage}`);
        assert.deepEqual(unframe(res.data), [Buffer.from(t)]);
      }
    });

    test('a malformed grpc-timeout is grpc-status 3', async () => {
      for (const t of ['1x', '123456789S', '-1S', '10']) {
        const res = await rawRequest(session, { ':path': `${SERVICE}/Echo`, 'grpc-timeout': t }, [frameMessage(Buffer.from('x'))]);
        assert.equal(res.grpcStatus, '3', t);
        assert.match(decodeURIComponent(res.grpcMessage ?? ''), /malformed grpc-timeout/);
        assert.equal(res.data.length, 0);
      }
    });

    test('two messages in a unary call, none, or a body ending mid-message: error statuses', async () => {
      const two = await rawRequest(session, { ':path': `${SERVICE}/Echo` },
        [Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))])]);
      assert.equal(two.grpcStatus, '12');
      assert.match(decodeURIComponent(two.grpcMessage ?? ''), /more than one request message/);
      assert.equal(two.data.length, 0);
      const twoWrites = await rawRequest(session, { ':path': `${SERVICE}/Echo` },
        [frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))], 10);
      assert.equal(twoWrites.grpcStatus, '12');
      const none = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, []);
      assert.equal(none.grpcStatus, '12');
      assert.match(decodeURIComponent(none.grpcMessage ?? ''), /without a request message/);
      const cut = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.from('abcdef')).subarray(0, 7)]);
      assert.ok(cut.grpcStatus !== undefined && cut.grpcStatus !== '0', `status ${cut.grpcStatus}`);
      const serverStreamTwo = await rawRequest(session, { ':path': `${SERVICE}/Count` },
        [Buffer.concat([frameMessage(Buffer.from('a')), frameMessage(Buffer.from('b'))])]);
      assert.equal(serverStreamTwo.grpcStatus, '12');
      assert.equal(serverStreamTwo.data.length, 0);
    });

    test('compressed flag without grpc-encoding, an unknown encoding and flag 2', async () => {
      const compressed = frameMessage(Buffer.from('x'));
      compressed[0] = 1;
      const noEncoding = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [compressed]);
      assert.equal(noEncoding.grpcStatus, String(Status.INTERNAL));
      const unknown = await rawRequest(session, { ':path': `${SERVICE}/Echo`, 'grpc-encoding': 'snappy' }, [compressed]);
      assert.equal(unknown.grpcStatus, String(Status.UNIMPLEMENTED));
      assert.match(decodeURIComponent(unknown.grpcMessage ?? ''), /unsupported grpc-encoding 'snappy'/);
      const flag2 = frameMessage(Buffer.from('x'));
      flag2[0] = 2;
      const bad = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [flag2]);
      assert.equal(bad.grpcStatus, String(Status.INTERNAL));
    });

    test('non-POST is :status 405; a wrong or missing content-type is 415', async () => {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await rawRequest(session, { ':method': method, ':path': `${SERVICE}/Echo` }, []);
        assert.equal(res.headers[':status'], 405, method);
        assert.equal(res.grpcStatus, undefined);
      }
      for (const contentType of ['application/json', 'text/plain', 'application/grp']) {
        const res = await rawRequest(session, { ':path': `${SERVICE}/Echo`, 'content-type': contentType },
          [frameMessage(Buffer.from('x'))]);
        assert.equal(res.headers[':status'], 415, contentType);
      }
      const req = session.request({ ':method': 'POST', ':path': `${SERVICE}/Echo` });
      const [h] = await within(once(req, 'response') as Promise<[http2.IncomingHttpHeaders]>, 1000, 'no content-type');
      req.resume();
      req.end();
      assert.equal(h[':status'], 415);
      // application/grpc+proto is gRPC.
      const proto = await rawRequest(session, { ':path': `${SERVICE}/Echo`, 'content-type': 'application/grpc+proto' },
        [frameMessage(Buffer.from('p'))]);
      assert.equal(proto.grpcStatus, '0');
    });

    test('a request body split into several DATA writes with pauses', async () => {
      const f = frameMessage(Buffer.from('split into many DATA frames'));
      // Byte by byte through the header, then the body in two parts.
      const pieces = [f.subarray(0, 1), f.subarray(1, 2), f.subarray(2, 3), f.subarray(3, 4), f.subarray(4, 5),
        f.subarray(5, 12), f.subarray(12)];
      const res = await within(rawRequest(session, { ':path': `${SERVICE}/Echo` }, pieces, 15), 1500, 'split body');
      assert.equal(res.grpcStatus, '0');
      assert.deepEqual(unframe(res.data), [Buffer.from('split into many DATA frames')]);
      // Bidi: two messages whose boundary falls inside the second header.
      const g = Buffer.concat([frameMessage(Buffer.from('one')), frameMessage(Buffer.from('two'))]);
      const bidi = await within(rawRequest(session, { ':path': `${SERVICE}/Chat` },
        [g.subarray(0, 3), g.subarray(3, 10), g.subarray(10)], 15), 1500, 'split bidi');
      assert.equal(bidi.grpcStatus, '0');
      assert.deepEqual(unframe(bidi.data).map(String), ['1:one', '2:two']);
    });

    test('a bidi request ending inside a message is INTERNAL after the answers so far', async () => {
      const g = Buffer.concat([frameMessage(Buffer.from('one')), frameMessage(Buffer.from('two')).subarray(0, 6)]);
      const res = await rawRequest(session, { ':path': `${SERVICE}/Chat` }, [g]);
      assert.deepEqual(unframe(res.data).map(String), ['1:one']);
      assert.equal(res.grpcStatus, String(Status.INTERNAL));
    });
  });

  describe('streaming through grpc-js', () => {
    test('server streaming: 3 messages in order, then OK; writes after end are dropped', async () => {
      const call = client.makeServerStreamRequest(`${SERVICE}/Count`, identity, identity, Buffer.from('n'), new grpc.Metadata(), {});
      const got: string[] = [];
      call.on('data', (b: Buffer) => got.push(b.toString()));
      const [status] = await within(once(call, 'status') as Promise<[grpc.StatusObject]>, 1000, 'stream status');
      assert.equal(status.code, Status.OK);
      assert.deepEqual(got, ['n#1', 'n#2', 'n#3']);
    });

    test('server streaming that fails after a message: the message, then the error status', async () => {
      const call = client.makeServerStreamRequest(`${SERVICE}/CountThenFail`, identity, identity, Buffer.from('n'), new grpc.Metadata(), {});
      const got: string[] = [];
      call.on('data', (b: Buffer) => got.push(b.toString()));
      const [err] = await within(once(call, 'error') as Promise<[grpc.ServiceError]>, 1000, 'stream error');
      assert.equal(err.code, Status.ABORTED);
      assert.equal(err.details, 'stream failed after one');
      assert.deepEqual(got, ['one']);
    });

    test('bidi: each message answered in order, before the client half-closes; ends on onEnd', async () => {
      const call = client.makeBidiStreamRequest(`${SERVICE}/Chat`, identity, identity, new grpc.Metadata(), {});
      const got: string[] = [];
      const waiters: (() => void)[] = [];
      call.on('data', (b: Buffer) => { got.push(b.toString()); waiters.shift()?.(); });
      const status = once(call, 'status') as Promise<[grpc.StatusObject]>;
      // Ping-pong: each answer arrives while the stream is still open.
      for (const word of ['alpha', 'beta', 'gamma']) {
        const answered = new Promise<void>((resolve) => waiters.push(resolve));
        call.write(Buffer.from(word));
        await within(answered, 1000, `answer to ${word}`);
      }
      // Then a burst.
      for (let i = 0; i < 20; i++) call.write(Buffer.from(`burst-${i}`));
      call.end();
      const [s] = await within(status, 1000, 'bidi status');
      assert.equal(s.code, Status.OK);
      assert.deepEqual(got, ['1:alpha', '2:beta', '3:gamma', ...Array.from({ length: 20 }, (_, i) => `${i + 4}:burst-${i}`)]);
    });

    test('server streaming cancelled by the client mid-stream: the signal aborts CANCELLED, later writes are dropped', async () => {
      const started = once(hangs, 'ticker') as Promise<[Promise<unknown>]>;
      const call = client.makeServerStreamRequest(`${SERVICE}/Ticker`, identity, identity, Buffer.from('t'), new grpc.Metadata(), {});
      const got: string[] = [];
      const error = once(call, 'error') as Promise<[grpc.ServiceError]>;
      const two = new Promise<void>((resolve) => {
        call.on('data', (b: Buffer) => { got.push(b.toString()); if (got.length === 2) resolve(); });
      });
      const [reasonP] = await within(started, 1000, 'ticker start');
      await within(two, 1000, 'two ticks');
      call.cancel();
      const [err] = await within(error, 1000, 'cancel error');
      assert.equal(err.code, Status.CANCELLED);
      const reason = await within(reasonP, 1000, 'server-side abort');
      assert.ok(reason instanceof SluiceError);
      assert.equal(reason.code, 'CANCELLED');
      assert.deepEqual(got.slice(0, 2), ['tick 1', 'tick 2']);
      await delay(30); // the handler's write after the abort must not throw
    });

    test('bidi with a client deadline: DEADLINE_EXCEEDED, and the handler signal aborts with it', async () => {
      const started = once(hangs, 'silent') as Promise<[Promise<unknown>]>;
      const call = client.makeBidiStreamRequest(`${SERVICE}/Silent`, identity, identity, new grpc.Metadata(),
        { deadline: Date.now() + 150 });
      call.on('data', () => undefined);
      const error = once(call, 'error') as Promise<[grpc.ServiceError]>;
      call.write(Buffer.from('anyone?'));
      const [reasonP] = await within(started, 1000, 'silent start');
      const [err] = await within(error, 1000, 'deadline error');
      assert.equal(err.code, Status.DEADLINE_EXCEEDED);
      const reason = await within(reasonP, 1000, 'server-side abort');
      assert.ok(reason instanceof SluiceError);
      assert.equal(reason.code, 'DEADLINE_EXCEEDED');
    });

    test('bidi with no messages ends OK on half-close', async () => {
      const call = client.makeBidiStreamRequest(`${SERVICE}/Chat`, identity, identity, new grpc.Metadata(), {});
      let count = 0;
      call.on('data', () => { count += 1; });
      const status = once(call, 'status') as Promise<[grpc.StatusObject]>;
      call.end();
      const [s] = await within(status, 1000, 'bidi status');
      assert.equal(s.code, Status.OK);
      assert.equal(count, 0);
    });

    test('bidi: an over-limit message ends the stream RESOURCE_EXHAUSTED', async () => {
      const call = client.makeBidiStreamRequest(`${SERVICE}/Chat`, identity, identity, new grpc.Metadata(), {});
      call.on('data', () => undefined);
      const error = once(call, 'error') as Promise<[grpc.ServiceError]>;
      call.write(Buffer.from('ok'));
      call.write(Buffer.alloc(MAX_MESSAGE + 1));
      call.end();
      const [err] = await within(error, 1000, 'bidi error');
      assert.equal(err.code, Status.RESOURCE_EXHAUSTED);
    });
  });
});

describe('GrpcTransport receive timeout', () => {
  test('bidi: each message gets the timeout from its own first byte; one held past it ends the call DEADLINE_EXCEEDED', async () => {
    // Chunks 250 ms apart, each ending half-way through a message: every message waits 250 ms
    // (< 400), while the call lasts far longer; a timer not restarted when the second message
    // began in the chunk that completed the first would fire 400 ms after the first byte.
    const timeoutMs = 400;
    const { transport, address } = await startTransport(timeoutMs);
    const session = http2.connect(`http://${address}`);
    session.on('error', () => undefined);
    try {
      const m = ['one', 'two', 'three', 'four'].map((t) => frameMessage(Buffer.from(t)));
      const half = (b: Buffer): [Buffer, Buffer] => [b.subarray(0, 4), b.subarray(4)];
      const [m1a, m1b] = half(m[0] as Buffer);
      const [m2a, m2b] = half(m[1] as Buffer);
      const [m3a, m3b] = half(m[2] as Buffer);
      const [m4a] = half(m[3] as Buffer);
      const req = session.request({ ':method': 'POST', ':path': `${SERVICE}/Chat`, 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      const data: Buffer[] = [];
      req.on('data', (c: Buffer) => data.push(c));
      let status: http2.IncomingHttpHeaders | undefined;
      req.on('response', (h) => { if (h['grpc-status'] !== undefined) status = h; });
      req.on('trailers', (t) => { status = t; });
      const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
      for (const chunk of [m1a, Buffer.concat([m1b, m2a]), Buffer.concat([m2b, m3a]), Buffer.concat([m3b, m4a])]) {
        req.write(chunk);
        await delay(250);
        assert.equal(status, undefined, `the call ended early: ${JSON.stringify(status)}`);
      }
      // The fourth message stays half-sent: the call ends by itself about 400 ms after it began.
      await within(closed, 2000, 'the held message to time out');
      assert.deepEqual(unframe(Buffer.concat(data)).map(String), ['1:one', '2:two', '3:three']);
      assert.equal(status?.['grpc-status'], String(Status.DEADLINE_EXCEEDED));
      assert.match(decodeURIComponent(String(status?.['grpc-message'])), /still arriving after 0\.4 s/);
    } finally {
      session.destroy();
      await within(transport.shutdown(), 2000, 'transport shutdown');
    }
  });
});

describe('GrpcTransport shutdown', () => {
  test('shutdown(): an in-flight call completes OK, new connections fail, shutdown resolves', async () => {
    const { transport, address } = await startTransport();
    const client = newClient(address);
    try {
      const started = once(hangs, 'slow') as Promise<[Promise<unknown>]>;
      const inFlight = unary(client, 'Slow', Buffer.from('300')).response;
      await within(started, 1000, 'slow handler start');
      const t0 = Date.now();
      let shutDown = false;
      const shutdown = transport.shutdown().then(() => { shutDown = true; });
      // A new connection is refused once the listener is closed.
      const fresh = http2.connect(`http://${address}`);
      const [err] = await within(once(fresh, 'error') as Promise<[NodeJS.ErrnoException]>, 1000, 'new connection error');
      fresh.destroy();
      assert.equal(err.code, 'ECONNREFUSED');
      assert.equal(shutDown, false, 'shutdown waits for the in-flight call');
      assert.deepEqual(await within(inFlight, 1500, 'in-flight call'), Buffer.from('slow done'));
      await within(shutdown, 1500, 'shutdown');
      assert.ok(Date.now() - t0 >= 200, 'shutdown resolved only after the call ended');
    } finally {
      client.close();
    }
  });

  test('shutdown(): a new stream on an existing connection is refused after GOAWAY', async () => {
    const { transport, address } = await startTransport();
    const session = http2.connect(`http://${address}`);
    session.on('error', () => undefined);
    try {
      const first = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.from('before'))]);
      assert.equal(first.grpcStatus, '0');
      const started = once(hangs, 'slow') as Promise<[Promise<unknown>]>;
      const slow = rawRequest(session, { ':path': `${SERVICE}/Slow` }, [frameMessage(Buffer.from('200'))]);
      await within(started, 1000, 'slow start');
      const shutdown = transport.shutdown();
      await within(once(session, 'goaway'), 1000, 'GOAWAY');
      await assert.rejects(async () => {
        await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.from('after'))]);
      });
      const res = await within(slow, 1500, 'slow call');
      assert.equal(res.grpcStatus, '0');
      await within(shutdown, 1500, 'shutdown');
    } finally {
      session.destroy();
    }
  });

  test('shutdown() with no connections resolves at once', async () => {
    const { transport } = await startTransport();
    await within(transport.shutdown(), 500, 'idle shutdown');
  });

  test('forceShutdown() ends a connection whose client stopped reading (the server\'s write is stuck)', async () => {
    const { transport, port } = await startTransport();
    // A TCP proxy in front of the server that stops passing answers on when told: the server's
    // answers then fill the kernel buffers, its write never completes, and node:http2 would
    // keep such a session (and the process) alive however it is closed, short of its socket.
    let upstream: net.Socket | undefined;
    const proxy = net.createServer((down) => {
      const up = net.connect(port, '127.0.0.1');
      upstream = up;
      down.pipe(up);
      up.pipe(down);
      const end = (): void => { down.destroy(); up.destroy(); };
      down.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const session = http2.connect(`http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, {
      settings: { initialWindowSize: 2 ** 20 }, maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(64 * 2 ** 20));
    try {
      const first = await rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.from('through the proxy'))]);
      assert.equal(first.grpcStatus, '0');
      const up = upstream as net.Socket;
      up.unpipe();
      up.pause();
      // 32 MiB of answers, more than the kernel buffers between the server and the proxy hold.
      for (let i = 0; i < 512; i++) {
        void rawRequest(session, { ':path': `${SERVICE}/Echo` }, [frameMessage(Buffer.alloc(MAX_MESSAGE - 1024, i))]).catch(() => undefined);
      }
      await delay(500);
      const shutdown = transport.shutdown();
      assert.equal(await Promise.race([shutdown.then(() => 'closed'), delay(300).then(() => 'stuck')]), 'stuck',
        'the graceful shutdown waits for the stuck answers');
      transport.forceShutdown();
      await within(shutdown, 2000, 'shutdown after forceShutdown');
      // The proxy, reading again, finds the server's side closed.
      const upClosed = once(up, 'close');
      up.resume();
      await within(upClosed, 2000, 'the end of the stuck connection');
    } finally {
      session.destroy();
      proxy.close();
    }
  });

  test('forceShutdown() ends a hanging call; the handler signal aborts', async () => {
    const { transport, address } = await startTransport();
    const client = newClient(address);
    try {
      const started = once(hangs, 'hang') as Promise<[Promise<unknown>]>;
      const { response } = unary(client, 'Hang', Buffer.from('x'));
      const [reasonP] = await within(started, 1000, 'hang start');
      transport.forceShutdown();
      await assert.rejects(within(response, 1500, 'client error after forceShutdown'), (e: grpc.ServiceError) => {
        assert.notEqual(e.code, Status.OK);
        assert.ok(e.code === Status.UNAVAILABLE || e.code === Status.INTERNAL || e.code === Status.CANCELLED,
          `${Status[e.code]}: ${e.details}`);
        return true;
      });
      const reason = await within(reasonP, 1000, 'server-side abort');
      assert.ok(reason instanceof SluiceError);
      assert.equal(reason.code, 'CANCELLED');
      // Nothing listens any more.
      const fresh = http2.connect(`http://${address}`);
      const [err] = await within(once(fresh, 'error') as Promise<[NodeJS.ErrnoException]>, 1000, 'new connection error');
      fresh.destroy();
      assert.equal(err.code, 'ECONNREFUSED');
    } finally {
      client.close();
    }
  });
});
