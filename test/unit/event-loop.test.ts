/**
 * The proof that the ONNX Runtime backend never blocks the event loop: while a slow model computes
 * back to back for ≥ 1.5 s, the loop's delay stays small and HTTP health checks keep answering.
 * The same model run on the main thread (onnxruntime-node directly) is measured the same way, to
 * show the bound would catch a blocking backend.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { OrtBackend, sessionOptions } from '../../src/backends/onnxruntime/ort-backend';
import type { ModelConfig } from '../../src/repository/model-config';
import type { Tensor } from '../../src/runtime/tensor';
import { slowModel } from '../helpers/model-factory';
import { schedule } from '../helpers/scheduled-session';

/** p99 of the loop delay must stay under this while the model computes (ms). */
const DELAY_BOUND_MS = 50;
/**
 * Sampling period of the delay monitor (ms). Node's histogram records the whole interval between
 * its timer's firings, so delay = recorded − period (as @fastify/under-pressure computes it).
 */
const RESOLUTION_MS = 10;
/** Health-check period (ms); at least 80% of the expected answers must come back. */
const HEALTH_PERIOD_MS = 20;
const SIZE = 512;
const REPEATS = 20;
/** Target duration of one run (ms), inside the 300–800 ms the proof asks for. */
const TARGET_RUN_MS = 500;
const MIN_BUSY_MS = 1500;
/** Measured phases tried before failing, for a machine shared with other CPU-heavy work. */
const MAX_ATTEMPTS = 3;
/** Quiet time around each measured phase (ms). */
const PAD_MS = 50;

// No batch dim: each run's rows pass through the batcher untouched, one run per batch.
const config: ModelConfig = {
  name: 'slow', platform: 'onnxruntime_onnx', backend: 'onnxruntime', maxBatchSize: 0,
  input: [{ name: 'x', dataType: 'FP32', dims: [-1, SIZE] }], output: [{ name: 'y', dataType: 'FP32', dims: [-1, SIZE] }],
  versionPolicy: { kind: 'all' }, dynamicBatching: undefined, instanceGroup: [], parameters: new Map(),
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-eld-'));
const modelFile = path.join(dir, 'slow.onnx');
fs.writeFileSync(modelFile, slowModel({ size: SIZE, repeats: REPEATS }));

// A health endpoint served by this same event loop, polled by a client on this same loop: if the
// loop stalls, both sides stall.
const health = http.createServer((_req, res) => res.end('OK'));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let port = 0;
before(async () => {
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  port = (health.address() as AddressInfo).port;
});
after(() => {
  agent.destroy();
  health.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function healthCheck(): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/v2/health/live', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`health ${res.statusCode}`))));
    }).on('error', reject);
  });
}

interface LoopReport {
  readonly busyMs: number;
  /** Loop delay beyond the sampling period: how late the monitor's timer fired. */
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly healthExpected: number;
  readonly healthAnswered: number;
  readonly healthMaxMs: number;
}

/** Runs `work` while sampling the loop delay and polling health every HEALTH_PERIOD_MS. */
async function measureWhile(work: () => Promise<void>): Promise<LoopReport> {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  let answered = 0;
  let healthMaxMs = 0;
  let inFlight = false;
  const poll = setInterval(() => {
    if (inFlight) return; // one check at a time; a slow answer costs the next ticks, as it should
    inFlight = true;
    const sent = performance.now();
    healthCheck().then(() => {
      answered++;
      healthMaxMs = Math.max(healthMaxMs, performance.now() - sent);
    }, () => undefined).finally(() => {
      inFlight = false;
    });
  }, HEALTH_PERIOD_MS);
  h.enable();
  // The monitor records a stall when its timer next fires, so it runs a little before and after
  // `work`; health answers count only inside `work`.
  await sleep(PAD_MS);
  const answeredBefore = answered;
  const start = performance.now();
  let busyMs = 0;
  let answeredDuring = 0;
  try {
    await work();
  } finally {
    busyMs = performance.now() - start;
    answeredDuring = answered - answeredBefore;
    await sleep(PAD_MS);
    h.disable();
    clearInterval(poll);
  }
  return {
    busyMs,
    p99Ms: Math.max(0, h.percentile(99) / 1e6 - RESOLUTION_MS),
    maxMs: Math.max(0, h.max / 1e6 - RESOLUTION_MS),
    healthExpected: Math.floor(busyMs / HEALTH_PERIOD_MS), healthAnswered: answeredDuring, healthMaxMs,
  };
}

const ones = (rows: number): Tensor =>
  ({ datatype: 'FP32', shape: [rows, SIZE], data: new Float32Array(rows * SIZE).fill(1) });

const fmt = (r: LoopReport): string =>
  `busy ${r.busyMs.toFixed(0)} ms, loop delay p99 ${r.p99Ms.toFixed(1)} ms / max ${r.maxMs.toFixed(1)} ms ` +
  `(beyond the ${RESOLUTION_MS} ms sampling period), health ${r.healthAnswered}/${r.healthExpected} answered, ` +
  `slowest ${r.healthMaxMs.toFixed(1)} ms`;

/**
 * The proof's bounds for one phase of back-to-back runs of `runMs` each: p99 delay under the
 * bound, no single delay near a run's length, and health checks answered.
 */
function loopStayedFree(r: LoopReport, runMs: number): boolean {
  return r.p99Ms < DELAY_BOUND_MS && r.maxMs < runMs / 2 && r.healthAnswered >= r.healthExpected * 0.8;
}

test('slow ONNX Runtime runs leave the event loop free; the same run on the main thread would not', async () => {
  const session = schedule(await new OrtBackend().load(modelFile, config), config);
  let rows = 256;
  let phase: { report: LoopReport; runMs: number } | undefined;
  try {
    // Size one run to ~TARGET_RUN_MS on this machine: time a small batch, scale, time again.
    const time = async (r: number): Promise<number> => {
      const t0 = performance.now();
      await session.run(new Map([['x', ones(r)]]), ['y']);
      return performance.now() - t0;
    };
    await time(rows); // warm-up (first-run allocations)
    // The fastest of a few timings estimates the machine's speed without its neighbours' noise.
    for (const tries of [3, 2]) {
      let best = Infinity;
      for (let i = 0; i < tries; i++) best = Math.min(best, await time(rows));
      rows = Math.max(1, Math.round(rows * TARGET_RUN_MS / best));
    }
    const input = new Map([['x', ones(rows)]]);
    // Other processes starving this one of CPU can only add delay, never hide a stall: a blocking
    // backend stalls the loop for a whole run on every attempt. So one attempt within the bounds
    // proves the point, and a busy shared machine gets MAX_ATTEMPTS chances.
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let runs = 0;
      // Back to back until at least MIN_BUSY_MS have passed.
      const report = await measureWhile(async () => {
        const start = performance.now();
        while (runs < 3 || performance.now() - start < MIN_BUSY_MS) {
          await session.run(input, ['y']);
          runs++;
        }
      });
      phase = { report, runMs: report.busyMs / runs };
      console.log(`worker-thread backend, attempt ${attempt}: ${runs} runs × ${rows} rows ` +
        `(${phase.runMs.toFixed(0)} ms each): ${fmt(report)}`);
      if (loopStayedFree(report, phase.runMs)) break;
    }
  } finally {
    await session.close();
  }
  assert.ok(phase !== undefined);
  const { report, runMs } = phase;

  // Contrast: the same model and batch through onnxruntime-node on this thread. Its run() only
  // defers the native call with setImmediate, then blocks the loop for the whole computation.
  const { intraOpNumThreads, interOpNumThreads } = sessionOptions(config, 1);
  const direct = await ort.InferenceSession.create(modelFile,
    { intraOpNumThreads, interOpNumThreads, graphOptimizationLevel: 'all' });
  let blocking: LoopReport;
  try {
    const feeds = { x: new ort.Tensor('float32', new Float32Array(rows * SIZE).fill(1), [rows, SIZE]) };
    await direct.run(feeds); // warm-up, outside the measurement
    blocking = await measureWhile(async () => {
      for (let i = 0; i < 2; i++) await direct.run(feeds);
    });
    console.log(`main-thread onnxruntime-node (contrast): 2 runs × ${rows} rows: ${fmt(blocking)}`);
  } finally {
    await direct.release();
  }

  assert.ok(runMs >= 150, `a run should take ~${TARGET_RUN_MS} ms, took ${runMs.toFixed(0)} ms`);
  assert.ok(report.p99Ms < DELAY_BOUND_MS, `loop delay p99 ${report.p99Ms.toFixed(1)} ms ≥ ${DELAY_BOUND_MS} ms`);
  assert.ok(report.maxMs < runMs / 2, `a delay of ${report.maxMs.toFixed(1)} ms, against runs of ${runMs.toFixed(0)} ms`);
  assert.ok(report.healthAnswered >= report.healthExpected * 0.8,
    `health answered ${report.healthAnswered} of ${report.healthExpected}`);
  // The bounds are not vacuous: a blocking run fails them (p99 by an order of magnitude).
  assert.ok(blocking.p99Ms >= DELAY_BOUND_MS, `main-thread run only delayed the loop ${blocking.p99Ms.toFixed(1)} ms`);
  assert.ok(!loopStayedFree(blocking, blocking.busyMs / 2));
});
