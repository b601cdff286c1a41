import type { ExecutionTimings } from '../backends/backend';
import type { ModelStats, StatDuration } from './types';

interface BatchBucket { computeInput: StatDuration; computeInfer: StatDuration; computeOutput: StatDuration }

const zero = (): StatDuration => ({ count: 0, ns: 0 });
const add = (d: StatDuration, ns: number): void => { d.count += 1; d.ns += ns; };
const copy = (d: StatDuration): StatDuration => ({ count: d.count, ns: d.ns });

/** Cumulative statistics of one model version, in ModelStatistics' terms (nanoseconds). */
export class ModelStatsAccumulator {
  private lastInference = 0;
  private inferenceCount = 0;
  private executionCount = 0;
  private readonly success = zero();
  private readonly fail = zero();
  private readonly queue = zero();
  private readonly computeInput = zero();
  private readonly computeInfer = zero();
  private readonly computeOutput = zero();
  private readonly batches = new Map<number, BatchBucket>();

  constructor(private readonly name: string, private readonly version: string) {}

  /** A request that ran: `rows` rows in one execution of batch size `rows`. */
  recordSuccess(rows: number, durationNs: number, queueNs: number, t: ExecutionTimings): void {
    this.lastInference = Date.now();
    this.inferenceCount += rows;
    this.executionCount += 1;
    add(this.success, durationNs);
    add(this.queue, queueNs);
    add(this.computeInput, t.computeInputNs);
    add(this.computeInfer, t.computeInferNs);
    add(this.computeOutput, t.computeOutputNs);
    let b = this.batches.get(rows);
    if (b === undefined) {
      b = { computeInput: zero(), computeInfer: zero(), computeOutput: zero() };
      this.batches.set(rows, b);
    }
    add(b.computeInput, t.computeInputNs);
    add(b.computeInfer, t.computeInferNs);
    add(b.computeOutput, t.computeOutputNs);
  }

  recordFailure(durationNs: number): void {
    this.lastInference = Date.now();
    add(this.fail, durationNs);
  }

  snapshot(): ModelStats {
    return {
      name: this.name,
      version: this.version,
      lastInference: this.lastInference,
      inferenceCount: this.inferenceCount,
      executionCount: this.executionCount,
      success: copy(this.success),
      fail: copy(this.fail),
      queue: copy(this.queue),
      computeInput: copy(this.computeInput),
      computeInfer: copy(this.computeInfer),
      computeOutput: copy(this.computeOutput),
      batchStats: [...this.batches.entries()].sort((a, b) => a[0] - b[0]).map(([batchSize, b]) => ({
        batchSize,
        computeInput: copy(b.computeInput),
        computeInfer: copy(b.computeInfer),
        computeOutput: copy(b.computeOutput),
      })),
    };
  }
}
