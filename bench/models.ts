/**
 * The bench's models and repositories. Each model is served three ways: Sluice with dynamic
 * batching, Sluice without it (everything else equal, so the difference is batching alone), and
 * the plain baseline server (bench/baseline-server.ts), which loads the same model.onnx.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildModel, type NodeSpec, type TensorSpec } from '../src/onnx/writer';
import { writeModelRepository } from '../test/helpers/model-factory';
import { seededRng } from './rng';

export type ModelKey = 'mlp' | 'digits';
export const MODEL_KEYS: readonly ModelKey[] = ['mlp', 'digits'];

/** What the load generator needs to build a request and what the repositories need to serve it. */
export interface BenchModel {
  readonly key: ModelKey;
  /** Model name in every repository (and in requests). */
  readonly name: string;
  readonly input: { readonly name: string; readonly features: number };
  readonly outputs: readonly string[];
  readonly description: string;
}

export const MLP_LAYERS = [512, 2048, 2048, 512] as const;

export const BENCH_MODELS: Readonly<Record<ModelKey, BenchModel>> = {
  mlp: { key: 'mlp', name: 'mlp', input: { name: 'x', features: 512 }, outputs: ['y'],
    description: `compute-heavy MLP ${MLP_LAYERS.join('→')} (Gemm+Relu, FP32, ~12.6 MFLOP/row, 25 MB of weights)` },
  digits: { key: 'digits', name: 'digits', input: { name: 'pixels', features: 64 }, outputs: ['probabilities', 'label'],
    description: 'example model examples/models/digits v2 (MLP 64→64→10, ~9 kFLOP/row)' },
};

/**
 * FP32 "x" [batch, 512] → Gemm → Relu → Gemm → Relu → Gemm → "y" [batch, 512]. Weights are
 * uniform in ±sqrt(6/fan_in) (He-uniform) from a fixed seed, so activations neither vanish nor
 * blow up through the layers and every run builds byte-identical bytes.
 */
export function mlpModel(seed = 1): Uint8Array {
  const rand = seededRng(seed);
  const initializers: TensorSpec[] = [];
  const nodes: NodeSpec[] = [];
  let prev = 'x';
  for (let i = 0; i + 1 < MLP_LAYERS.length; i++) {
    const fanIn = MLP_LAYERS[i] as number;
    const fanOut = MLP_LAYERS[i + 1] as number;
    const bound = Math.sqrt(6 / fanIn);
    const w = new Float32Array(fanIn * fanOut);
    for (let j = 0; j < w.length; j++) w[j] = (rand() * 2 - 1) * bound;
    initializers.push({ name: `W${i}`, datatype: 'FP32', dims: [fanIn, fanOut], data: w });
    initializers.push({ name: `B${i}`, datatype: 'FP32', dims: [fanOut], data: new Float32Array(fanOut).fill(0.01) });
    const last = i + 2 === MLP_LAYERS.length;
    const gemm = last ? 'y' : `gemm${i}`;
    nodes.push({ opType: 'Gemm', name: `dense${i}`, inputs: [prev, `W${i}`, `B${i}`], outputs: [gemm] });
    if (!last) nodes.push({ opType: 'Relu', inputs: [gemm], outputs: [`relu${i}`] });
    prev = `relu${i}`;
  }
  return buildModel({
    inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', 512] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', 512] }],
    initializers,
    nodes,
  });
}

/**
 * Batching knobs per model, from ONNX Runtime's rows/s against batch size with one intra-op
 * thread on this 2-core machine (mlp: 1,500 rows/s at batch 1, 5,200 at 8, 7,300 at 32, 7,800 at
 * 128, 7,950 at 256; a single row is memory-bound, reading all 25 MB of weights):
 * - mlp: batch 32 already gives ~90 % of the plateau, and past 128 the gain is under 2 % while a
 *   batch's compute time doubles, so max 128 with preferred sizes at 32/64/128.
 * - digits: a row costs microseconds; what batching shares is each execution's fixed cost (the
 *   hop to the worker thread and back), which any batch of ~16 amortizes. max 64 as in
 *   examples/models/digits.
 * Queue delay: with one worker, batches form by themselves under load while it computes; the
 *   window only matters when the worker is idle, where it delays every request. 100 µs (mlp) and
 *   50 µs (digits) are about a gRPC exchange's server CPU: enough to catch requests that arrived
 *   in the same socket read, small beside each model's service time.
 * max_queue_size bounds what waits (512 requests ≈ 4 full mlp batches, ~70 ms of work): beyond
 * it requests are refused at once with UNAVAILABLE instead of waiting seconds, which is what the
 * overload level checks. Triton keeps the queue policy inside dynamic_batching, so the unbatched
 * configuration has no bound, as in Triton.
 */
const BATCHING: Readonly<Record<ModelKey, { maxBatch: number; delayUs: number; preferred: readonly number[];
  maxQueue: number; threads: number }>> = {
  mlp: { maxBatch: 128, delayUs: 100, preferred: [32, 64, 128], maxQueue: 512, threads: 2 },
  digits: { maxBatch: 64, delayUs: 50, preferred: [16, 32, 64], maxQueue: 512, threads: 1 },
};

/**
 * One executor per Sluice configuration, with `threads` kernel threads (intra_op_thread_count).
 * - mlp: 2. Measured in two `--sections serve --models mlp` runs each (same machine, back to
 *   back) against 1: saturation 8,093 and 8,220 vs 7,084 and 7,269 req/s, concurrency 1 845 and
 *   889 vs 502 and 632 req/s, accepted at 2x overload 8,360 and 8,994 vs 7,602 and 7,794 req/s,
 *   refusal p99 17.8 and 16.7 vs 16.9 and 24.2 ms. With 1 thread a batch of this MLP runs at about
 *   one core's peak, and the event loop (~35 % of a core at saturation since the gRPC path was
 *   rewritten) and the load client leave room for part of a second. (One thread was chosen when
 *   the gRPC path cost 2-3 times as much and capped saturation at 3.5k req/s.)
 * - digits: 1. A row costs microseconds; a second thread only adds hand-offs.
 */
function configText(model: BenchModel, batching: boolean): string {
  const b = BATCHING[model.key];
  const lines = [
    `name: "${model.name}"`,
    `max_batch_size: ${b.maxBatch}`,
    'instance_group [{ count: 1 kind: KIND_CPU }]',
    `parameters { key: "intra_op_thread_count" value: { string_value: "${b.threads}" } }`,
  ];
  if (batching) {
    lines.push(`dynamic_batching {`,
      `  max_queue_delay_microseconds: ${b.delayUs}`,
      `  preferred_batch_size: [ ${b.preferred.join(', ')} ]`,
      `  default_queue_policy { max_queue_size: ${b.maxQueue} }`,
      `}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface BenchRepositories {
  /** Sluice repository with dynamic batching. */
  readonly batching: string;
  /** Sluice repository without dynamic_batching. */
  readonly noBatching: string;
  /** The model.onnx the baseline server loads. */
  readonly modelFile: string;
}

/** Package root; this file runs from dist/bench/. */
const ROOT = path.resolve(__dirname, '..', '..');

/** Writes the model and its two Sluice repositories under `dir` (created, overwritten). */
export function writeBenchRepositories(dir: string, model: BenchModel): BenchRepositories {
  const bytes = model.key === 'mlp'
    ? mlpModel()
    : new Uint8Array(fs.readFileSync(path.join(ROOT, 'examples', 'models', 'digits', '2', 'model.onnx')));
  const repos = { batching: path.join(dir, 'batching'), noBatching: path.join(dir, 'no-batching') };
  for (const [which, root] of Object.entries(repos)) {
    fs.rmSync(root, { recursive: true, force: true });
    writeModelRepository(root, [{ name: model.name, versions: { '1': bytes },
      config: { file: 'config.pbtxt', text: configText(model, which === 'batching') } }]);
  }
  return { ...repos, modelFile: path.join(repos.batching, model.name, '1', 'model.onnx') };
}

/** The batching configuration's max_batch_size, rows. */
export function maxBatchSize(key: ModelKey): number {
  return BATCHING[key].maxBatch;
}

/** The batching configuration's max_queue_size, requests. */
export function maxQueueSize(key: ModelKey): number {
  return BATCHING[key].maxQueue;
}

/**
 * `--max-infer-requests` for the batching configuration: what the model can hold at once (a full
 * queue and a batch executing). Beyond it the server refuses a request as soon as its headers
 * arrive, before its body is read, instead of when the batcher finds its queue full.
 */
export function maxInferRequests(key: ModelKey): number {
  return BATCHING[key].maxQueue + BATCHING[key].maxBatch;
}
