/**
 * Throughput of one model (FP32 or INT8) in onnxruntime-node and in Sluice's native engine, side
 * by side: for every thread count and batch size, short time-bounded repeats that alternate
 * between the two (so a noisy neighbour on the shared cores hits both), plus one check that the
 * two agree on the outputs.
 *
 * ORT is timed as a caller sees it: `session.run` in a loop on the main thread (its JS binding
 * and tensor copies included, ~6 µs per call). The engine is timed by its own `time()`, which
 * runs back to back on a libuv thread and reports the mean per run (no JS inside the loop).
 *
 * With more than one thread, each timed side starts after a pause (SETTLE_MS): ORT's intra-op
 * workers spin after its last run (allow_spinning, ORT's default, which is kept), and on the
 * 2-core reference machine they burned ~1 core for 30-40 ms (process CPU time sampled every
 * 10 ms after a 250 ms loop, mlp-784 INT8 batch 256). A side timed right after that lost a core
 * to it: the engine's 2-thread rate there read 1.30 M rows/s, 1.55-1.65 M after a 50 ms pause,
 * so repeats alternated between the two and the 2-thread cells' spreads reached ±50-98%.
 */
import * as ort from 'onnxruntime-node';
import { native, type NativeEngine } from '../../src/native';
import { importOnnxGraph } from '../../src/onnx/graph-import';
import { spread, type Spread } from '../stats';
import type { BuiltModel, EngineModelKey, Precision } from './engine-models';

export interface MeasurePlan {
  readonly batches: readonly number[];
  readonly threads: readonly number[];
  /** Repeats per cell and side; cut (never below 1) when a cell would overrun cellBudgetMs. */
  readonly repeats: number;
  /** Target length of one repeat, ms (a repeat is never shorter than one run). */
  readonly repeatMs: number;
  /** Rough cap on one cell's measured time, both sides together, ms. */
  readonly cellBudgetMs: number;
}

/** ONNX TensorProto FLOAT: every model here takes and returns FP32. */
const ONNX_FLOAT = 1;
const INPUT_SEED = 4242;
/** A bound on one time() call's loop (mlp-784 at batch 1 runs ~10 µs: 0.25 s is ~25k). */
const MAX_ITERATIONS = 1_000_000;
/** Idle time before each timed side of a multi-threaded cell (see the header). */
const SETTLE_MS = 60;

export interface CellResult {
  readonly model: EngineModelKey;
  readonly precision: Precision;
  readonly threads: number;
  readonly batch: number;
  /** Why the engine refused the model (then nothing was measured). */
  readonly unsupported?: readonly string[];
  /** A failure of either side while measuring. */
  readonly error?: string;
  /** Rows (samples) per second over repeats. */
  readonly ort?: Spread;
  readonly native?: Spread;
  /** Median native / median ORT. */
  readonly ratio?: number;
  readonly repeats?: number;
  /** Largest |native − ORT| over every output element, and the largest |ORT| (for scale). */
  readonly maxAbsDiff?: number;
  readonly refMaxAbs?: number;
}

export interface ModelMeasurement {
  readonly cells: CellResult[];
  /** Set when a native call never settled: measuring stopped there (see EngineHang). */
  readonly hung?: string;
  /** The engine's optimized plan (describe() of the first engine loaded); undefined when refused. */
  readonly plan?: string;
}

/** Why the engine cannot run `bytes`: the import's problems, then the engine's own reasons. */
export function engineRefusal(bytes: Uint8Array, source: string): readonly string[] {
  const { graph, problems } = importOnnxGraph(bytes, source);
  return problems.length > 0 ? problems : native().engineUnsupported(graph);
}

/**
 * A native call that did not settle within its limit. Its libuv thread is presumably stuck (the
 * engine cannot even be closed, and it may hold a core), so nothing measured after it would be
 * trustworthy: the section stops and reports where.
 */
export class EngineHang extends Error {}

/**
 * How long a native call may take before it counts as hung: generous, since scalar reference
 * kernels can be ~100× slower than ORT (the largest cell runs ~1 s in ORT).
 */
const hangLimitMs = (expectedMs: number): number => Math.max(30_000, 100 * expectedMs);

function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EngineHang(`${what} did not finish in ${(ms / 1e3).toFixed(0)} s (engine hung?)`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

export async function measureModel(model: BuiltModel, plan: MeasurePlan,
  progress: (m: string) => void = () => undefined): Promise<ModelMeasurement> {
  const { spec, precision } = model;
  const label = `${spec.key} ${precision}`;
  const cellBase = (threads: number, batch: number) => ({ model: spec.key, precision, threads, batch });
  const everyCell = (extra: Partial<CellResult>): CellResult[] =>
    plan.threads.flatMap((t) => plan.batches.map((b) => ({ ...cellBase(t, b), ...extra })));

  let refusal: readonly string[];
  try {
    refusal = engineRefusal(model.bytes, label);
  } catch (e) {
    return { cells: everyCell({ error: `engine import: ${message(e)}` }) };
  }
  if (refusal.length > 0) return { cells: everyCell({ unsupported: refusal }) };

  const cells: CellResult[] = [];
  let enginePlan: string | undefined;
  for (const threads of plan.threads) {
    let session: ort.InferenceSession | undefined;
    let engine: NativeEngine | undefined;
    try {
      session = await ort.InferenceSession.create(model.bytes, { intraOpNumThreads: threads, interOpNumThreads: 1,
        graphOptimizationLevel: 'all', executionMode: 'sequential', logSeverityLevel: 3 });
      engine = await native().loadEngine(importOnnxGraph(model.bytes, label).graph, { threads, optimize: true });
      if (typeof engine.time !== 'function') throw new Error('the loaded addon\'s engine has no time() (stale build?)');
      enginePlan ??= engine.describe();
    } catch (e) {
      cells.push(...plan.batches.map((b) => ({ ...cellBase(threads, b), error: `load: ${message(e)}` })));
      await session?.release();
      await engine?.close();
      continue;
    }
    let hung: string | undefined;
    for (const batch of plan.batches) {
      progress(`engine: ${label}, ${threads} thread(s), batch ${batch}`);
      try {
        cells.push({ ...cellBase(threads, batch), ...await measureCell(session, engine, model, batch, threads, plan) });
      } catch (e) {
        cells.push({ ...cellBase(threads, batch), error: message(e) });
        if (e instanceof EngineHang) {
          hung = `${label}, ${threads} thread(s), batch ${batch}: ${e.message}`;
          break;
        }
      }
    }
    await session.release();
    // A hung engine's close() would wait for the stuck run forever: leave it to process exit.
    if (hung !== undefined) return { cells, hung, ...(enginePlan === undefined ? {} : { plan: enginePlan }) };
    await engine.close();
  }
  return { cells, ...(enginePlan === undefined ? {} : { plan: enginePlan }) };
}

type Measured = Pick<CellResult, 'ort' | 'native' | 'ratio' | 'repeats' | 'maxAbsDiff' | 'refMaxAbs'>;

async function measureCell(session: ort.InferenceSession, engine: NativeEngine, model: BuiltModel, batch: number,
  threads: number, plan: MeasurePlan): Promise<Measured> {
  const { spec } = model;
  const shape = [batch, ...spec.rowShape];
  const data = spec.sample(batch, INPUT_SEED + batch);
  const feeds = { [spec.inputName]: new ort.Tensor('float32', data, shape) };
  const nativeInputs = [{ dtype: ONNX_FLOAT, shape, data }];
  if (engine.inputs.length !== 1 || engine.inputs[0]?.name !== spec.inputName) {
    throw new Error(`engine inputs [${engine.inputs.map((i) => i.name).join(', ')}], expected [${spec.inputName}]`);
  }

  // Warm-up, which is also the agreement check and the estimate of one run's time on each side.
  const t0 = performance.now();
  const reference = await session.run(feeds);
  const firstOrtMs = performance.now() - t0;
  const produced = await settleWithin(engine.run(nativeInputs), hangLimitMs(firstOrtMs), 'engine.run()');
  let maxAbsDiff = 0;
  let refMaxAbs = 0;
  engine.outputs.forEach((info, i) => {
    const ref = reference[info.name]?.data;
    const out = produced[i];
    if (!(ref instanceof Float32Array) || out === undefined) throw new Error(`output '${info.name}' missing or not FP32`);
    const got = new Float32Array(out.data.slice().buffer); // slice: the engine's bytes may be unaligned
    if (got.length !== ref.length) throw new Error(`output '${info.name}': ${got.length} elements from the engine, ${ref.length} from ORT`);
    for (let j = 0; j < ref.length; j++) {
      const r = ref[j] as number;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs((got[j] as number) - r));
      refMaxAbs = Math.max(refMaxAbs, Math.abs(r));
    }
  });
  let ortMs = await timeOrt(session, feeds, 0);
  // Iteration counts come from the wall clock around time(), not from what time() reports, so an
  // engine that misreports cannot make a repeat run for minutes.
  let nativeMs = await wallMs(() => settleWithin(engine.time(nativeInputs, 1), hangLimitMs(ortMs), 'engine.time(1)'));

  const settleMs = threads > 1 ? SETTLE_MS : 0;
  const perRepeat = Math.max(plan.repeatMs, ortMs) + Math.max(plan.repeatMs, nativeMs) + 2 * settleMs;
  const repeats = Math.max(1, Math.min(plan.repeats, Math.floor(plan.cellBudgetMs / perRepeat)));
  const ortRate: number[] = [];
  const nativeRate: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Alternate which side goes first, so neither always runs right after the other's spin-down.
    const sides = [
      async (): Promise<void> => { ortMs = await timeOrt(session, feeds, plan.repeatMs); ortRate.push((batch * 1e3) / ortMs); },
      async (): Promise<void> => {
        const iterations = Math.max(1, Math.min(MAX_ITERATIONS, Math.round(plan.repeatMs / nativeMs)));
        let ns = 0;
        const limitMs = hangLimitMs(iterations * nativeMs);
        nativeMs = (await wallMs(async () => {
          ns = await settleWithin(engine.time(nativeInputs, iterations), limitMs, `engine.time(${iterations})`);
        })) / iterations;
        if (!Number.isFinite(ns) || ns <= 0) throw new Error(`engine.time() reported ${ns} ns per run`);
        nativeRate.push((batch * 1e9) / ns);
      },
    ];
    if (r % 2 === 1) sides.reverse();
    for (const side of sides) {
      if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
      await side();
    }
  }
  const ortSpread = spread(ortRate);
  const nativeSpread = spread(nativeRate);
  return { ort: ortSpread, native: nativeSpread, ratio: nativeSpread.median / ortSpread.median, repeats, maxAbsDiff, refMaxAbs };
}

async function wallMs(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Mean ms per session.run over a loop of at least `ms` (at least one run). */
async function timeOrt(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, ms: number): Promise<number> {
  let runs = 0;
  const t0 = performance.now();
  let elapsed: number;
  do {
    await session.run(feeds);
    runs++;
    elapsed = performance.now() - t0;
  } while (elapsed < ms);
  return elapsed / runs;
}
