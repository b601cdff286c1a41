import type { ModelConfig } from '../repository/model-config';
import type { SluiceError } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';

/**
 * The executor side of a model version. A backend loads a model into a session; the session then
 * serves one native batcher (src/native/binding.ts): its executors (ONNX Runtime worker threads,
 * or the native engine's threads) pull formed batches from the batcher with a batch source and
 * hand results back to it directly, so no batch travels through the JS main thread. The batcher,
 * not the session, owns the queue, the batch policy and the requests' promises.
 *
 * Life cycle: `load()` → `checkInputs()` / `attach()` → `close()`. A session executes nothing
 * until it is attached, and is attached to exactly one batcher, once.
 */
export interface BackendSession {
  readonly backend: string;
  /** Why this backend runs the version, when it was chosen (config `backend: auto`). */
  readonly reason?: string;
  /**
   * Refuses (throws INVALID_ARGUMENT) a request whose values this backend cannot carry, before it
   * is queued, so that one bad request never fails the batch it would have joined. Inputs are
   * already validated against the config. Runs on the main thread for every request: cheap, and a
   * no-op for backends that carry every value.
   */
  checkInputs(inputs: ReadonlyMap<string, Tensor>): void;
  /**
   * Starts executing batches of batcher `batcherId`, whose config was made from the same
   * ModelConfig (so batch inputs and outputs are in config order). `onLost` runs at most once, if
   * the session can no longer execute anything (every executor died and none could be replaced):
   * the owner must then close the batcher, which fails what is queued instead of holding it.
   */
  attach(batcherId: number, onLost: (reason: SluiceError) => void): void;
  /**
   * Stops pulling: every executor finishes the batch it holds, then exits. Resolves once all have
   * exited and resources are freed. Close the batcher first so that nothing is left queued.
   * Idempotent.
   */
  close(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** Loads one model version; rejects (INVALID_ARGUMENT, NOT_FOUND, ...) if it cannot serve it. */
  load(modelFile: string, config: ModelConfig): Promise<BackendSession>;
}
