/**
 * The bench's gRPC client (HTTP/2 framed by hand) against a real @grpc/grpc-js server on loopback: what it
 * must agree with grpc-js on (bytes, status codes, percent-decoded messages, deadlines), the
 * peer's stream limit, and a server that goes away.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  decodeGrpcMessage, grpcTimeout, H2Client, unframeMessages, type UnaryDone,
} from '../../bench/h2-client';
import { frameMessage } from '../../src/server/grpc-wire';

const identity = (b: Buffer): Buffer => b;
const method = (name: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/test.Raw/${name}`, requestStream: false, responseStream: false,
  requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
});
const SERVICE = { Echo: method('Echo'), Fail: method('Fail'), Hang: method('Hang'), Slow: method('Slow') };
/** grpc-js sends details through encodeURI: spaces, '%', non-ASCII and a newline all get escaped. */
const FAIL_MESSAGE = 'bad input: 50% of "x y" is not ok — naïve\nsecond line';

interface Answer { code: number; details: string | undefined; response: Buffer | undefined; ms: number }

function call(client: H2Client, name: string, message: Buffer, deadlineMs = 5_000): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const done: UnaryDone = (code, details, response) => resolve({ code, details, response, ms: performance.now() - t0 });
    client.unary(`/test.Raw/${name}`, message, deadlineMs, done);
  });
}

async function startServer(options: grpc.ServerOptions = {}, port = 0): Promise<{
  server: grpc.Server; address: string; cancelled: () => number; peakSlow: () => number;
}> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...options });
  let cancelled = 0;
  let slow = 0;
  let peakSlow = 0;
  server.addService(SERVICE, {
    Echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, c.request),
    Fail: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb({ code: grpc.status.FAILED_PRECONDITION, details: FAIL_MESSAGE }),
    Hang: (c: grpc.ServerUnaryCall<Buffer, Buffer>) => { c.on('cancelled', () => { cancelled++; }); },
    Slow: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      peakSlow = Math.max(peakSlow, ++slow);
      setTimeout(() => { slow--; cb(null, c.request); }, 20);
    },
  });
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`,
    grpc.ServerCredentials.createInsecure(), (err, p) => (err !== null ? reject(err) : resolve(p))));
  return { server, address: `127.0.0.1:${bound}`, cancelled: () => cancelled, peakSlow: () => peakSlow };
}

describe('gRPC wire helpers', () => {
  test('frame and unframe round-trip, and malformed bodies are named', () => {
    const a = Buffer.from('hello');
    const framed = frameMessage(a);
    assert.deepEqual([...framed.subarray(0, 5)], [0, 0, 0, 0, 5]);
    assert.deepEqual(unframeMessages(Buffer.concat([framed, frameMessage(Buffer.alloc(0))])), [a, Buffer.alloc(0)]);
    assert.match(unframeMessages(framed.subarray(0, 3)) as string, /truncated message prefix/);
    assert.match(unframeMessages(framed.subarray(0, 7)) as string, /truncated message: 2 of 5/);
    assert.match(unframeMessages(Buffer.from([1, 0, 0, 0, 0])) as string, /compressed/);
  });

  test('grpc-timeout fits 8 digits; grpc-message percent-decodes UTF-8 and keeps malformed escapes', () => {
    assert.equal(grpcTimeout(5_000), '5000m');
    assert.equal(grpcTimeout(0.2), '1m');
    assert.equal(grpcTimeout(2e8), '200000S');
    assert.equal(decodeGrpcMessage(encodeURI(FAIL_MESSAGE)), FAIL_MESSAGE);
    assert.equal(decodeGrpcMessage('100%zz done %4'), '100%zz done %4');
    assert.equal(decodeGrpcMessage('plain'), 'plain');
  });
});

describe('H2Client against a grpc-js server', () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  let client: H2Client;
  before(async () => {
    srv = await startServer();
    client = new H2Client(srv.address, { sessions: 2 });
  });
  after(() => {
    client.close();
    srv.server.forceShutdown();
  });

  test('OK: the response bytes are the request bytes, small, empty and multi-frame', async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    for (const msg of [Buffer.from('ping'), Buffer.alloc(0), big]) {
      const a = await call(client, 'Echo', msg);
      assert.equal(a.code, grpc.status.OK, a.details);
      assert.ok(a.response !== undefined && a.response.equals(msg), `echo of ${msg.length} bytes`);
    }
  });

  test('many concurrent calls over the session pool all come back intact', async () => {
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => call(client, 'Echo', Buffer.from(`m${i}`))));
    answers.forEach((a, i) => assert.equal(a.response?.toString(), `m${i}`));
  });

  test('an error status comes back with its code and percent-decoded message', async () => {
    const a = await call(client, 'Fail', Buffer.from('x'));
    assert.equal(a.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(a.details, FAIL_MESSAGE);
    assert.equal(a.response, undefined);
  });

  test('an unknown method is UNIMPLEMENTED (a trailers-only response)', async () => {
    const a = await call(client, 'Nope', Buffer.from('x'));
    assert.equal(a.code, grpc.status.UNIMPLEMENTED);
  });

  test('a server that never answers: DEADLINE_EXCEEDED at the deadline, and the stream is cancelled', async () => {
    const before = srv.cancelled();
    const a = await call(client, 'Hang', Buffer.from('x'), 150);
    assert.equal(a.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(a.ms >= 140 && a.ms < 1_000, `answered after ${a.ms} ms`);
    // The server sees the cancellation (its own deadline timer or our RST_STREAM, whichever first).
    for (let i = 0; i < 50 && srv.cancelled() === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(srv.cancelled(), before + 1);
    // The session survives a cancelled stream.
    assert.equal((await call(client, 'Echo', Buffer.from('after'))).response?.toString(), 'after');
  });
});

describe('H2Client limits and failures', () => {
  test('respects the peer\'s max concurrent streams, queueing the excess locally', async () => {
    const srv = await startServer({ 'grpc.max_concurrent_streams': 3 });
    const client = new H2Client(srv.address, { sessions: 1 });
    try {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => call(client, 'Slow', Buffer.from(`s${i}`))));
      answers.forEach((a, i) => assert.equal(a.response?.toString(), `s${i}`, a.details));
      assert.equal(srv.peakSlow(), 3);
      // A queued call keeps its deadline: 3 slots held 20 ms a call serve about 15 of 30 in 100 ms.
      const queued = await Promise.all(Array.from({ length: 30 }, () => call(client, 'Slow', Buffer.from('q'), 100)));
      assert.ok(queued.some((a) => a.code === grpc.status.DEADLINE_EXCEEDED));
      assert.ok(queued.some((a) => a.code === grpc.status.OK));
    } finally {
      client.close();
      srv.server.forceShutdown();
    }
  });

  test('a server that goes away fails its calls UNAVAILABLE or INTERNAL, and the client reconnects', async () => {
    const first = await startServer();
    const client = new H2Client(first.address, { sessions: 1 });
    try {
      assert.equal((await call(client, 'Echo', Buffer.from('a'))).code, grpc.status.OK);
      const hanging = call(client, 'Hang', Buffer.from('x'), 10_000);
      await new Promise((r) => setTimeout(r, 50));
      first.server.forceShutdown();
      const a = await hanging;
      assert.ok(a.code === grpc.status.UNAVAILABLE || a.code === grpc.status.INTERNAL, `${grpc.status[a.code]}: ${a.details}`);
      assert.ok(a.ms < 5_000);
      // Nothing listens now: a call fails fast instead of waiting for its deadline.
      const refused = await call(client, 'Echo', Buffer.from('b'), 10_000);
      assert.equal(refused.code, grpc.status.UNAVAILABLE, refused.details);
      const port = Number(first.address.split(':')[1]);
      const second = await startServer({}, port);
      try {
        const b = await call(client, 'Echo', Buffer.from('c'));
        assert.equal(b.response?.toString(), 'c', `${grpc.status[b.code]}: ${b.details}`);
      } finally {
        second.server.forceShutdown();
      }
    } finally {
      client.close();
    }
  });

  test('calls after close fail at once', async () => {
    const client = new H2Client('127.0.0.1:1');
    client.close();
    assert.equal((await call(client, 'Echo', Buffer.from('x'))).code, grpc.status.UNAVAILABLE);
  });
});
