/**
 * The native dynamic batcher end to end: a real server on loopback, a real gRPC client, real
 * models on ONNX Runtime workers that pull their batches from the batcher. Covers batches really
 * forming (and every request getting its own rows back), priorities, queue timeouts, gRPC
 * deadlines, client cancellation, a full queue, a model without a batch dim, the idle spin
 * parameter, and /metrics agreeing with ModelStatistics.
 */
import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataTypeInfo } from '../../src/runtime/datatypes';
import { SluiceServer } from '../../src/server/server';
import { KServeClient } from '../helpers/kserve-client';
import { identityModel, slowModel, writeModelRepository } from '../helpers/model-factory';
import { ALL_TYPES, allTypesModel } from './repo-fixture';

const Status = grpc.status;

/** slowModel: one row costs 2·SIZE²·REPEATS ≈ 0.1 GFLOP (~1–3 ms on 2 cores); OCCUPY_ROWS ~0.3–1 s. */
const SLOW = { size: 1024, repeats: 50 };
const OCCUPY_ROWS = 256;

const spinParameter = (value: string): string =>
  `parameters { key: "sluice.idle_spin_us" value: { string_value: "${value}" } }\n`;

let repo: string;
let server: SluiceServer;
let client: KServeClient;

before(async () => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-batching-'));
  const slowBytes = slowModel(SLOW);
  writeModelRepository(repo, [
    // Every datatype at once, so BYTES rows are split back too. A 50 ms window lets batches form.
    { name: 'mixed', versions: { '1': allTypesModel() }, config: { file: 'config.pbtxt',
      text: 'max_batch_size: 16\ndynamic_batching { max_queue_delay_microseconds: 50000 }\n' } },
    // Two priority levels; preferred size 1 sends queued 1-row requests one batch at a time, so
    // the order they run in is the order they complete in.
    { name: 'slow', versions: { '1': slowBytes }, config: { file: 'config.pbtxt', text: [
      `max_batch_size: ${OCCUPY_ROWS}`,
      'dynamic_batching {',
      '  preferred_batch_size: [1]',
      '  priority_levels: 2',
      '  default_priority_level: 2',
      '  default_queue_policy { timeout_action: REJECT allow_timeout_override: true }',
      '}',
    ].join('\n') } },
    { name: 'bounded', versions: { '1': slowBytes }, config: { file: 'config.pbtxt',
      text: `max_batch_size: ${OCCUPY_ROWS}\ndynamic_batching { default_queue_policy { max_queue_size: 2 } }\n` } },
    { name: 'unbatched', versions: { '1': identityModel('FP32', [4]) }, config: { file: 'config.pbtxt',
      text: 'max_batch_size: 0\n' } },
    { name: 'never_spins', versions: { '1': identityModel('FP32', ['batch', 4]) }, config: { file: 'config.pbtxt',
      text: `max_batch_size: 8\ndynamic_batching { }\n${spinParameter('0')}` } },
    { name: 'bad_spin', versions: { '1': identityModel('FP32', ['batch', 4]) }, config: { file: 'config.pbtxt',
      text: `max_batch_size: 8\ndynamic_batching { }\n${spinParameter('1000001')}` } },
  ]);
  server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
    maxMessageBytes: 64 * 1024 * 1024, logger: () => {} });
  client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
});

after(async () => {
  client.close();
  await server.stop(10_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

type Stats = Record<string, unknown> & { inference_stats: Record<string, { count: number; ns: number }> };

async function stats(model: string): Promise<Stats> {
  const r = await client.call('ModelStatistics', { name: model, version: '1' });
  return (r['model_stats'] as Stats[])[0] as Stats;
}

function load(model: string): { queued: number; executing: number } {
  const p = server.runtime.pendingRequests().find((e) => e.model === model && e.version === '1');
  assert.ok(p !== undefined);
  return p;
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(server.runtime.pendingRequests())}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const slowRequest = (model: string, rows: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model_name: model, inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, SLOW.size] }],
  raw_input_contents: [Buffer.from(new Float32Array(rows * SLOW.size).fill(1).buffer)], ...extra,
});

/**
 * Starts a request that keeps the model's only worker busy for a few hundred ms and waits until
 * the worker has taken it, so that what is sent next waits in the queue.
 */
async function occupy(model: string): Promise<{ done: Promise<Record<string, unknown>> }> {
  const done = client.call('ModelInfer', slowRequest(model, OCCUPY_ROWS));
  await until(`${model} to execute`, () => load(model).executing > 0);
  return { done }; // wrapped: an async function returning the promise itself would wait for it
}

/** Asserts the worker is still on the occupying request, so the test's queue really formed. */
function stillOccupied(model: string): void {
  assert.equal(load(model).executing, 1,
    'the occupying request finished before the queue formed: make SLOW heavier for this machine');
}

const grpcError = (code: number, pattern: RegExp) => (e: grpc.ServiceError): boolean => {
  assert.equal(e.code, code, `expected ${Status[code]}, got ${Status[e.code]}: ${e.details}`);
  assert.match(e.details, pattern);
  return true;
};

/** Random raw contents for `rows` rows of [rows, 2] of `dt` (BOOL 0/1, BYTES length-prefixed). */
function randomRaw(dt: (typeof ALL_TYPES)[number], rows: number): Buffer {
  const n = rows * 2;
  if (dt === 'BYTES') {
    return Buffer.concat(Array.from({ length: n }, () => {
      const s = Buffer.from(randomBytes(1 + (randomBytes(1)[0] ?? 0) % 12).toString('base64'));
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32LE(s.length);
      return Buffer.concat([prefix, s]);
    }));
  }
  const raw = randomBytes(n * dataTypeInfo(dt).size);
  if (dt === 'BOOL') for (let i = 0; i < raw.length; i++) raw[i] = (raw[i] ?? 0) & 1;
  return raw;
}

describe('native dynamic batching over gRPC', () => {
  it('concurrent requests of random row counts form batches, and each gets exactly its own rows back', async () => {
    const before = await stats('mixed');
    const REQUESTS = 40;
    const sent = Array.from({ length: REQUESTS }, () => {
      const rows = 1 + Math.floor(Math.random() * 4);
      return { rows, raw: ALL_TYPES.map((t) => randomRaw(t, rows)) };
    });
    const responses = await Promise.all(sent.map((s, i) => client.call('ModelInfer', {
      model_name: 'mixed', id: `r${i}`,
      inputs: ALL_TYPES.map((t) => ({ name: `IN_${t}`, datatype: t, shape: [s.rows, 2] })),
      raw_input_contents: s.raw,
    })));
    responses.forEach((r, i) => {
      const s = sent[i];
      assert.ok(s !== undefined);
      assert.equal(r['id'], `r${i}`);
      const outputs = r['outputs'] as { name: string; shape: number[] }[];
      const raw = r['raw_output_contents'] as Uint8Array[];
      ALL_TYPES.forEach((t, k) => {
        assert.equal(outputs[k]?.name, `OUT_${t}`);
        assert.deepEqual(outputs[k]?.shape, [s.rows, 2]);
        assert.ok(Buffer.from(raw[k] ?? []).equals(s.raw[k] ?? Buffer.alloc(0)), `request ${i} output ${t}: not its own rows`);
      });
    });
    const after = await stats('mixed');
    const rows = sent.reduce((a, s) => a + s.rows, 0);
    const executions = Number(after['execution_count']) - Number(before['execution_count']);
    assert.equal(Number(after['inference_count']) - Number(before['inference_count']), rows);
    assert.equal(after.inference_stats['success']?.count, (before.inference_stats['success']?.count ?? 0) + REQUESTS);
    assert.ok(executions < REQUESTS, `${REQUESTS} requests ran in ${executions} batches: none formed`);
    const batchStats = after['batch_stats'] as { batch_size: number; compute_infer: { count: number } }[];
    assert.ok(batchStats.some((b) => b.batch_size > 1), 'some batch holds more than one row');
    assert.ok(batchStats.every((b) => b.batch_size >= 1 && b.batch_size <= 16));
    assert.equal(batchStats.reduce((a, b) => a + b.batch_size * b.compute_infer.count, 0), Number(after['inference_count']));
    assert.equal(batchStats.reduce((a, b) => a + b.compute_infer.count, 0), Number(after['execution_count']));
  });

  it('priorities: queued high-priority requests run before low-priority ones queued earlier', async () => {
    const busy = await occupy('slow');
    const order: string[] = [];
    const send = (tag: string, priority: number) => client.call('ModelInfer', slowRequest('slow', 1,
      { id: tag, parameters: { priority: { uint64_param: priority } } })).then(() => order.push(tag));
    const lows = ['low1', 'low2', 'low3'].map((t) => send(t, 2));
    await until('the low-priority requests to queue', () => load('slow').queued === 3);
    const highs = ['high1', 'high2', 'high3'].map((t) => send(t, 1));
    await until('the high-priority requests to queue', () => load('slow').queued === 6);
    stillOccupied('slow');
    await Promise.all([busy.done, ...lows, ...highs]);
    assert.deepEqual(order, ['high1', 'high2', 'high3', 'low1', 'low2', 'low3']);
  });

  it('a queue timeout rejects UNAVAILABLE "Request timeout expired" when it expires, and the request never runs', async () => {
    const before = await stats('slow');
    const busy = await occupy('slow');
    const timedOut = client.call('ModelInfer', slowRequest('slow', 1, { parameters: { timeout: { int64_param: 1000 } } }));
    await assert.rejects(timedOut, grpcError(Status.UNAVAILABLE, /Request timeout expired/));
    // Answered at its deadline by the batcher's expiry thread, not when the worker frees up.
    stillOccupied('slow');
    assert.equal(load('slow').queued, 0);
    await busy.done;
    const after = await stats('slow');
    assert.equal(Number(after['inference_count']) - Number(before['inference_count']), OCCUPY_ROWS, 'only the occupying rows ran');
    assert.equal(Number(after['execution_count']) - Number(before['execution_count']), 1);
    assert.equal(after.inference_stats['fail']?.count, (before.inference_stats['fail']?.count ?? 0) + 1);
  });

  it('a gRPC deadline passing in the queue: DEADLINE_EXCEEDED, and the request never runs', async () => {
    const before = await stats('slow');
    const busy = await occupy('slow');
    const late = client.call('ModelInfer', slowRequest('slow', 1), { deadline: Date.now() + 100 });
    await assert.rejects(late, grpcError(Status.DEADLINE_EXCEEDED, /./));
    // The server cancels it in the queue when the deadline passes, while the worker is still busy.
    await until('the expired request to leave the queue', () => load('slow').queued === 0);
    stillOccupied('slow');
    await busy.done;
    const after = await stats('slow');
    assert.equal(Number(after['inference_count']) - Number(before['inference_count']), OCCUPY_ROWS, 'only the occupying rows ran');
    assert.equal(after.inference_stats['fail']?.count, (before.inference_stats['fail']?.count ?? 0) + 1);
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    assert.match(text, /nv_inference_request_failure\{model="slow",version="1",reason="DEADLINE_EXCEEDED"\} [1-9]/,
      'a passed deadline is recorded as DEADLINE_EXCEEDED, not as a client cancel');
  });

  it('a client cancelling a queued call takes it out of the queue: it never runs', async () => {
    const before = await stats('slow');
    const busy = await occupy('slow');
    const call = client.cancellableCall('ModelInfer', slowRequest('slow', 1));
    await until('the request to queue', () => load('slow').queued === 1);
    call.cancel();
    await assert.rejects(call.response, grpcError(Status.CANCELLED, /./));
    await until('the cancelled request to leave the queue', () => load('slow').queued === 0);
    stillOccupied('slow');
    await busy.done;
    const after = await stats('slow');
    assert.equal(Number(after['inference_count']) - Number(before['inference_count']), OCCUPY_ROWS, 'only the occupying rows ran');
    assert.equal(after.inference_stats['fail']?.count, (before.inference_stats['fail']?.count ?? 0) + 1);
  });

  it('a full queue (max_queue_size 2) refuses at once with UNAVAILABLE "Exceeds maximum queue size"', async () => {
    const busy = await occupy('bounded');
    const queued = [client.call('ModelInfer', slowRequest('bounded', 1)), client.call('ModelInfer', slowRequest('bounded', 1))];
    await until('two requests to queue', () => load('bounded').queued === 2);
    const refusedAt = Date.now();
    await assert.rejects(client.call('ModelInfer', slowRequest('bounded', 1)),
      grpcError(Status.UNAVAILABLE, /Exceeds maximum queue size/));
    stillOccupied('bounded');
    assert.ok(Date.now() - refusedAt < 1000, 'refused at once, not after waiting');
    await Promise.all([busy.done, ...queued]);
  });

  it('a model with max_batch_size 0 runs each request alone with its shape untouched', async () => {
    const values = [1.5, -2, 3.25, 4];
    const r = await client.call('ModelInfer', { model_name: 'unbatched',
      inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [4] }], raw_input_contents: [Buffer.from(new Float32Array(values).buffer)] });
    const out = r['raw_output_contents'] as Uint8Array[];
    assert.deepEqual((r['outputs'] as { shape: number[] }[])[0]?.shape, [4]);
    assert.deepEqual([...new Float32Array(Uint8Array.from(out[0] ?? []).buffer)], values);
    const s = await stats('unbatched');
    assert.deepEqual((s['batch_stats'] as { batch_size: number }[]).map((b) => b.batch_size), [1]);
  });

  it('sluice.idle_spin_us 0: an executor that always sleeps still wakes for every sparse request', async () => {
    const res = await client.call('ModelConfig', { name: 'never_spins' });
    const parameters = (res['config'] as { parameters: Record<string, unknown> }).parameters;
    assert.deepEqual(parameters['sluice.idle_spin_us'], { string_value: '0' });
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 5));
      const values = [i, i + 0.5, -i, 4];
      const r = await client.call('ModelInfer', { model_name: 'never_spins',
        inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.from(new Float32Array(values).buffer)] });
      const out = (r['raw_output_contents'] as Uint8Array[])[0] ?? new Uint8Array();
      assert.deepEqual([...new Float32Array(Uint8Array.from(out).buffer)], values);
    }
  });

  it('a sluice.idle_spin_us out of range fails the model, naming the parameter', async () => {
    const res = await client.call('RepositoryIndex', {});
    const entry = (res['models'] as { name: string; state: string; reason: string }[]).find((m) => m.name === 'bad_spin');
    assert.equal(entry?.state, 'UNAVAILABLE');
    assert.match(entry?.reason ?? '', /parameter sluice\.idle_spin_us must be an integer from 0 to 1000000 \(µs\), got '1000001'/);
  });

  it('/metrics counters and histograms agree with ModelStatistics', async () => {
    await until('every model to be idle', () => ['mixed', 'slow', 'bounded'].every((m) => load(m).queued + load(m).executing === 0));
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    for (const model of ['mixed', 'slow', 'bounded', 'unbatched']) {
      const s = await stats(model);
      const metric = (name: string, extra = ''): number => {
        const m = new RegExp(`^${name}\\{${extra}model="${model}",version="1"\\} (\\S+)$`, 'm').exec(text);
        assert.ok(m !== null, `${name} for ${model} missing from /metrics`);
        return Number(m[1]);
      };
      const success = s.inference_stats['success']?.count ?? 0;
      const batches = Number(s['execution_count']);
      assert.equal(metric('nv_inference_request_success'), success, `${model}: requests`);
      assert.equal(metric('nv_inference_count'), Number(s['inference_count']), `${model}: rows`);
      assert.equal(metric('nv_inference_exec_count'), batches, `${model}: batches`);
      assert.equal(metric('sluice_batch_size_count'), batches, `${model}: batch-size observations`);
      assert.equal(metric('sluice_batch_size_sum'), Number(s['inference_count']), `${model}: rows in batches`);
      assert.equal(metric('sluice_compute_infer_duration_seconds_count'), batches, `${model}: compute observations`);
      assert.equal(metric('sluice_request_duration_seconds_count'), success, `${model}: request observations`);
      assert.equal(metric('sluice_queue_duration_seconds_count'), success, `${model}: queue observations`);
      assert.ok(Math.abs(metric('nv_inference_queue_duration_us') - (s.inference_stats['queue']?.ns ?? 0) / 1e3) < 1,
        `${model}: queue time`);
      assert.equal(metric('nv_inference_pending_request_count'), 0);
      assert.equal(metric('sluice_queue_depth'), 0);
      assert.equal(metric('sluice_inflight_requests'), 0);
    }
    assert.match(text, /nv_inference_request_failure\{model="slow",version="1",reason="UNAVAILABLE"\} 1/);
    assert.match(text, /nv_inference_request_failure\{model="bounded",version="1",reason="UNAVAILABLE"\} 1/);
    assert.match(text, /sluice_request_duration_seconds_bucket\{le="0\.00001",model="mixed",version="1"\} \d+/);
  });
});
