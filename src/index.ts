// Public API of the sluice package (re-exports only).
export { Runtime } from './runtime/runtime';
export type { Logger, LogLevel, RuntimeOptions } from './runtime/runtime';
export type {
  BatchEvent, InferObserver, InferOptions, InferResult, InferSink, ModelIndexEntry, ModelMetadata, ModelState,
  ModelStats, RequestEvent, VersionLabels,
} from './runtime/types';
export type { Tensor, TensorSpec } from './runtime/tensor';
export type { DataType, NumericArray } from './runtime/datatypes';
export { SluiceError, STATUS_TABLE } from './runtime/status';
export type { ErrorCode } from './runtime/status';
export type { ModelConfig } from './repository/model-config';
export { SluiceServer, DEFAULT_MAX_MESSAGE_BYTES } from './server/server';
export type { ServerOptions } from './server/server';
