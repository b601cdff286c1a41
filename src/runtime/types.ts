import type { DataType } from './datatypes';
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
  /** Queue timeout in microseconds (0/undefined = the model's default). */
  readonly timeoutMicroseconds?: number | undefined;
  /** Aborting rejects the request with CANCELLED if it has not completed. */
  readonly signal?: AbortSignal | undefined;
}

export interface InferResult {
  readonly model: string;
  /** The version that actually ran. */
  readonly version: string;
  readonly id: string | undefined;
  /** Outputs in the requested order (or model order). */
  readonly outputs: ReadonlyMap<string, Tensor>;
}

export interface StatDuration { count: number; ns: number }

export interface ModelStats {
  readonly name: string;
  readonly version: string;
  /** ms since epoch; 0 = never. */
  readonly lastInference: number;
  /** Rows inferred. */
  readonly inferenceCount: number;
  /** Backend executions. */
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

/** Called once per finished request (success or failure); used by the server's metrics. */
export interface InferObserver {
  onComplete(event: {
    readonly model: string;
    /** "" when the request failed before a version was chosen. */
    readonly version: string;
    readonly ok: boolean;
    /** Error code name on failure ("" on success). */
    readonly reason: string;
    readonly rows: number;
    readonly durationNs: number;
    readonly queueNs: number;
    readonly computeInputNs: number;
    readonly computeInferNs: number;
    readonly computeOutputNs: number;
  }): void;
}

export type { DataType, Tensor, TensorSpec };
