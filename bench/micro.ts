/**
 * tinybench micro-benchmarks of the per-request work around a model: the gRPC codec (decode a
 * ModelInferRequest, encode a ModelInferResponse) and the native batcher round trip (enqueue →
 * a batch source takes it → completion back on the JS thread). Run with no server up, so they
 * measure the code, not the machine's other tenants (which still share the 2 cores).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { decodeGrpcInferRequest, encodeGrpcInferResponsePieces } from '../src/codec/grpc-infer';
import { native } from '../src/native';
import type { NativeBatcher, NativeBatcherConfig, NativeCompletion } from '../src/native';
import type { InferResult } from '../src/runtime/types';
import { encodeInferRequest } from './client';
import { BENCH_MODELS } from './models';
import { fmtSig } from './format';
import { summarize, type LatencySummary } from './stats';
import { batcherStartTarget, type TargetLine } from './targets';

export interface MicroResult {
  readonly name: string;
  /** Per operation, µs. */
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly samples: number;
  readonly note: string;
}

export interface MicroReport {
  readonly results: MicroResult[];
  /** The batcher's low-load overhead target, when the batcher ran. */
  readonly targets: TargetLine[];
  /** Why a group did not run, e.g. "skipped: native batcher not built". */
  readonly skipped: string[];
}

function mlpResult(rows: number): InferResult {
  const y = new Float32Array(rows * 512).fill(0.25);
  return { model: 'mlp', version: '1', id: undefined, outputs: new Map([['y', { datatype: 'FP32', shape: [rows, 512], data: y }]]) };
}

function collect(bench: Bench, perOp: Readonly<Record<string, number>>, notes: Readonly<Record<string, string>>): MicroResult[] {
  return bench.tasks.map((t) => {
    const r = t.result;
    const div = perOp[t.name] ?? 1;
    if (r.state !== 'completed') return { name: t.name, meanUs: NaN, p50Us: NaN, p99Us: NaN, samples: 0, note: r.state };
    return { name: t.name, meanUs: (r.latency.mean * 1e3) / div, p50Us: (r.latency.p50 * 1e3) / div,
      p99Us: (r.latency.p99 * 1e3) / div, samples: r.latency.samplesCount, note: notes[t.name] ?? '' };
  });
}

async function codecBench(timeMs: number): Promise<MicroResult[]> {
  const bench = new Bench({ time: timeMs });
  const mlp1 = encodeInferRequest(BENCH_MODELS.mlp, 1);
  const mlp64 = encodeInferRequest(BENCH_MODELS.mlp, 64);
  const digits1 = encodeInferRequest(BENCH_MODELS.digits, 1);
  const out1 = mlpResult(1);
  const out64 = mlpResult(64);
  bench
    .add(`decode ModelInferRequest digits 1 row (${digits1.length} B)`, () => { decodeGrpcInferRequest(digits1); })
    .add(`decode ModelInferRequest mlp 1 row (${mlp1.length} B)`, () => { decodeGrpcInferRequest(mlp1); })
    .add(`decode ModelInferRequest mlp 64 rows (${mlp64.length} B)`, () => { decodeGrpcInferRequest(mlp64); })
    .add('encode ModelInferResponse mlp 1 row (2 KiB)', () => { encodeGrpcInferResponsePieces(out1); })
    .add('encode ModelInferResponse mlp 64 rows (128 KiB)', () => { encodeGrpcInferResponsePieces(out64); });
  await bench.run();
  return collect(bench, {}, {});
}

/** Gap between the sparse requests of the batcher's low-load check, ms. */
const SPACED_GAP_MS = 5;
/** The spin window (sluice.idle_spin_us) of the second sparse run: twice the gap, µs. */
const SPACED_SPIN_US = 2 * SPACED_GAP_MS * 1000;

const ECHO_CONFIG: NativeBatcherConfig = {
  name: 'bench-echo:1', maxBatchSize: 64, hasBatchDim: true, dynamic: true, maxQueueDelayUs: 0,
  preferredBatchSizes: [], priorityLevels: 0, defaultPriorityLevel: 0,
  queuePolicies: [{ timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: false, maxQueueSize: 0 }],
  inputs: [{ name: 'x', elementSize: 4 }], outputs: [{ name: 'y', elementSize: 4 }],
};

/** One request at a time through a real batcher and an echo batch source on a worker thread. */
interface EchoBatcher {
  /** Enqueues one 1-row request; resolves when its completion reaches the JS thread. */
  one(): Promise<void>;
  /** Enqueue → taken by the batch source, µs, of every request since the last call. */
  takeQueueUs(): number[];
  close(): Promise<void>;
}

async function echoBatcher(config: NativeBatcherConfig): Promise<EchoBatcher> {
  const pending = new Map<number, () => void>();
  let queueNs: number[] = [];
  const batcher: NativeBatcher = native().createBatcher(config, (completions: NativeCompletion[]) => {
    for (const c of completions) {
      if (c.error === undefined) queueNs.push(c.queueNs);
      pending.get(c.requestId)?.();
      pending.delete(c.requestId);
    }
  });
  const worker = new Worker(path.join(__dirname, 'batch-echo-worker.js'), { workerData: { batcherId: batcher.id } });
  const close = async (): Promise<void> => {
    batcher.close();
    await worker.terminate();
  };
  try {
    await new Promise<void>((resolve, reject) => { worker.once('message', () => resolve()); worker.once('error', reject); });
  } catch (e) {
    await close();
    throw e;
  }
  const row = { data: new Uint8Array(16), shape: [1, 4] };
  return {
    one: () => new Promise((resolve, reject) => {
      const id = batcher.enqueue({ inputs: [row], rows: 1, priority: 0, timeoutUs: 0 });
      if (typeof id === 'number') pending.set(id, resolve);
      else reject(new Error(`the batcher refused a request: ${id.code} ${id.message}`));
    }),
    takeQueueUs: () => {
      const us = queueNs.map((ns) => ns / 1e3);
      queueNs = [];
      return us;
    },
    close,
  };
}

/** Requests `SPACED_GAP_MS` apart, one at a time: enqueue → taken by the source, µs. */
async function spacedQueueUs(echo: EchoBatcher, count: number): Promise<number[]> {
  echo.takeQueueUs();
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, SPACED_GAP_MS));
    await echo.one();
  }
  return echo.takeQueueUs();
}

/** Enqueue → completion through the batcher, and its low-load overhead with and without a long spin window. */
async function batcherBench(timeMs: number): Promise<{ results: MicroResult[]; targets: TargetLine[] }> {
  // 1,000 sparse requests in a full run (5 s per pattern): enough that p99 is not two samples.
  const spacedCount = Math.max(200, Math.round((10 * timeMs) / SPACED_GAP_MS));
  const echo = await echoBatcher(ECHO_CONFIG);
  let start: LatencySummary;
  let spaced: LatencySummary;
  let results: MicroResult[];
  try {
    // One request at a time: the queue is empty at every enqueue (the low-load case), so its
    // queue times are the batcher's own overhead up to execution start.
    const single = 'batcher: enqueue → completion, 1 request of 1 row';
    const alone = new Bench({ time: timeMs }).add(single, echo.one);
    echo.takeQueueUs();
    await alone.run();
    start = summarize(echo.takeQueueUs());
    const burst = 'batcher: 64 concurrent 1-row requests → completions (per request)';
    const together = new Bench({ time: timeMs })
      .add(burst, () => Promise.all(Array.from({ length: 64 }, echo.one)).then(() => undefined));
    await together.run();
    // Sparse arrivals: one request every ~5 ms, longer than the default window the batch source
    // spins after its last batch, so each one wakes a sleeping source.
    spaced = summarize(await spacedQueueUs(echo, spacedCount));
    results = [
      ...collect(alone, {}, { [single]: `enqueue → execute start (empty queue): p50 ${fmtSig(start.p50)}, ` +
        `p99 ${fmtSig(start.p99)}, mean ${fmtSig(start.mean)} µs` }),
      ...collect(together, { [burst]: 64 }, {}),
    ];
  } finally {
    await echo.close();
  }
  // The same sparse arrivals with the model parameter sluice.idle_spin_us set past the gap: the
  // source spins through every idle period (one core busy while idle), the operator's choice for
  // the lowest latency at low load.
  const spinning = await echoBatcher({ ...ECHO_CONFIG, idleSpinUs: SPACED_SPIN_US });
  let spacedSpinning: LatencySummary;
  try {
    spacedSpinning = summarize(await spacedQueueUs(spinning, spacedCount));
  } finally {
    await spinning.close();
  }
  // Back to back, the source is inside its window under either setting, so both lines share
  // the one back-to-back measurement.
  return {
    results,
    targets: [
      batcherStartTarget(start, spaced, SPACED_GAP_MS, undefined),
      batcherStartTarget(start, spacedSpinning, SPACED_GAP_MS, SPACED_SPIN_US),
    ],
  };
}

export async function runMicro(timeMs: number): Promise<MicroReport> {
  const results = await codecBench(timeMs);
  const skipped: string[] = [];
  let batcherBuilt = false;
  try {
    batcherBuilt = typeof native().createBatcher === 'function';
  } catch (e) {
    skipped.push(`batcher: skipped: native addon not loadable (${(e as Error).message.split('\n')[0] ?? ''})`);
  }
  const targets: TargetLine[] = [];
  if (batcherBuilt) {
    const batcher = await batcherBench(timeMs);
    results.push(...batcher.results);
    targets.push(...batcher.targets);
  } else if (skipped.length === 0) {
    skipped.push('batcher: skipped: native batcher not built (no createBatcher in the addon)');
  }
  return { results, targets, skipped };
}
