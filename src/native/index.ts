export { defaultCandidates, loadNative, native } from './loader';
export { NATIVE_EXPORTS } from './binding';
export type {
  CpuFeatures, CudaDevice, CudaInfo, NativeBatch, NativeBatcher, NativeBatcherConfig, NativeBatcherCounters,
  NativeBatchSource, NativeBinding, NativeCompletion, NativeEngine, NativeEngineOptions, NativeEngineTensor,
  NativeError, NativeGraph, NativeQueuePolicy, NativeTensor, NativeTimeoutAction,
} from './binding';
