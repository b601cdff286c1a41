import type { ModelConfig } from '../repository/model-config';
import type { Tensor } from '../runtime/tensor';

/** Timings of one execution, nanoseconds (hrtime), as ModelStatistics reports them. */
export interface ExecutionTimings {
  readonly computeInputNs: number;
  readonly computeInferNs: number;
  readonly computeOutputNs: number;
}

export interface ExecutionResult {
  /** Every output the caller asked for, by name. */
  readonly outputs: ReadonlyMap<string, Tensor>;
  readonly timings: ExecutionTimings;
}

/**
 * One loaded model version on one backend. `run` never blocks the event loop; it may be called
 * concurrently (the session queues internally). Inputs are already validated against the config.
 */
export interface BackendSession {
  readonly backend: string;
  run(inputs: ReadonlyMap<string, Tensor>, outputNames: readonly string[]): Promise<ExecutionResult>;
  /** Resolves once in-flight runs have finished and resources are freed. */
  close(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  load(modelFile: string, config: ModelConfig): Promise<BackendSession>;
}
