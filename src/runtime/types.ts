import type { DataType } from './datatypes';
import type { SluiceError } from './status';
import type { Tensor, TensorSpec } from './tensor';

export type ModelState = 'UNKNOWN' | 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

export interface ModelIndexEntry {
  readonly name: string;
  /** "" when the model itself failed before any version was found. */
  readonly version: string;
  readonly state: ModelState;
  /** Why the model is not READY ("" when it is). */
  readonly reason: string;
}

export interface ModelMetadata {
  readonly name: string;
  /** READY versions, ascending. */
  readonly versions: readonly string[];
  readonly platform: string;
  /** Shapes include a leading -1 when the model batches. */
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface InferOptions {
  /** Version to run; "" / undefined = highest READY version. */
  readonly version?: string | undefined;
  /** Outputs to return, in this order; undefined/empty = every model output in model order. */
  readonly outputs?: readonly string[] | undefined;
  /** Echoed back in the result. */
  readonly id?: string | undefined;
  /** 0 = default level; lower number = higher priority. */
  readonly priority?: number | undefined;
  /**
   * Queue timeout in microseconds (0/undefined = the model's default). It applies when the
   * model's queue policy allows timeout override, or when the model has no dynamic_batching block.
   */
  readonly timeoutMicroseconds?: number | undefined;
  /**
   * Aborting rejects the request at once if it has not completed: with the abort reason when that
   * is a SluiceError (e.g. DEADLINE_EXCEEDED), else CANCELLED. A queued request is taken out of
   * the queue and never executed; an executing one runs on and its result is dropped.
   */
  readonly signal?: CancelSignal | undefined;
}

/**
 * What the runtime uses of an AbortSignal, which satisfies it. The gRPC server passes a lighter
 * object of its own (one per call): an AbortController and its EventTarget cost several µs per
 * request, on the thread that serves every request.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: CancelListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: CancelListener): void;
}

export interface CancelListener {
  handleEvent(): void;
}

export interface InferResult {
  readonly model: string;
  /** The version that actually ran. */
  readonly version: string;
  readonly id: string | undefined;
  /** Outputs in the requested order (or model order). */
  readonly outputs: ReadonlyMap<string, Tensor>;
}

/**
 * Receives one request's outcome from Runtime.submit: exactly one call. `onError` runs inside
 * submit() for a request refused before it was queued; otherwise either runs later.
 */
export interface InferSink {
  onResult(result: InferResult): void;
  onError(error: SluiceError): void;
}

export interface StatDuration { count: number; ns: number }

export interface ModelStats {
  readonly name: string;
  readonly version: string;
  /** ms since epoch; 0 = never. */
  readonly lastInference: number;
  /** Rows inferred. */
  readonly inferenceCount: number;
  /** Batches executed (successfully). */
  readonly executionCount: number;
  readonly success: StatDuration;
  readonly fail: StatDuration;
  readonly queue: StatDuration;
  readonly computeInput: StatDuration;
  readonly computeInfer: StatDuration;
  readonly computeOutput: StatDuration;
  readonly batchStats: readonly {
    readonly batchSize: number;
    readonly computeInput: StatDuration;
    readonly computeInfer: StatDuration;
    readonly computeOutput: StatDuration;
  }[];
}

/** The label values of one model version in metrics; one shared object per version. */
export interface VersionLabels {
  readonly model: string;
  readonly version: string;
}

/** A request that succeeded (nanoseconds). */
export interface RequestEvent {
  readonly labels: VersionLabels;
  /** From the runtime accepting the request to its outputs being ready. */
  readonly durationNs: number;
  /** From enqueue to an executor taking its batch. */
  readonly queueNs: number;
}

/** A batch that an executor ran to completion, with the timings it reported (nanoseconds). */
export interface BatchEvent {
  readonly labels: VersionLabels;
  readonly rows: number;
  readonly computeInputNs: number;
  readonly computeInferNs: number;
  readonly computeOutputNs: number;
}

/**
 * Told of every successful request and every executed batch (the server's histograms). Counts
 * and failures are not pushed: they are read from Runtime.statistics() and failureCounts(), so
 * /metrics and ModelStatistics answer from the same numbers. Called on the runtime's thread; must
 * not throw.
 */
export interface InferObserver {
  onRequest(event: RequestEvent): void;
  onBatch(event: BatchEvent): void;
}

export type { DataType, Tensor, TensorSpec };
