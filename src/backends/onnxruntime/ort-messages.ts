/**
 * The message protocol between an OrtSession (main thread) and its ort-worker threads. Only
 * control travels here (load, attach, stop): batches go from the native batcher to the worker and
 * back without touching the main thread.
 */
import type { DataType } from '../../runtime/datatypes';

/** Session options handed to `InferenceSession.create` in each worker. */
export interface OrtSessionOptions {
  readonly intraOpNumThreads: number;
  readonly interOpNumThreads: number;
  readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  /** Session config entries (onnxruntime_session_options_config_keys.h), nested by dots. */
  readonly extra: { readonly session: { readonly intra_op: { readonly allow_spinning: '0' | '1' } } };
}

/** A model input or output as the config declares it; batches carry them in this order. */
export interface OrtTensorSpec {
  readonly name: string;
  readonly datatype: DataType;
}

/** `workerData` of every ort-worker. */
export interface WorkerInit {
  /** For error messages only; the worker loads from `model`, never from the path. */
  readonly modelPath: string;
  /** The model file read once by the backend and shared (not copied) with every worker. */
  readonly model: SharedArrayBuffer;
  readonly options: OrtSessionOptions;
  /** Config inputs and outputs, in the order the batcher gathers and splits them. */
  readonly inputs: readonly OrtTensorSpec[];
  readonly outputs: readonly OrtTensorSpec[];
}

/**
 * Main → worker. `attach` once, after `ready`; `stop` at any time after that: the worker finishes
 * the batch it holds, then answers `stopped` and does nothing more.
 */
export type MainMessage =
  | { readonly kind: 'attach'; readonly batcherId: number }
  | { readonly kind: 'stop' };

/** Worker → main. */
export type WorkerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'load-failed'; readonly message: string }
  /** attachBatchSource threw (the batcher is gone); the worker stays idle until stopped. */
  | { readonly kind: 'attach-failed'; readonly message: string }
  /** The worker holds no batch and will take none: terminating it now is safe. */
  | { readonly kind: 'stopped' };
