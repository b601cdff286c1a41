/**
 * The native dynamic batcher through the built addon: a batcher created on the main thread,
 * served by worker threads that attach to it by id (test/native/batcher-worker.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import { native } from '../../src/native';
import type { NativeBatcher, NativeBatcherConfig, NativeCompletion, NativeQueuePolicy } from '../../src/native';
import type { BatcherWorkerData, WorkerMode, WorkerReport } from './batcher-worker';

const WORKER = path.join(__dirname, 'batcher-worker.js');
const LOADER_JS = path.join(__dirname, '..', '..', 'src', 'native', 'loader.js');

const POLICY: NativeQueuePolicy = { timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 0 };

function config(overrides: Partial<NativeBatcherConfig> = {}): NativeBatcherConfig {
  return {
    name: 'test:1', maxBatchSize: 16, hasBatchDim: true, dynamic: true, maxQueueDelayUs: 0,
    preferredBatchSizes: [], priorityLevels: 0, defaultPriorityLevel: 0, queuePolicies: [POLICY],
    inputs: [{ name: 'x', elementSize: 4 }], outputs: [{ name: 'y', elementSize: 4 }],
    ...overrides,
  };
}

/** A batcher whose completions resolve per-request promises, in arrival order. */
class Harness {
  readonly batcher: NativeBatcher;
  readonly order: number[] = [];
  private readonly pending = new Map<number, (c: NativeCompletion) => void>();

  constructor(cfg: NativeBatcherConfig) {
    this.batcher = native().createBatcher(cfg, (completions) => {
      for (const c of completions) {
        this.order.push(c.requestId);
        const resolve = this.pending.get(c.requestId);
        this.pending.delete(c.requestId);
        assert.ok(resolve !== undefined, `completion for unknown or finished request ${c.requestId}`);
        resolve(c);
      }
    });
  }

  /** Throws what the batcher refused (a returned NativeError), so that codeOf() reads it. */
  enqueue(request: Parameters<NativeBatcher['enqueue']>[0]): { id: number; done: Promise<NativeCompletion> } {
    const id = this.batcher.enqueue(request);
    if (typeof id !== 'number') throw Object.assign(new Error(id.message), { code: id.code });
    const done = new Promise<NativeCompletion>((resolve) => this.pending.set(id, resolve));
    return { id, done };
  }

  /** Enqueues FP32 rows [rows, width]; returns the request id and its completion. */
  submit(values: Float32Array, rows: number, opts: { priority?: number; timeoutUs?: number } = {}):
    { id: number; done: Promise<NativeCompletion> } {
    return this.enqueue({
      inputs: [{ data: new Uint8Array(values.buffer), shape: [rows, values.length / rows] }],
      rows, priority: opts.priority ?? 0, timeoutUs: opts.timeoutUs ?? 0,
    });
  }
}

interface StartedWorker {
  readonly worker: Worker;
  readonly reports: WorkerReport[];
  readonly exited: Promise<number>;
  /** Resolves with the first report of `type`. */
  next(type: WorkerReport['type']): Promise<WorkerReport>;
}

function startWorker(batcherId: number, mode: WorkerMode, elementSizes: readonly number[] = [4],
  gate?: SharedArrayBuffer): StartedWorker {
  const data: BatcherWorkerData = { kind: 'sluice-batcher-test', batcherId, mode, elementSizes, ...(gate ? { gate } : {}) };
  const worker = new Worker(WORKER, { workerData: data });
  const reports: WorkerReport[] = [];
  const waiters: { type: WorkerReport['type']; resolve: (r: WorkerReport) => void }[] = [];
  worker.on('message', (r: WorkerReport) => {
    reports.push(r);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w !== undefined && w.type === r.type) {
        waiters.splice(i, 1);
        w.resolve(r);
      }
    }
  });
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  const next = (type: WorkerReport['type']): Promise<WorkerReport> => {
    const seen = reports.find((r) => r.type === type);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ type, resolve }));
  };
  return { worker, reports, exited, next };
}

function rowsOf(start: number, rows: number, width: number): Float32Array {
  return Float32Array.from({ length: rows * width }, (_, i) => start + i);
}

function floats(c: NativeCompletion, k = 0): number[] {
  const t = c.outputs?.[k];
  assert.ok(t !== undefined, `request ${c.requestId} has no output ${k}: ${JSON.stringify(c.error)}`);
  return Array.from(new Float32Array(t.data.slice().buffer));
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

function bytesElements(strings: readonly string[]): Uint8Array {
  const parts = strings.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('native batcher', () => {
  it('serves 200 concurrent requests from worker threads, each with exactly its own rows', async () => {
    const h = new Harness(config({ maxQueueDelayUs: 2000, preferredBatchSizes: [8, 16] }));
    const workers = [startWorker(h.batcher.id, 'echo'), startWorker(h.batcher.id, 'echo')];
    const width = 3;
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const sent = Array.from({ length: 200 }, (_, i) => {
      const rows = 1 + Math.floor(random() * 5);
      const values = rowsOf(i * 1000, rows, width);
      return { rows, values, ...h.submit(values, rows) };
    });
    const completions = await Promise.all(sent.map((s) => s.done));
    let totalRows = 0;
    for (const [i, c] of completions.entries()) {
      const s = sent[i];
      assert.ok(s !== undefined);
      assert.equal(c.error, undefined);
      assert.equal(c.requestId, s.id);
      assert.deepEqual(c.outputs?.[0]?.shape, [s.rows, width]);
      assert.deepEqual(floats(c), Array.from(s.values, (v) => v * 2));
      assert.ok(c.batchSize >= s.rows && c.batchSize <= 16);
      assert.ok(c.queueNs >= 0 && c.computeInferNs === 20);
      totalRows += s.rows;
    }
    assert.ok(completions.some((c) => c.batchSize > 1), 'some requests were batched together');

    h.batcher.close();
    const closed = await Promise.all(workers.map((w) => w.next('closed')));
    await Promise.all(workers.map((w) => w.exited));
    const executed = closed.reduce((n, r) => n + (r.type === 'closed' ? r.batches : 0), 0);
    const batchReports = workers.flatMap((w) => w.reports).filter((r) => r.type === 'batch');
    assert.ok(batchReports.every((r) => r.type === 'batch' && r.detached), 'input views are detached after complete()');

    const counters = h.batcher.counters();
    assert.equal(counters.requestsSucceeded, 200);
    assert.equal(counters.requestsFailed, 0);
    assert.equal(counters.inferenceCount, totalRows);
    assert.equal(counters.executionCount, executed);
    assert.equal(counters.queued, 0);
    assert.equal(counters.executing, 0);
    assert.equal(counters.batchStats.reduce((n, s) => n + s.count, 0), executed);
    assert.equal(counters.batchStats.reduce((n, s) => n + s.count * s.batchSize, 0), totalRows);
    assert.equal(counters.computeInferNs, 200 * 20);
  });

  it('idleSpinUs 0: sources always sleep, and every sparse request still wakes one and runs', async () => {
    const h = new Harness(config({ idleSpinUs: 0 }));
    const w = startWorker(h.batcher.id, 'echo');
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const c = await h.submit(rowsOf(i, 1, 2), 1).done;
      assert.equal(c.error, undefined);
      assert.deepEqual(floats(c), [2 * i, 2 * i + 2]);
    }
    h.batcher.close();
    assert.equal(await w.exited, 0);
  });

  it('holds a batch for the max queue delay, then sends it whole', async () => {
    const h = new Harness(config({ maxBatchSize: 8, maxQueueDelayUs: 50_000 }));
    const w = startWorker(h.batcher.id, 'echo');
    await sleep(50);  // the worker is attached and waiting
    const start = process.hrtime.bigint();
    const sent = [1, 2, 3].map((i) => h.submit(rowsOf(i, 1, 2), 1));
    const done = await Promise.all(sent.map((s) => s.done));
    const elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
    assert.deepEqual(done.map((c) => c.batchSize), [3, 3, 3]);
    assert.ok(elapsedMs >= 45, `sent after ${elapsedMs} ms`);
    assert.ok(done.every((c) => c.queueNs >= 45e6));
    h.batcher.close();
    await w.exited;
  });

  it('serves the most urgent priority level first', async () => {
    const h = new Harness(config({
      maxBatchSize: 1, priorityLevels: 2, defaultPriorityLevel: 2, queuePolicies: [POLICY, POLICY],
    }));
    const gate = new SharedArrayBuffer(4);
    const w = startWorker(h.batcher.id, 'echo', [4], gate);
    const low1 = h.submit(rowsOf(1, 1, 1), 1);
    const low2 = h.submit(rowsOf(2, 1, 1), 1, { priority: 2 });
    const high = h.submit(rowsOf(3, 1, 1), 1, { priority: 1 });
    assert.equal(codeOf(() => h.submit(rowsOf(4, 1, 1), 1, { priority: 3 })), 'INVALID_ARGUMENT');
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    await Promise.all([low1.done, low2.done, high.done]);
    assert.deepEqual(h.order, [high.id, low1.id, low2.id]);
    h.batcher.close();
    await w.exited;
  });

  it('refuses at once when the queue is full', async () => {
    const h = new Harness(config({ queuePolicies: [{ ...POLICY, maxQueueSize: 2 }] }));
    const a = h.submit(rowsOf(1, 1, 1), 1);
    const b = h.submit(rowsOf(2, 1, 1), 1);
    const start = process.hrtime.bigint();
    const values = rowsOf(3, 1, 1);
    const refused = h.batcher.enqueue({ inputs: [{ data: new Uint8Array(values.buffer), shape: [1, 1] }], rows: 1, priority: 0, timeoutUs: 0 });
    assert.ok(Number(process.hrtime.bigint() - start) < 50e6, 'refused without waiting');
    // Returned, not thrown, and with no more than its code and message.
    assert.deepEqual(refused, { code: 'UNAVAILABLE', message: 'Exceeds maximum queue size' });
    h.batcher.close();
    const failed = await Promise.all([a.done, b.done]);
    assert.deepEqual(failed.map((c) => c.error?.code), ['UNAVAILABLE', 'UNAVAILABLE']);
  });

  it('rejects expired requests with UNAVAILABLE and never executes them', async () => {
    const h = new Harness(config({
      maxBatchSize: 8, maxQueueDelayUs: 10_000_000, queuePolicies: [{ ...POLICY, defaultTimeoutUs: 20_000 }],
    }));
    const w = startWorker(h.batcher.id, 'echo');
    const r = h.submit(rowsOf(1, 1, 2), 1);
    const c = await r.done;
    assert.deepEqual(c.error, { code: 'UNAVAILABLE', message: 'Request timeout expired' });
    assert.equal(c.outputs, undefined);
    assert.equal(c.batchSize, 0);
    assert.ok(c.queueNs >= 20e6);
    h.batcher.close();
    const closed = await w.next('closed');
    assert.deepEqual(closed, { type: 'closed', batches: 0 });
    assert.equal(h.batcher.counters().executionCount, 0);
    assert.equal(h.batcher.counters().requestsFailed, 1);
  });

  it('cancels a queued request', async () => {
    const h = new Harness(config());
    const r = h.submit(rowsOf(1, 1, 1), 1);
    assert.equal(h.batcher.cancel(r.id), true);
    assert.equal(h.batcher.cancel(r.id), false);
    const c = await r.done;
    assert.equal(c.error?.code, 'CANCELLED');
    h.batcher.close();
  });

  it('close() fails queued requests and wakes waiting sources', async () => {
    const h = new Harness(config({ maxBatchSize: 8, maxQueueDelayUs: 10_000_000 }));
    const w = startWorker(h.batcher.id, 'echo');
    await sleep(30);
    const r = h.submit(rowsOf(1, 1, 1), 1);  // held by the 10 s delay
    h.batcher.close();
    const c = await r.done;
    assert.equal(c.error?.code, 'UNAVAILABLE');
    assert.deepEqual(await w.next('closed'), { type: 'closed', batches: 0 });
    assert.equal(await w.exited, 0);
    assert.equal(codeOf(() => h.submit(rowsOf(1, 1, 1), 1)), 'UNAVAILABLE');
  });

  it('round-trips BYTES tensors', async () => {
    const h = new Harness(config({
      maxQueueDelayUs: 1000,
      inputs: [{ name: 'x', elementSize: 4 }, { name: 's', elementSize: 0 }],
      outputs: [{ name: 'y', elementSize: 4 }, { name: 't', elementSize: 0 }],
    }));
    const w = startWorker(h.batcher.id, 'echo', [4, 0]);
    const sent = Array.from({ length: 30 }, (_, i) => {
      const rows = 1 + (i % 3);
      const strings = Array.from({ length: rows * 2 }, (_, j) => `req${i}-el${j}-${'é'.repeat(j)}`);
      const bytes = bytesElements(strings);
      const values = rowsOf(i, rows, 1);
      const r = h.enqueue({
        inputs: [{ data: new Uint8Array(values.buffer), shape: [rows, 1] }, { data: bytes, shape: [rows, 2] }],
        rows, priority: 0, timeoutUs: 0,
      });
      return { rows, bytes, values, ...r };
    });
    for (const s of sent) {
      const c = await s.done;
      assert.equal(c.error, undefined);
      assert.deepEqual(floats(c, 0), Array.from(s.values, (v) => v * 2));
      assert.deepEqual(c.outputs?.[1]?.shape, [s.rows, 2]);
      assert.deepEqual(Buffer.from(c.outputs?.[1]?.data ?? []), Buffer.from(s.bytes));
    }
    h.batcher.close();
    await w.exited;
  });

  it('fails the batches of a worker that exits without completing them', async () => {
    const h = new Harness(config());
    const w = startWorker(h.batcher.id, 'take-and-exit');
    const r = h.submit(rowsOf(1, 2, 2), 2);
    assert.deepEqual(await w.next('took'), { type: 'took', rows: 2 });
    assert.equal(await w.exited, 0);
    const c = await r.done;
    assert.equal(c.error?.code, 'UNAVAILABLE');
    assert.match(c.error?.message ?? '', /exited|garbage-collected/);
    assert.equal(h.batcher.counters().executing, 0);
    h.batcher.close();
  });

  it('lets a worker blocked in next(Infinity) be terminated', async () => {
    const h = new Harness(config());
    const w = startWorker(h.batcher.id, 'block-forever');
    await w.next('waiting');
    await sleep(20);
    const start = Date.now();
    await w.worker.terminate();
    assert.ok(Date.now() - start < 2000, `terminate took ${Date.now() - start} ms`);
    h.batcher.close();
  });

  it('survives terminating a worker that polls next(timeoutMs), the batcher left open', () => {
    // In a child process: the addon once threw a C++ exception out of next() while the worker's
    // environment stopped (it could no longer run JS), which aborted the whole process.
    const script = `
      const { Worker } = require('node:worker_threads');
      const n = require(${JSON.stringify(LOADER_JS)}).native();
      const b = n.createBatcher(JSON.parse(process.argv[1]), () => {});
      const w = new Worker(${JSON.stringify(WORKER)}, { workerData: { kind: 'sluice-batcher-test',
        batcherId: b.id, mode: 'echo', elementSizes: [4] } });
      setTimeout(async () => { await w.terminate(); process.stdout.write('terminated'); b.close(); }, 100);`;
    for (let run = 0; run < 3; run++) {
      const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(config())], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.signal, null, `run ${run}: killed by ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'terminated');
    }
  });

  it('lets the process exit when its batchers are idle or closed', () => {
    const script = `
      const n = require(${JSON.stringify(LOADER_JS)}).native();
      const cfg = JSON.parse(process.argv[1]);
      n.createBatcher(cfg, () => {});  // never closed, never used: must not hold the loop
      const b = n.createBatcher(cfg, (c) => process.stdout.write(c[0].error.code));
      b.enqueue({ inputs: [{ data: new Uint8Array(4), shape: [1, 1] }], rows: 1, priority: 0, timeoutUs: 0 });
      setTimeout(() => b.close(), 20);`;
    const r = spawnSync(process.execPath, ['-e', script, JSON.stringify(config())], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'UNAVAILABLE');
  });

  it('reports bad calls with error codes', () => {
    assert.equal(codeOf(() => native().attachBatchSource(987654)), 'NOT_FOUND');
    assert.equal(codeOf(() => native().createBatcher(config({ maxBatchSize: 0 }), () => undefined)), 'INVALID_ARGUMENT');
    assert.equal(codeOf(() => native().createBatcher(config({ queuePolicies: [] }), () => undefined)), 'INVALID_ARGUMENT');
    for (const idleSpinUs of [-1, 1_000_001, 1.5, Number.NaN]) {
      assert.equal(codeOf(() => native().createBatcher(config({ idleSpinUs }), () => undefined)), 'INVALID_ARGUMENT', String(idleSpinUs));
    }
    for (const idleSpinUs of [0, 1_000_000]) native().createBatcher(config({ idleSpinUs }), () => undefined).close();
    const h = new Harness(config({ maxBatchSize: 4 }));
    assert.equal(codeOf(() => h.batcher.enqueue({ inputs: [], rows: 1, priority: 0, timeoutUs: 0 })), 'INVALID_ARGUMENT');
    assert.equal(codeOf(() => h.submit(rowsOf(1, 5, 1), 5)), 'INVALID_ARGUMENT');  // rows > max batch
    assert.equal(codeOf(() => h.submit(rowsOf(1, 1, 1), 1.5)), 'INVALID_ARGUMENT');
    // A call the addon cannot read throws (above); a request the batcher refuses is answered with
    // a returned {code, message}, not an exception.
    const refused = h.batcher.enqueue({
      inputs: [{ data: new Uint8Array(3), shape: [1, 1] }], rows: 1, priority: 0, timeoutUs: 0,
    });  // 3 bytes for one FP32
    assert.ok(typeof refused === 'object' && !(refused instanceof Error), 'a refusal is returned as a plain object');
    assert.equal(refused.code, 'INVALID_ARGUMENT');
    assert.match(refused.message, /bytes/);
    const source = native().attachBatchSource(h.batcher.id);
    assert.equal(codeOf(() => source.complete(12345, [], { computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0 })), 'NOT_FOUND');
    assert.equal(source.next(0), null);
    h.batcher.close();
    assert.equal(source.next(0), 'closed');
  });
});
