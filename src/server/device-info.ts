import { native } from '../native';
import type { CpuFeatures, CudaInfo } from '../native';

/** What hardware paths this process can use, as reported by the native addon. */
export interface DeviceInfo {
  readonly cpu: CpuFeatures;
  readonly cuda: CudaInfo;
}

/** Device info from the addon; throws the loader's diagnostic error when the addon is missing. */
export function deviceInfo(): DeviceInfo {
  const n = native();
  return { cpu: n.cpuFeatures(), cuda: n.cuda() };
}

/** One line for the startup log, e.g. "CPU avx2 avx512f avx512vnni; CUDA compiled in, 0 devices (...)". */
export function describeDevices(d: DeviceInfo): string {
  const features = Object.entries(d.cpu).filter(([, on]) => on).map(([name]) => name);
  const gpus = d.cuda.deviceCount > 0
    ? d.cuda.devices.map((g) => `${g.name} (sm ${g.computeCapability})`).join(', ')
    : `no GPU${d.cuda.error !== '' ? ` (${d.cuda.error})` : ''}: CPU path`;
  return `CPU ${features.length > 0 ? features.join(' ') : 'generic (no AVX2)'}; ` +
    `CUDA ${d.cuda.compiledIn ? 'compiled in' : 'not compiled in'}, ${gpus}`;
}
