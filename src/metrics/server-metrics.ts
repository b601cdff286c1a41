import { Counter, Histogram, Registry } from 'prom-client';
import type { InferObserver } from '../runtime/types';

type ModelLabels = 'model' | 'version';

/** Request-duration buckets in seconds: 50 µs … 30 s, fine enough to read p99 at sub-ms scale. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003,
  0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1,
  1.5, 2, 3, 5, 10, 30,
];

/**
 * Every inference metric, defined once, in a registry the server owns (not prom-client's global
 * one). Counter names are Triton's, so existing dashboards work; durations are microseconds as in
 * Triton. The histogram is Sluice's own: real buckets aggregate across replicas, summaries don't.
 */
export class ServerMetrics implements InferObserver {
  readonly registry = new Registry();
  private readonly success: Counter<ModelLabels>;
  private readonly failure: Counter<ModelLabels | 'reason'>;
  private readonly inferenceCount: Counter<ModelLabels>;
  private readonly execCount: Counter<ModelLabels>;
  private readonly requestUs: Counter<ModelLabels>;
  private readonly queueUs: Counter<ModelLabels>;
  private readonly computeInputUs: Counter<ModelLabels>;
  private readonly computeInferUs: Counter<ModelLabels>;
  private readonly computeOutputUs: Counter<ModelLabels>;
  private readonly requestSeconds: Histogram<ModelLabels>;

  constructor() {
    const registers = [this.registry];
    const labelNames = ['model', 'version'] as const;
    const counter = (name: string, help: string): Counter<ModelLabels> =>
      new Counter({ name, help, labelNames, registers });
    this.success = counter('nv_inference_request_success', 'Number of successful inference requests');
    this.failure = new Counter({ name: 'nv_inference_request_failure', help: 'Number of failed inference requests',
      labelNames: ['model', 'version', 'reason'] as const, registers });
    this.inferenceCount = counter('nv_inference_count', 'Number of inferences performed (rows)');
    this.execCount = counter('nv_inference_exec_count', 'Number of model executions performed (batches)');
    this.requestUs = counter('nv_inference_request_duration_us', 'Cumulative request duration in microseconds');
    this.queueUs = counter('nv_inference_queue_duration_us', 'Cumulative time requests spent queued, microseconds');
    this.computeInputUs = counter('nv_inference_compute_input_duration_us',
      'Cumulative compute input duration in microseconds');
    this.computeInferUs = counter('nv_inference_compute_infer_duration_us',
      'Cumulative compute inference duration in microseconds');
    this.computeOutputUs = counter('nv_inference_compute_output_duration_us',
      'Cumulative compute output duration in microseconds');
    this.requestSeconds = new Histogram({ name: 'sluice_request_duration_seconds',
      help: 'End-to-end inference request duration inside the server, seconds',
      labelNames, buckets: [...LATENCY_BUCKETS_SECONDS], registers });
  }

  onComplete(e: Parameters<InferObserver['onComplete']>[0]): void {
    const labels = { model: e.model, version: e.version };
    if (!e.ok) {
      this.failure.inc({ ...labels, reason: e.reason });
      return;
    }
    this.success.inc(labels);
    this.inferenceCount.inc(labels, e.rows);
    this.execCount.inc(labels);
    this.requestUs.inc(labels, e.durationNs / 1e3);
    this.queueUs.inc(labels, e.queueNs / 1e3);
    this.computeInputUs.inc(labels, e.computeInputNs / 1e3);
    this.computeInferUs.inc(labels, e.computeInferNs / 1e3);
    this.computeOutputUs.inc(labels, e.computeOutputNs / 1e3);
    this.requestSeconds.observe(labels, e.durationNs / 1e9);
  }
}
