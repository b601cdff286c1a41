import { Gauge, type Registry } from 'prom-client';
import type { Runtime } from '../runtime/runtime';

/** Gauges read from the runtime at scrape time (Triton's names). */
export function registerRuntimeMetrics(registry: Registry, runtime: Runtime): void {
  new Gauge({ name: 'nv_inference_pending_request_count',
    help: 'Requests accepted and not yet completed, per model version',
    labelNames: ['model', 'version'] as const, registers: [registry],
    collect() {
      for (const p of runtime.pendingRequests()) this.set({ model: p.model, version: p.version }, p.count);
    } });
}
