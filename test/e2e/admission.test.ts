import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { protoType } from '../../src/codec/proto';
import { frameMessage } from '../../src/server/grpc-wire';
import { PREFACE, settingsFrame } from '../../src/server/h2/frames';
import { SluiceServer } from '../../src/server/server';
import { KServeClient } from '../helpers/kserve-client';
import { addModel, writeModelRepository } from '../helpers/model-factory';

/**
 * The server-wide bounds of admission.ts on a real server: open connections (gRPC and HTTP
 * together; beyond the bound a connection is closed on arrival) and request bytes held while
 * messages and bodies arrive (beyond it the request is refused: gRPC stream reset, HTTP 503),
 * each freed again when what held it goes away.
 */

const INFER = '/inference.GRPCInferenceService/ModelInfer';
const addRequest = {
  model_name: 'add',
  inputs: [
    { name: 'A', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 2, 3] } },
    { name: 'B', datatype: 'FP32', shape: [1, 3], contents: { fp32_contents: [1, 1, 1] } },
  ],
};

async function metric(server: SluiceServer, name: string): Promise<number> {
  const m = server.metrics.registry.getSingleMetric(name);
  if (m === undefined) throw new Error(`no metric ${name}`);
  const value = (await m.get()).values[0]?.value;
  if (value === undefined) throw new Error(`${name} has no value`);
  return value;
}

async function waitForMetric(server: SluiceServer, name: string, value: number | ((n: number) => boolean)): Promise<void> {
  const deadline = Date.now() + 10_000;
  const reached = typeof value === 'number' ? (n: number): boolean => n === value : value;
  while (!reached(await metric(server, name))) {
    if (Date.now() > deadline) throw new Error(`${name} never reached ${String(value)} (now ${await metric(server, name)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A raw socket; `first` resolves with the first bytes the server sent, or null if it closed without any. */
function rawSocket(port: number, send?: Buffer | string): { socket: net.Socket; first: Promise<Buffer | null> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  if (send !== undefined) socket.write(send);
  const first = new Promise<Buffer | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the server neither answered nor closed the connection')), 5_000);
    socket.once('data', (d: Buffer) => { clearTimeout(timer); resolve(d); });
    socket.once('close', () => { clearTimeout(timer); resolve(null); });
  });
  return { socket, first };
}

/** `p`, or a rejection after 5 s: a test that waits forever would keep its server, and the run, alive. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5_000); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()); socket.destroy(); });
}

describe('server-wide bounds (admission)', () => {
  let repo: string;
  before(() => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-admission-'));
    writeModelRepository(repo, [{ name: 'add', versions: { '1': addModel([1, 3]) } }]);
  });
  after(() => fs.rmSync(repo, { recursive: true, force: true }));

  it('maxConnections 2: a third connection, gRPC or HTTP, is closed on arrival; a closed one frees its place', { timeout: 30_000 }, async () => {
    const server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, maxConnections: 2, logger: () => {} });
    const sockets: net.Socket[] = [];
    try {
      // Two admitted connections, one per server, each proven by an answer.
      const g = rawSocket(server.grpcPort, Buffer.concat([PREFACE, settingsFrame([])]));
      const h = rawSocket(server.httpPort, 'GET /v2/health/live HTTP/1.1\r\nhost: sluice\r\n\r\n');
      sockets.push(g.socket, h.socket);
      assert.ok(await g.first !== null, 'the first gRPC connection was admitted (server SETTINGS)');
      assert.match((await h.first)?.toString() ?? 'closed', /^HTTP\/1\.1 200/);
      assert.equal(await metric(server, 'sluice_connections_open'), 2);

      // Beyond the bound: closed before any byte, on both ports.
      for (const port of [server.grpcPort, server.httpPort]) {
        const extra = rawSocket(port, port === server.httpPort ? 'GET /v2/health/live HTTP/1.1\r\nhost: sluice\r\n\r\n' : undefined);
        sockets.push(extra.socket);
        assert.equal(await extra.first, null, `a third connection to port ${port} was closed without an answer`);
      }
      assert.equal(await metric(server, 'sluice_connections_refused'), 2);
      assert.equal(await metric(server, 'sluice_connections_open'), 2);

      // A connection that goes away frees its place: a gRPC client is served again.
      await closed(g.socket);
      await waitForMetric(server, 'sluice_connections_open', 1);
      const client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
      try {
        assert.deepEqual(await client.call('ServerLive', {}), { live: true });
      } finally {
        client.close();
      }
    } finally {
      for (const s of sockets) s.destroy();
      await server.stop(5_000);
    }
  });

  it('a ModelStreamInfer stream whose messages straddle DATA frames holds only its incomplete message', { timeout: 30_000 }, async () => {
    const server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, logger: () => {} });
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    session.on('error', () => undefined);
    try {
      const Req = protoType('inference.ModelInferRequest');
      const message = frameMessage(Buffer.from(Req.encode(Req.fromObject(addRequest)).finish()));
      const half = message.length >> 1;
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelStreamInfer',
        'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      // Every write ends half-way through a message, so no DATA frame ends on a message boundary:
      // COUNT messages in COUNT + 1 writes, COUNT - 1 of them complete before the last write.
      const COUNT = 300;
      let answered = 0;
      let received = Buffer.alloc(0);
      const allAnswered = new Promise<void>((resolve) => stream.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        while (received.length >= 5 && received.length >= 5 + received.readUInt32BE(1)) {
          received = received.subarray(5 + received.readUInt32BE(1));
          if (++answered === COUNT - 1) resolve();
        }
      }));
      stream.write(message.subarray(0, half));
      for (let i = 1; i < COUNT; i++) stream.write(Buffer.concat([message.subarray(half), message.subarray(0, half)]));
      await within(allAnswered.then(async () => {
        // Wait for the server to have read the last write (its half message is all it holds).
        while (await metric(server, 'sluice_request_buffer_bytes') !== half) await new Promise((r) => setTimeout(r, 10));
      }), `${COUNT - 1} answers and only half a message held`);
      stream.end(message.subarray(half));
      await within(new Promise<void>((resolve) => stream.on('close', () => resolve())), 'the stream to end');
      assert.equal(answered, COUNT);
      assert.equal(await metric(server, 'sluice_request_buffer_bytes'), 0);
    } finally {
      session.destroy();
      await server.stop(5_000);
    }
  });

  it('request buffers of 64 KiB: bodies past the bound are refused on gRPC and HTTP, and served once it frees', { timeout: 30_000 }, async () => {
    const bound = 64 << 10;
    const server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, maxRequestBufferBytes: bound, logger: () => {} });
    const sessions: http2.ClientHttp2Session[] = [];
    const session = (): http2.ClientHttp2Session => {
      const s = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
      s.on('error', () => undefined);
      sessions.push(s);
      return s;
    };
    /** A ModelInfer stream that sends `bytes` of a 200 KB message (a 5-byte prefix, then zeros) and holds it. */
    const partial = (bytes: number): http2.ClientHttp2Stream => {
      const stream = session().request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      const prefix = Buffer.from([0, 0, 0, 0, 0]);
      prefix.writeUInt32BE(200_000, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(bytes - prefix.length)]));
      return stream;
    };
    const client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
    try {
      const held = partial(48 << 10);
      await waitForMetric(server, 'sluice_request_buffer_bytes', 48 << 10);

      // gRPC: a second message arriving past the bound gets its stream reset (ENHANCE_YOUR_CALM).
      const over = partial(32 << 10);
      await within(new Promise<void>((resolve) => over.on('close', () => resolve())), 'the over-bound stream to close');
      assert.equal(over.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      // HTTP: a body past the bound gets 503, saying why.
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/add/infer`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(20 << 10) });
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { error: string }).error, /server busy: request bodies still arriving hold its 65536-byte bound/);
      assert.equal(await metric(server, 'sluice_requests_refused_buffers'), 2);
      // Refused bytes were never counted, or were given back.
      assert.equal(await metric(server, 'sluice_request_buffer_bytes'), 48 << 10);
      // Small requests still fit beside the held one.
      assert.equal((await client.call('ModelInfer', addRequest))['outputs'] instanceof Array, true);

      // The held message's stream goes away: its bytes are given back, and large bodies are served.
      held.close(http2.constants.NGHTTP2_CANCEL);
      await waitForMetric(server, 'sluice_request_buffer_bytes', 0);
      const padded = JSON.stringify({ inputs: addRequest.inputs.map(({ name, datatype, shape, contents }) =>
        ({ name, datatype, shape, data: contents.fp32_contents })) }) + ' '.repeat(40 << 10);
      const ok = await fetch(`http://127.0.0.1:${server.httpPort}/v2/models/add/infer`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: padded });
      assert.equal(ok.status, 200, await ok.clone().text());
      const out = (await ok.json()) as { outputs: { name: string; data: number[] }[] };
      assert.deepEqual(out.outputs.find((o) => o.name === 'SUM')?.data, [2, 3, 4]);
      const Req = protoType('inference.ModelInferRequest');
      const big = Buffer.from(Req.encode(Req.fromObject({ ...addRequest, id: 'x'.repeat(40 << 10) })).finish());
      const stream = session().request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('trailers', resolve));
      stream.resume();
      stream.end(frameMessage(big));
      assert.equal((await within(trailers, 'the large gRPC request\'s trailers'))['grpc-status'], String(grpc.status.OK));
      assert.equal(await metric(server, 'sluice_request_buffer_bytes'), 0);
    } finally {
      client.close();
      for (const s of sessions) s.destroy();
      await server.stop(5_000);
    }
  });

  it('a gRPC message trickled past the receive timeout ends DEADLINE_EXCEEDED and gives its bytes and request place back', { timeout: 30_000 }, async () => {
    const bound = 64 << 10;
    const receiveTimeoutMs = 400;
    const server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, maxRequestBufferBytes: bound, maxInferRequests: 2, receiveTimeoutMs, logger: () => {} });
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    session.on('error', () => undefined);
    const client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
    let trickle: NodeJS.Timeout | undefined;
    try {
      // 48 KiB of a 200 KB message, then a byte every 50 ms: always progressing, never done.
      const stream = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      // An error before any answer is trailers-only: the status comes in the response headers.
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => {
        stream.on('response', (h) => { if (h['grpc-status'] !== undefined) resolve(h); });
        stream.on('trailers', resolve);
      });
      const closedAt = new Promise<number>((resolve) => stream.on('close', () => resolve(performance.now())));
      stream.resume();
      const prefix = Buffer.from([0, 0, 0, 0, 0]);
      prefix.writeUInt32BE(200_000, 1);
      const start = performance.now();
      stream.write(Buffer.concat([prefix, Buffer.alloc((48 << 10) - prefix.length)]));
      trickle = setInterval(() => { if (!stream.closed) stream.write(Buffer.alloc(1)); }, 50);
      await waitForMetric(server, 'sluice_request_buffer_bytes', (n) => n >= 48 << 10);
      assert.equal(await metric(server, 'sluice_infer_requests_in_progress'), 1);
      // Meanwhile a 40 KB request does not fit beside it.
      const Req = protoType('inference.ModelInferRequest');
      const big = frameMessage(Buffer.from(Req.encode(Req.fromObject({ ...addRequest, id: 'x'.repeat(40 << 10) })).finish()));
      const refused = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
      refused.on('error', () => undefined);
      refused.end(big);
      await within(new Promise<void>((resolve) => refused.on('close', () => resolve())), 'the refused stream to close');
      assert.equal(refused.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);

      const t = await within(trailers, 'the trickled call\'s status');
      const elapsed = (await within(closedAt, 'the trickled stream to close')) - start;
      assert.equal(t['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
      assert.match(decodeURIComponent(String(t['grpc-message'])), /a request message was still arriving after 0\.4 s \(the server's receive timeout\)/);
      assert.ok(elapsed >= receiveTimeoutMs - 20, `ended after ${elapsed.toFixed(0)} ms, before the ${receiveTimeoutMs} ms timeout`);
      await waitForMetric(server, 'sluice_request_buffer_bytes', 0);
      await waitForMetric(server, 'sluice_infer_requests_in_progress', 0);

      // Its share of the bound is free again: the same large request is served.
      const ok = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
      const okTrailers = new Promise<http2.IncomingHttpHeaders>((resolve) => ok.on('trailers', resolve));
      ok.resume();
      ok.end(big);
      assert.equal((await within(okTrailers, 'the large request\'s trailers'))['grpc-status'], String(grpc.status.OK));
      // A request that arrives whole well within the timeout is untouched by it.
      assert.equal((await client.call('ModelInfer', addRequest))['outputs'] instanceof Array, true);
    } finally {
      clearInterval(trickle);
      client.close();
      session.destroy();
      await server.stop(5_000);
    }
  });
  it('an HTTP body trickled past the receive timeout gets 408 and gives back its request slot and bytes', { timeout: 30_000 }, async () => {
    const receiveTimeoutMs = 400;
    const server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, maxInferRequests: 1, receiveTimeoutMs, logger: () => {} });
    const body = JSON.stringify({ inputs: addRequest.inputs.map(({ name, datatype, shape, contents }) =>
      ({ name, datatype, shape, data: contents.fp32_contents })) });
    const infer = (): Promise<Response> => fetch(`http://127.0.0.1:${server.httpPort}/v2/models/add/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body });
    let trickle: NodeJS.Timeout | undefined;
    const { socket, first } = rawSocket(server.httpPort);
    try {
      // Headers announcing 100 kB, 16 kB of it, then a byte every 50 ms: always progressing, never done.
      const start = performance.now();
      socket.write(`POST /v2/models/add/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n` +
        `content-length: 100000\r\n\r\n${' '.repeat(16 << 10)}`);
      trickle = setInterval(() => { if (socket.writable) socket.write(' '); }, 50);
      await waitForMetric(server, 'sluice_infer_requests_in_progress', 1);
      // It holds the one slot: another request is refused at once.
      assert.equal((await infer()).status, 503);

      const answer = await within(first, 'an answer to the trickled request');
      const elapsed = performance.now() - start;
      assert.match(String(answer), /^HTTP\/1\.1 408 /);
      await within(new Promise<void>((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()); }),
        'the trickled request\'s connection to close');
      assert.ok(elapsed >= receiveTimeoutMs - 20, `answered after ${elapsed.toFixed(0)} ms, before the ${receiveTimeoutMs} ms timeout`);
      assert.ok(elapsed < 5_000, `answered only after ${elapsed.toFixed(0)} ms`);
      await waitForMetric(server, 'sluice_infer_requests_in_progress', 0);
      await waitForMetric(server, 'sluice_request_buffer_bytes', 0);
      // The slot is free again, and a request that arrives whole is untouched by the timeout.
      const ok = await infer();
      assert.equal(ok.status, 200, await ok.clone().text());
      const out = (await ok.json()) as { outputs: { name: string; data: number[] }[] };
      assert.deepEqual(out.outputs.find((o) => o.name === 'SUM')?.data, [2, 3, 4]);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await server.stop(5_000);
    }
  });
});
