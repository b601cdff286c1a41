import type { DataType } from '../runtime/datatypes';

/**
 * A model's configuration, in Triton's model_config terms (the subset Sluice uses).
 * `dims` exclude the batch dim when maxBatchSize > 0, as in Triton.
 */
export interface ModelTensorConfig {
  readonly name: string;
  readonly dataType: DataType;
  readonly dims: readonly number[];
}

export type VersionPolicy =
  | { readonly kind: 'latest'; readonly numVersions: number }
  | { readonly kind: 'all' }
  | { readonly kind: 'specific'; readonly versions: readonly number[] };

export type TimeoutAction = 'REJECT' | 'DELAY';

export interface QueuePolicy {
  readonly timeoutAction: TimeoutAction;
  /** 0 = no timeout. */
  readonly defaultTimeoutMicroseconds: number;
  readonly allowTimeoutOverride: boolean;
  /** 0 = unbounded. */
  readonly maxQueueSize: number;
}

export interface DynamicBatchingConfig {
  readonly preferredBatchSize: readonly number[];
  readonly maxQueueDelayMicroseconds: number;
  readonly preserveOrdering: boolean;
  /** 0 = a single level. */
  readonly priorityLevels: number;
  readonly defaultPriorityLevel: number;
  readonly defaultQueuePolicy: QueuePolicy;
  readonly priorityQueuePolicy: ReadonlyMap<number, QueuePolicy>;
}

export type InstanceKind = 'KIND_AUTO' | 'KIND_CPU' | 'KIND_GPU';

export interface InstanceGroup {
  readonly count: number;
  readonly kind: InstanceKind;
}

/**
 * Which engine runs a model: the native engine, ONNX Runtime, or `auto` (the default): the
 * native engine when it supports every op of the version's graph, ONNX Runtime otherwise.
 * Triton's own value for ONNX models, "onnxruntime", keeps meaning ONNX Runtime.
 */
export const BACKENDS = ['auto', 'native', 'onnxruntime'] as const;
export type BackendChoice = typeof BACKENDS[number];

export interface ModelConfig {
  readonly name: string;
  /** "onnxruntime_onnx" for every model Sluice loads today. */
  readonly platform: string;
  /**
   * The backend the config asks for (BACKENDS above). Which one runs a version is
   * decided at load ("auto") and reported by the runtime per version.
   */
  readonly backend: BackendChoice;
  /** 0 = the model does not batch; otherwise the largest batch (rows). */
  readonly maxBatchSize: number;
  readonly input: readonly ModelTensorConfig[];
  readonly output: readonly ModelTensorConfig[];
  readonly versionPolicy: VersionPolicy;
  /** Present when the config asks for dynamic batching. */
  readonly dynamicBatching: DynamicBatchingConfig | undefined;
  readonly instanceGroup: readonly InstanceGroup[];
  /** Free-form string parameters (Triton's `parameters { key: ... value: { string_value: ... } }`). */
  readonly parameters: ReadonlyMap<string, string>;
}
