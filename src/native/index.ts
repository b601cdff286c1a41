export { defaultCandidates, loadNative, native } from './loader';
export { NATIVE_EXPORTS } from './binding';
export type { CpuFeatures, CudaDevice, CudaInfo, NativeBinding } from './binding';
