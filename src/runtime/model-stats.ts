import type { NativeBatcherCounters } from '../native/binding';
import type { ErrorCode } from './status';
import type { ModelStats, StatDuration } from './types';

/**
 * What only the JS side of a model version sees: how each request ended for its caller, and how
 * long it took end to end. Everything about queueing and execution is counted natively.
 */
export class RequestStats {
  lastInference = 0;
  readonly success: StatDuration = { count: 0, ns: 0 };
  readonly fail: StatDuration = { count: 0, ns: 0 };
  /** Failures by error code, for nv_inference_request_failure{reason}. */
  readonly failures = new Map<ErrorCode, number>();

  recordSuccess(durationNs: number): void {
    this.lastInference = Date.now();
    this.success.count += 1;
    this.success.ns += durationNs;
  }

  recordFailure(code: ErrorCode, durationNs: number): void {
    this.lastInference = Date.now();
    this.fail.count += 1;
    this.fail.ns += durationNs;
    this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
  }
}

const copy = (d: StatDuration): StatDuration => ({ count: d.count, ns: d.ns });

/**
 * ModelStatistics of one version: request outcomes from `requests`, the rest from the batcher's
 * counters (undefined when the version never had a batcher: all zero). Queue and compute sums
 * count successful requests, and batch_stats count batches, as Triton reports them.
 */
export function modelStats(name: string, version: string, requests: RequestStats,
  counters: NativeBatcherCounters | undefined): ModelStats {
  const n = counters?.requestsSucceeded ?? 0;
  return {
    name,
    version,
    lastInference: requests.lastInference,
    inferenceCount: counters?.inferenceCount ?? 0,
    executionCount: counters?.executionCount ?? 0,
    success: copy(requests.success),
    fail: copy(requests.fail),
    queue: { count: n, ns: counters?.queueNs ?? 0 },
    computeInput: { count: n, ns: counters?.computeInputNs ?? 0 },
    computeInfer: { count: n, ns: counters?.computeInferNs ?? 0 },
    computeOutput: { count: n, ns: counters?.computeOutputNs ?? 0 },
    batchStats: [...(counters?.batchStats ?? [])].sort((a, b) => a.batchSize - b.batchSize).map((b) => ({
      batchSize: b.batchSize,
      computeInput: { count: b.count, ns: b.computeInputNs },
      computeInfer: { count: b.count, ns: b.computeInferNs },
      computeOutput: { count: b.count, ns: b.computeOutputNs },
    })),
  };
}
