import { Counter, Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../runtime/runtime';
import type { ModelStats } from '../runtime/types';

type ModelLabels = 'model' | 'version';
const labelNames = ['model', 'version'] as const;

/**
 * `read` called at most once per scrape. prom-client runs every collect() of a scrape in one
 * synchronous pass, so the microtask that drops the value runs after the last of them: the
 * metrics of one scrape share one snapshot and agree with each other.
 */
function oncePerScrape<T>(read: () => T): () => T {
  let value: T | undefined;
  return () => {
    if (value === undefined) {
      value = read();
      queueMicrotask(() => { value = undefined; });
    }
    return value;
  };
}

/**
 * Metrics read from the runtime at scrape time: Triton's counters (names as in KSERVE_V2.md, so
 * existing dashboards work; durations in microseconds, as Triton's) from the same statistics that
 * answer ModelStatistics, and queue gauges from the batchers' native counters. Nothing is counted
 * twice, so /metrics and ModelStatistics cannot disagree; only versions the repository knows are
 * labelled, never names a client sent.
 */
export function registerRuntimeMetrics(registry: Registry, runtime: Runtime): void {
  const registers = [registry];
  const stats = oncePerScrape(() => runtime.statistics());
  const load = oncePerScrape(() => runtime.pendingRequests());

  /** A counter mirroring a cumulative statistic (reset and re-set on every scrape). */
  const counter = (name: string, help: string, read: (s: ModelStats) => number): void => {
    new Counter({ name, help, labelNames, registers,
      collect() {
        this.reset();
        for (const s of stats()) this.inc({ model: s.name, version: s.version }, read(s));
      } });
  };
  const us = (ns: number): number => ns / 1e3;
  counter('nv_inference_request_success', 'Number of successful inference requests', (s) => s.success.count);
  counter('nv_inference_count', 'Number of inferences performed (rows)', (s) => s.inferenceCount);
  counter('nv_inference_exec_count', 'Number of model executions performed (batches)', (s) => s.executionCount);
  counter('nv_inference_request_duration_us', 'Cumulative duration of successful requests, microseconds',
    (s) => us(s.success.ns));
  counter('nv_inference_queue_duration_us', 'Cumulative time requests spent queued, microseconds',
    (s) => us(s.queue.ns));
  counter('nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds',
    (s) => us(s.computeInput.ns));
  counter('nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds',
    (s) => us(s.computeInfer.ns));
  counter('nv_inference_compute_output_duration_us', 'Cumulative compute output duration in microseconds',
    (s) => us(s.computeOutput.ns));
  new Counter({ name: 'nv_inference_request_failure', help: 'Number of failed inference requests, by error code',
    labelNames: ['model', 'version', 'reason'] as const, registers,
    collect() {
      this.reset();
      for (const f of runtime.failureCounts()) this.inc({ model: f.model, version: f.version, reason: f.reason }, f.count);
    } });

  const gauge = (name: string, help: string, read: (p: { queued: number; executing: number }) => number): void => {
    new Gauge<ModelLabels>({ name, help, labelNames, registers,
      collect() {
        for (const p of load()) this.set({ model: p.model, version: p.version }, read(p));
      } });
  };
  gauge('nv_inference_pending_request_count', 'Requests queued or executing, per model version',
    (p) => p.queued + p.executing);
  gauge('sluice_queue_depth', 'Requests waiting in the batcher queue', (p) => p.queued);
  gauge('sluice_inflight_requests', 'Requests in batches being executed', (p) => p.executing);
}

/** A gauge set from `read()` at scrape time. */
function scrapedGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

/** A counter whose total is `read()` at scrape time (a count kept elsewhere, never decreasing). */
function scrapedCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
}

/** The front door's bound on inference requests (CallLimit), read at scrape time. */
export function registerCallLimitMetrics(registry: Registry, limit: { readonly inProgress: number; readonly refused: number }): void {
  scrapedGauge(registry, 'sluice_infer_requests_in_progress',
    'Inference requests the gRPC and HTTP servers have admitted and not yet answered', () => limit.inProgress);
  scrapedCounter(registry, 'sluice_infer_requests_refused_busy',
    'Inference requests refused UNAVAILABLE (HTTP 503) before their body was read: --max-infer-requests were in progress',
    () => limit.refused);
}

/** The servers' bounds on connections and on request bytes arriving (admission.ts), read at scrape time. */
export function registerAdmissionMetrics(registry: Registry,
  connections: { readonly open: number; readonly refused: number },
  buffers: { readonly held: number; readonly refused: number }): void {
  scrapedGauge(registry, 'sluice_connections_open', 'Open gRPC and HTTP connections', () => connections.open);
  scrapedCounter(registry, 'sluice_connections_refused', 'Connections closed on arrival: --max-connections were open',
    () => connections.refused);
  scrapedGauge(registry, 'sluice_request_buffer_bytes',
    'Request bytes held while their messages or bodies arrive, gRPC and HTTP together', () => buffers.held);
  scrapedCounter(registry, 'sluice_requests_refused_buffers',
    'Requests refused (gRPC stream reset ENHANCE_YOUR_CALM, HTTP 503) because the server-wide request buffer bound was full',
    () => buffers.refused);
}
