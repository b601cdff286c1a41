/**
 * Hostile and confused clients, seeded so a failure reproduces: random HTTP/2 frame sequences,
 * and mutated ModelInfer requests over gRPC and HTTP, against `sluice serve` (the example model
 * repository) in a child process. What must hold: the server stays up and keeps answering, a bad connection or
 * request fails alone, and nothing reaches the handlers' internal-error paths (the HTTP/2 layer
 * logs a warning when a bug costs a connection or a stream; a request that trips a bug is
 * answered INTERNAL or UNKNOWN over gRPC, 500 over HTTP).
 */
import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { protoType } from '../../src/codec/proto';
import {
  Flag, FrameType, PREFACE, frame, goawayFrame, rstStreamFrame, settingsFrame, windowUpdateFrame,
} from '../../src/server/h2/frames';
import { indexedField, literalField } from '../../src/server/h2/hpack';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';
import { fuzzRng as rng, type FuzzRng as Rng } from '../helpers/fuzz-rng';

const EXAMPLES = path.resolve(__dirname, '..', '..', '..', 'examples', 'models');
const INFER = '/inference.GRPCInferenceService/ModelInfer';


/** A request header block: mostly plausible fields, some wrong, some garbage bytes. */
function headerBlock(r: Rng): Buffer {
  const fields: [string, string][] = [
    [':method', r.pick(['POST', 'GET', 'post', ''])], [':scheme', 'http'],
    [':path', r.pick([INFER, '/inference.GRPCInferenceService/ModelStreamInfer', '/grpc.health.v1.Health/Watch', '/x', ''])],
    [':authority', 'a'], ['content-type', r.pick(['application/grpc', 'application/grpc+proto', 'text/plain'])],
    ['te', r.pick(['trailers', 'gzip'])], ['grpc-timeout', r.pick(['1S', '0m', '99999999H', 'x'])],
    ['grpc-encoding', r.pick(['gzip', 'identity', 'br'])], [r.pick(['X-Up', 'connection', ':bad', 'a'.repeat(3000)]), 'v'],
  ];
  const out: number[] = [];
  for (const [name, value] of fields) if (r.next() < 0.85) out.push(...literalField(name, value));
  if (r.next() < 0.2) out.splice(r.int(out.length + 1), 0, ...r.bytes(r.int(8)));
  if (r.next() < 0.1) out.push(...indexedField(r.int(200))); // maybe beyond the table
  if (r.next() < 0.1) out.unshift(0x20 | r.int(32)); // a table size update
  if (r.next() < 0.1) out.push(0x40, 0x05, ...Buffer.from('x-key'), 0x85, ...r.bytes(5)); // bad Huffman, indexed
  return Buffer.from(out);
}

/** A gRPC message prefix and body, sometimes with a wrong flag or length. */
function grpcMessage(r: Rng): Buffer {
  const n = r.pick([0, 1, 5, 100, 3000, 20_000]);
  const m = Buffer.alloc(5 + n);
  m[0] = r.pick([0, 0, 0, 1, 2]);
  m.writeUInt32BE(r.next() < 0.8 ? n : r.int(2 ** 32), 1);
  r.bytes(n).copy(m, 5);
  return m;
}

function randomFrames(r: Rng, ids: readonly number[]): Buffer {
  const id = r.next() < 0.8 ? r.pick(ids) : r.int(2 ** 31);
  switch (r.int(14)) {
    case 0: case 1: { // HEADERS, maybe padded or cut into a CONTINUATION
      const block = headerBlock(r);
      const cut = r.next() < 0.3 ? r.int(block.length + 1) : block.length;
      let flags = (cut === block.length ? Flag.END_HEADERS : 0) | (r.next() < 0.4 ? Flag.END_STREAM : 0);
      let payload = block.subarray(0, cut);
      if (r.next() < 0.1) { flags |= Flag.PADDED; payload = Buffer.concat([Buffer.from([r.int(300)]), payload, Buffer.alloc(r.int(10))]); }
      if (r.next() < 0.1) { flags |= Flag.PRIORITY; payload = Buffer.concat([r.bytes(5), payload]); }
      const out = [frame(FrameType.HEADERS, flags, id, payload)];
      if (cut < block.length) {
        out.push(frame(FrameType.CONTINUATION, r.next() < 0.8 ? Flag.END_HEADERS : 0, r.next() < 0.9 ? id : id + 2, block.subarray(cut)));
      }
      return Buffer.concat(out);
    }
    case 2: case 3: { // a message in DATA frames of at most 16 KiB
      const m = grpcMessage(r);
      const end = r.next() < 0.5 ? Flag.END_STREAM : 0;
      const out: Buffer[] = [];
      for (let at = 0; at === 0 || at < m.length; at += 16_384) {
        out.push(frame(FrameType.DATA, at + 16_384 >= m.length ? end : 0, id, m.subarray(at, at + 16_384)));
      }
      return Buffer.concat(out);
    }
    case 4: return rstStreamFrame(id, r.int(20));
    case 5: return windowUpdateFrame(r.next() < 0.5 ? 0 : id, r.pick([0, 1, 65_535, 2 ** 31 - 1, r.int(2 ** 31)]));
    case 6: return settingsFrame(Array.from({ length: r.int(4) }, () =>
      [r.int(10), r.pick([0, 1, 16_383, 16_384, 2 ** 24, 2 ** 31, 2 ** 32 - 1, r.int(2 ** 32)])] as const));
    case 7: return frame(FrameType.SETTINGS, Flag.ACK, 0, r.next() < 0.5 ? Buffer.alloc(0) : r.bytes(6));
    case 8: return frame(FrameType.PING, r.int(2), r.next() < 0.9 ? 0 : id, r.bytes(r.pick([8, 8, 0, 9])));
    case 9: return goawayFrame(r.int(100), r.int(14), 'bye');
    case 10: return frame(FrameType.PRIORITY, 0, id, r.bytes(r.pick([5, 5, 4])));
    case 11: return frame(r.int(256), r.int(256), id, r.bytes(r.int(50)));
    case 12: { // any type with a length field that lies
      const b = frame(r.int(10), r.int(256), id, r.bytes(r.int(100)));
      if (r.next() < 0.5) b.writeUIntBE(r.int(2 ** 24), 0, 3);
      return b;
    }
    default: return frame(FrameType.PUSH_PROMISE, 0, id, r.bytes(8));
  }
}

/** One connection: preface (rarely wrong), up to 30 random frames written in random pieces, then gone. */
function hostileSession(port: number, r: Rng): Promise<void> {
  const parts = [r.next() < 0.97 ? PREFACE : r.bytes(24), settingsFrame([])];
  const n = 1 + r.int(30);
  for (let i = 0; i < n; i++) parts.push(randomFrames(r, [1, 3, 5, 7, 9, 11]));
  let all = Buffer.concat(parts);
  if (r.next() < 0.1) all = all.subarray(0, r.int(all.length));
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => resolve());
    let at = 0;
    const step = (): void => {
      if (at >= all.length || s.destroyed) { setTimeout(() => s.destroy(), r.int(30)); return; }
      const k = 1 + r.int(r.next() < 0.3 ? 10 : 5000);
      s.write(all.subarray(at, at + k));
      at += k;
      if (r.next() < 0.2) setTimeout(step, r.int(3)); else step();
    };
    s.on('connect', step);
  });
}

const Request = protoType('inference.ModelInferRequest');

/** A ModelInferRequest for the example digits model, right or wrong in one of many ways. */
function requestVariant(r: Rng): Buffer {
  const rows = r.pick([0, 1, 2, 3, -1, 1e9, 2 ** 53]);
  const input: Record<string, unknown> = {
    name: r.pick(['pixels', 'pixels', 'x', '']),
    datatype: r.pick(['FP32', 'FP32', 'FP16', 'INT64', 'BYTES', 'BOOL', 'UINT8', 'BF16', 'FP64', 'junk']),
    shape: r.pick([[rows, 64], [rows], [64], [rows, 64, 1], [], [rows, -5]]),
  };
  const msg: Record<string, unknown> = {
    model_name: r.pick(['digits', 'digits', 'nope', '']), model_version: r.pick(['', '1', '2', 'x', '-1', '99999999999999999999']),
    id: r.pick(['', 'a'.repeat(r.int(5000))]), inputs: [input],
    outputs: r.pick([[], [{ name: 'label' }], [{ name: 'label' }, { name: 'label' }], [{ name: 'zz' }]]),
  };
  if (r.next() < 0.5) msg['raw_input_contents'] = [Buffer.alloc(r.pick([0, 4, 255, 256, 257, 512]))];
  else input['contents'] = r.pick([{ fp32_contents: Array(64).fill(0.5) }, { int64_contents: [1, 2] }, { bytes_contents: [Buffer.from('a')] }, { bool_contents: [true] }, {}]);
  if (r.next() < 0.3) {
    msg['parameters'] = { [r.pick(['priority', 'timeout', 'binary_data_output', 'x'])]:
      r.pick([{ int64_param: -1 }, { int64_param: 5 }, { string_param: 'x' }, { bool_param: true }, { double_param: 1.5 }, { uint64_param: 2 ** 40 }]) };
  }
  if (r.next() < 0.2) (msg['inputs'] as unknown[]).push({ ...input });
  return Buffer.from(Request.encode(Request.fromObject(msg)).finish());
}

/** Bytes flipped, cut, or inserted. */
function mutate(r: Rng, bytes: Buffer): Buffer {
  const m = Buffer.from(bytes);
  const how = r.int(4);
  if (how === 1) return m.subarray(0, r.int(m.length));
  if (how === 2) return Buffer.concat([m.subarray(0, r.int(m.length)), r.bytes(3), m.subarray(r.int(m.length))]);
  for (let i = 0, n = 1 + r.int(6); i < n; i++) {
    const at = r.int(m.length);
    m[at] = how === 0 ? r.int(256) : (m[at] as number) ^ (1 << r.int(8));
  }
  return m;
}

/** An HTTP/REST infer body for digits: JSON (sometimes with binary tensor data after it), maybe mutated. */
function httpBody(r: Rng): { body: Buffer; headerLength?: string } {
  const binary = r.next() < 0.3;
  if (r.next() < 0.25) { // a valid request
    const rows = 1 + r.int(3);
    const input: Record<string, unknown> = { name: 'pixels', datatype: 'FP32', shape: [rows, 64] };
    if (!binary) return { body: Buffer.from(JSON.stringify({ inputs: [{ ...input, data: Array(rows * 64).fill(0.25) }] })) };
    const json = Buffer.from(JSON.stringify({ inputs: [{ ...input, parameters: { binary_data_size: rows * 256 } }] }));
    return { body: Buffer.concat([json, Buffer.alloc(rows * 256)]), headerLength: String(json.length) };
  }
  const rows = r.pick([1, 2, 0, -1, 1e9]);
  const input: Record<string, unknown> = { name: r.pick(['pixels', 'pixels', 'x']), datatype: r.pick(['FP32', 'FP32', 'INT8', 'BYTES', 'junk']),
    shape: r.pick([[rows, 64], [64], [], 'x', [[1]]]) };
  if (binary) input['parameters'] = { binary_data_size: r.pick([rows * 256, 0, 7, -3, 1e12]) };
  else input['data'] = r.pick([Array(Math.max(0, Math.min(rows, 4)) * 64).fill(0.5), [[0.5]], 'abc', [true, null], [{}], Array(64).fill('1')]);
  const doc: Record<string, unknown> = { inputs: r.pick([[input], [], 'x', [input, input]]) };
  if (r.next() < 0.3) doc['outputs'] = r.pick([[{ name: 'label', parameters: { binary_data: r.pick([true, 'x']) } }], [{ name: 7 }], {}]);
  if (r.next() < 0.2) doc['parameters'] = { priority: r.pick([1, -1, 'x', 1e30]), timeout: r.pick([1, -1, 'x']) };
  let json: Buffer = Buffer.from(JSON.stringify(doc));
  if (r.next() < 0.4) json = mutate(r, json);
  if (!binary) return { body: json };
  const data = Buffer.alloc(Math.max(0, Math.min(512, Number(rows) * 256)));
  return { body: Buffer.concat([json, data]), headerLength: r.pick([String(json.length), String(json.length), '-1', 'x', String(1e9)]) };
}

describe('hostile input (seeded fuzz; sluice serve on the example models in a child process)', () => {
  let srv: ServerProcess;
  let client: grpc.Client;
  const unary = (method: string, body: Buffer): Promise<grpc.status> => new Promise((resolve) => {
    client.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, body, { deadline: Date.now() + 10_000 },
      (e) => resolve(e === null ? grpc.status.OK : (e.code ?? grpc.status.UNKNOWN)));
  });

  before(async () => {
    srv = await startServerProcess(EXAMPLES);
    client = new grpc.Client(`127.0.0.1:${srv.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    srv.child.kill();
    await srv.exited;
  });

  it('random HTTP/2 frame sequences cost their own connections only, and no bug path is hit', async () => {
    // One generator per session: sessions run concurrently, so a shared one would hand out its
    // draws in an order set by timing, and a seed would not reproduce a failure.
    const SEED = 20261122;
    for (let round = 0; round < 150; round++) {
      await Promise.all(Array.from({ length: 4 }, (_, k) => hostileSession(srv.grpcPort, rng(SEED + 4 * round + k))));
      if (round % 25 === 24) assert.equal(await unary('/inference.GRPCInferenceService/ServerLive', Buffer.alloc(0)), grpc.status.OK, `round ${round}`);
    }
    assert.equal(srv.child.exitCode, null, 'the server is up');
    assert.doesNotMatch(srv.log(), /HTTP\/2 (connection dropped|stream \d+:)/, 'a bug cost a connection or a stream');
  });

  it('mutated and malformed ModelInfer requests get OK or a client error, never INTERNAL or UNKNOWN', async () => {
    const r = rng(7);
    const good = Buffer.from(Request.encode(Request.fromObject({
      model_name: 'digits', inputs: [{ name: 'pixels', datatype: 'FP32', shape: [2, 64] }],
      raw_input_contents: [Buffer.alloc(2 * 64 * 4)],
    })).finish());
    const codes = new Map<grpc.status, number>();
    for (let i = 0; i < 1000; i += 50) {
      const got = await Promise.all(Array.from({ length: 50 }, () => {
        const x = r.next();
        return unary(INFER, x < 0.5 ? mutate(r, good) : x < 0.75 ? requestVariant(r) : mutate(r, requestVariant(r)));
      }));
      for (const c of got) codes.set(c, (codes.get(c) ?? 0) + 1);
    }
    const seen = Object.fromEntries([...codes].map(([c, n]) => [grpc.status[c], n]));
    assert.equal(codes.get(grpc.status.INTERNAL), undefined, JSON.stringify(seen));
    assert.equal(codes.get(grpc.status.UNKNOWN), undefined, JSON.stringify(seen));
    assert.ok((codes.get(grpc.status.OK) ?? 0) > 0 && (codes.get(grpc.status.INVALID_ARGUMENT) ?? 0) > 0, JSON.stringify(seen));
    assert.equal(await unary('/inference.GRPCInferenceService/ModelInfer', good), grpc.status.OK);
    assert.equal(srv.child.exitCode, null, 'the server is up');
  });

  it('mutated and malformed HTTP infer bodies (JSON and binary tensor data) get 200 or a 4xx, never a 5xx', async () => {
    const r = rng(11);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 600; i += 30) {
      const got = await Promise.all(Array.from({ length: 30 }, async () => {
        const { body, headerLength } = httpBody(r);
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
        if (headerLength !== undefined) headers['inference-header-content-length'] = headerLength;
        const res = await fetch(`http://127.0.0.1:${srv.httpPort}/v2/models/digits/infer`, { method: 'POST', headers, body });
        await res.arrayBuffer();
        return res.status;
      }));
      for (const c of got) statuses.set(c, (statuses.get(c) ?? 0) + 1);
    }
    const seen = JSON.stringify(Object.fromEntries(statuses));
    assert.ok([...statuses.keys()].every((c) => c === 200 || (c >= 400 && c < 500)), seen);
    assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, seen);
    assert.equal(srv.child.exitCode, null, 'the server is up');
  });
});
