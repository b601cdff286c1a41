/**
 * The message protocol between an OrtSession (main thread) and its ort-worker threads.
 *
 * Ownership: every ArrayBuffer inside a message is in the postMessage transfer list, so it
 * belongs to the receiver once posted; the sender never touches it again.
 */
import type { ExecutionTimings } from '../backend';
import type { DataType } from '../../runtime/datatypes';

/** A non-BYTES tensor: `data` holds exactly product(shape) elements, little-endian, no padding. */
export interface NumericWireTensor {
  readonly name: string;
  readonly datatype: Exclude<DataType, 'BYTES'>;
  readonly shape: readonly number[];
  readonly data: ArrayBuffer;
}

/**
 * A BYTES tensor packed into two buffers, so it crosses threads without one clone per element:
 * `data` is every element's bytes back to back, `ends` a Uint32Array of each element's end offset
 * (so the packed size is capped at 4 GiB, far above any request Sluice accepts).
 */
export interface BytesWireTensor {
  readonly name: string;
  readonly datatype: 'BYTES';
  readonly shape: readonly number[];
  readonly data: ArrayBuffer;
  readonly ends: ArrayBuffer;
}

export type WireTensor = NumericWireTensor | BytesWireTensor;

/** Session options handed to `InferenceSession.create` in each worker. */
export interface OrtSessionOptions {
  readonly intraOpNumThreads: number;
  readonly interOpNumThreads: number;
  readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}

/** `workerData` of every ort-worker. */
export interface WorkerInit {
  /** For error messages only; the worker loads from `model`, never from the path. */
  readonly modelPath: string;
  /** The model file read once by the backend and shared (not copied) with every worker. */
  readonly model: SharedArrayBuffer;
  readonly options: OrtSessionOptions;
}

/** Main → worker. A worker is sent one run at a time and answers it before it gets the next. */
export interface RunRequest {
  readonly kind: 'run';
  readonly id: number;
  readonly inputs: readonly WireTensor[];
  /** Empty = every output of the model (KServe's default when a request names none). */
  readonly outputNames: readonly string[];
}

/** The codes a worker may report for a failed run. */
export type RunFailureCode = 'INVALID_ARGUMENT' | 'INTERNAL';

/** Worker → main. */
export type WorkerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'load-failed'; readonly message: string }
  | {
      readonly kind: 'result';
      readonly id: number;
      readonly outputs: readonly WireTensor[];
      readonly timings: ExecutionTimings;
    }
  | { readonly kind: 'run-failed'; readonly id: number; readonly code: RunFailureCode; readonly message: string };
