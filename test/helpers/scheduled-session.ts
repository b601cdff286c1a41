import type { BackendSession } from '../../src/backends/backend';
import type { ModelConfig } from '../../src/repository/model-config';
import type { SluiceError } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import { VersionScheduler } from '../../src/runtime/version-scheduler';

/**
 * A backend session attached to a real native batcher, as the Runtime wires them, minus the
 * Runtime's validation: tests can send what the Runtime would refuse, straight to the backend.
 */
export interface ScheduledSession {
  readonly session: BackendSession;
  readonly scheduler: VersionScheduler;
  /** Every output, or those named, by name. `rows` defaults to dim 0 of the first input. */
  run(inputs: ReadonlyMap<string, Tensor>, outputs?: readonly string[],
    options?: { rows?: number; priority?: number; timeoutUs?: number; signal?: AbortSignal }): Promise<Map<string, Tensor>>;
  /** Whatever `onLost` reported, once the session reported it. */
  lost(): SluiceError | undefined;
  /** Closes the batcher, then the session (the Runtime's order). */
  close(): Promise<void>;
}

export function schedule(session: BackendSession, config: ModelConfig): ScheduledSession {
  const scheduler = new VersionScheduler(config.name, '1', config, undefined);
  let lost: SluiceError | undefined;
  session.attach(scheduler.batcherId, (e) => {
    lost = e;
    scheduler.close();
  });
  return {
    session,
    scheduler,
    async run(inputs, outputs, options = {}) {
      const names = outputs ?? config.output.map((o) => o.name);
      const first = inputs.values().next().value;
      const rows = options.rows ?? (config.maxBatchSize > 0 ? first?.shape[0] ?? 1 : 1);
      const r = await scheduler.infer(inputs, rows, scheduler.outputIndices(names),
        { priority: options.priority ?? 0, timeoutUs: options.timeoutUs ?? 0, signal: options.signal });
      return new Map(names.map((n, i) => [n, r.outputs[i] as Tensor]));
    },
    lost: () => lost,
    async close() {
      scheduler.close();
      await session.close();
    },
  };
}
