export { defaultCandidates, loadNative, native } from './loader';
export { NATIVE_EXPORTS } from './binding';
export type {
  CpuFeatures, CudaDevice, CudaInfo, NativeBatch, NativeBatcher, NativeBatcherConfig, NativeBatcherCounters,
  NativeBatchSource, NativeBinding, NativeCompletion, NativeError, NativeQueuePolicy, NativeTensor,
  NativeTimeoutAction,
} from './binding';
