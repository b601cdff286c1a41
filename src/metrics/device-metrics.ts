import { Gauge, type Registry } from 'prom-client';
import type { DeviceInfo } from '../server/device-info';

/**
 * Gauges that state which hardware path the server runs on, read at scrape time:
 * `sluice_cuda_devices` (0 = CPU path) and `sluice_cpu_feature{feature}` (1 = usable).
 */
export function registerDeviceMetrics(registry: Registry, info: DeviceInfo): void {
  new Gauge({ name: 'sluice_cuda_devices', help: 'CUDA devices in use (0 = CPU path)', registers: [registry],
    collect() { this.set(info.cuda.deviceCount); } });
  new Gauge({ name: 'sluice_cuda_compiled', help: '1 when the native addon was built with CUDA',
    registers: [registry], collect() { this.set(info.cuda.compiledIn ? 1 : 0); } });
  new Gauge({ name: 'sluice_cpu_feature', help: 'CPU SIMD features usable by the native kernels (1 = yes)',
    labelNames: ['feature'] as const, registers: [registry],
    collect() { for (const [feature, on] of Object.entries(info.cpu)) this.set({ feature }, on ? 1 : 0); } });
}
