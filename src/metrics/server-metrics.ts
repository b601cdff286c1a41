import { Histogram, Registry } from 'prom-client';
import type { BatchEvent, InferObserver, RequestEvent, VersionLabels } from '../runtime/types';

type ModelLabels = 'model' | 'version';
type Child = ReturnType<Histogram<ModelLabels>['labels']>;

/** One version's histogram children, so a request does not hash its labels five times. */
interface VersionChildren {
  readonly request: Child;
  readonly queue: Child;
  readonly computeInput: Child;
  readonly computeInfer: Child;
  readonly computeOutput: Child;
  readonly batchSize: Child;
}

/**
 * Duration buckets in seconds: 10 µs … 30 s, ten per decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8),
 * so a quantile read by interpolation inside one bucket is off by at most a quarter of its value,
 * from the floors of a single request (tens of µs) to a stalled queue.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = (() => {
  const steps = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8];
  const out: number[] = [];
  for (let exp = -5; exp <= 1; exp++) {
    // Rounded so the `le` labels print as 0.0000125, not 0.000012500000000000001.
    for (const s of steps) {
      const le = Number((s * 10 ** exp).toPrecision(3));
      if (le <= 30) out.push(le);  // the last decade stops at 30 s
    }
  }
  return out;
})();

/**
 * Batch-size buckets in rows: powers of two up to 2^16. Buckets are shared by every model, so
 * they cover the largest batch any config allows in practice; `le` above a model's
 * max_batch_size simply repeats its count.
 */
export const BATCH_SIZE_BUCKETS: readonly number[] = Array.from({ length: 17 }, (_, i) => 2 ** i);

/**
 * Sluice's histograms per model and version, in a registry the server owns (not prom-client's
 * global one). Real buckets aggregate across replicas, which Triton's opt-in summaries do not.
 * Per request: request and queue durations (successful requests, as Triton's durations are).
 * Per executed batch: its compute durations and its size, so the batch-size histogram's count and
 * sum equal nv_inference_exec_count and nv_inference_count. Counters and gauges are read from the
 * runtime at scrape time (runtime-metrics.ts).
 */
export class ServerMetrics implements InferObserver {
  readonly registry = new Registry();
  readonly #request: Histogram<ModelLabels>;
  readonly #queue: Histogram<ModelLabels>;
  readonly #computeInput: Histogram<ModelLabels>;
  readonly #computeInfer: Histogram<ModelLabels>;
  readonly #computeOutput: Histogram<ModelLabels>;
  readonly #batchSize: Histogram<ModelLabels>;
  /** Keyed by the version's labels object, which its scheduler creates once (frozen). */
  readonly #children = new WeakMap<VersionLabels, VersionChildren>();

  constructor() {
    const registers = [this.registry];
    const labelNames = ['model', 'version'] as const;
    const seconds = (name: string, help: string): Histogram<ModelLabels> =>
      new Histogram({ name, help, labelNames, buckets: [...LATENCY_BUCKETS_SECONDS], registers });
    this.#request = seconds('sluice_request_duration_seconds',
      'Duration of successful inference requests inside the server, seconds');
    this.#queue = seconds('sluice_queue_duration_seconds',
      'Time successful requests waited in the batcher queue, seconds');
    this.#computeInput = seconds('sluice_compute_input_duration_seconds',
      'Per executed batch: gathering and preparing inputs, seconds');
    this.#computeInfer = seconds('sluice_compute_infer_duration_seconds',
      'Per executed batch: running the model, seconds');
    this.#computeOutput = seconds('sluice_compute_output_duration_seconds',
      'Per executed batch: handing outputs back, seconds');
    this.#batchSize = new Histogram({ name: 'sluice_batch_size', help: 'Rows per executed batch',
      labelNames, buckets: [...BATCH_SIZE_BUCKETS], registers });
  }

  onRequest(e: RequestEvent): void {
    const c = this.#childrenOf(e.labels);
    c.request.observe(e.durationNs / 1e9);
    c.queue.observe(e.queueNs / 1e9);
  }

  onBatch(e: BatchEvent): void {
    const c = this.#childrenOf(e.labels);
    c.computeInput.observe(e.computeInputNs / 1e9);
    c.computeInfer.observe(e.computeInferNs / 1e9);
    c.computeOutput.observe(e.computeOutputNs / 1e9);
    c.batchSize.observe(e.rows);
  }

  #childrenOf(labels: VersionLabels): VersionChildren {
    let c = this.#children.get(labels);
    if (c === undefined) {
      const l = { model: labels.model, version: labels.version };
      c = {
        request: this.#request.labels(l), queue: this.#queue.labels(l), computeInput: this.#computeInput.labels(l),
        computeInfer: this.#computeInfer.labels(l), computeOutput: this.#computeOutput.labels(l),
        batchSize: this.#batchSize.labels(l),
      };
      this.#children.set(labels, c);
    }
    return c;
  }
}
