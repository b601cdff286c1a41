/**
 * ModelConfig (Triton's max_batch_size and dynamic_batching, and the parameter
 * sluice.idle_spin_us) → the native batcher's config. A pure mapping: every rule about what the
 * fields mean is applied natively (src/native/binding.ts, native/include/sluice/batch-policy.h),
 * and the native side validates the result; only the parameter's string is checked here, so that
 * its error names it.
 */
import type { NativeBatcherConfig, NativeQueuePolicy } from '../native/binding';
import type { ModelConfig, ModelTensorConfig, QueuePolicy } from '../repository/model-config';
import { dataTypeInfo } from './datatypes';
import { invalidArgument } from './status';

/** The model parameter that sets how long an idle executor spins before it sleeps, µs. */
const IDLE_SPIN_PARAMETER = 'sluice.idle_spin_us';
/** Its largest value: one second. */
const MAX_IDLE_SPIN_US = 1_000_000;

/**
 * `sluice.idle_spin_us`, when the config sets it: an integer from 0 (never spin) to 1,000,000.
 * Absent, the addon uses SLUICE_BATCHER_SPIN_US or its 200 µs default (source-wait.h).
 */
function idleSpinUs(config: ModelConfig): number | undefined {
  const raw = config.parameters.get(IDLE_SPIN_PARAMETER);
  if (raw === undefined) return undefined;
  const v = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(v <= MAX_IDLE_SPIN_US)) {
    throw invalidArgument(`model '${config.name}': parameter ${IDLE_SPIN_PARAMETER} must be an integer ` +
      `from 0 to ${MAX_IDLE_SPIN_US} (µs), got '${raw}'`);
  }
  return v;
}

/**
 * The queue policy of a model without a dynamic_batching block (Triton's default scheduler): no
 * bound, no default timeout, and a client's own `timeout` honoured, since no config asked
 * otherwise.
 */
const NO_BATCHING_POLICY: NativeQueuePolicy = {
  timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0,
};

const queuePolicy = (q: QueuePolicy): NativeQueuePolicy => ({
  timeoutAction: q.timeoutAction,
  defaultTimeoutUs: q.defaultTimeoutMicroseconds,
  allowTimeoutOverride: q.allowTimeoutOverride,
  maxQueueSize: q.maxQueueSize,
});

const tensors = (ts: readonly ModelTensorConfig[]): NativeBatcherConfig['inputs'] =>
  ts.map((t) => ({ name: t.name, elementSize: dataTypeInfo(t.dataType).size }));

/**
 * max_batch_size 0 means the model has no batch dim: one request per execution, shapes untouched.
 * No dynamic_batching block means no merging (each request is its own batch), as in Triton, but
 * the request still waits in the native queue for a free executor.
 */
export function batcherConfig(model: string, version: string, config: ModelConfig): NativeBatcherConfig {
  const db = config.dynamicBatching;
  const hasBatchDim = config.maxBatchSize > 0;
  const levels = db?.priorityLevels ?? 0;
  let queuePolicies: NativeQueuePolicy[];
  if (db === undefined) queuePolicies = [NO_BATCHING_POLICY];
  else if (levels === 0) queuePolicies = [queuePolicy(db.defaultQueuePolicy)];
  else {
    // Levels are 1-based in the config; a level without its own entry uses the default policy.
    queuePolicies = Array.from({ length: levels },
      (_, i) => queuePolicy(db.priorityQueuePolicy.get(i + 1) ?? db.defaultQueuePolicy));
  }
  return {
    name: `${model}:${version}`,
    maxBatchSize: hasBatchDim ? config.maxBatchSize : 1,
    hasBatchDim,
    dynamic: db !== undefined && hasBatchDim,
    maxQueueDelayUs: db?.maxQueueDelayMicroseconds ?? 0,
    preferredBatchSizes: db?.preferredBatchSize ?? [],
    priorityLevels: levels,
    defaultPriorityLevel: db?.defaultPriorityLevel ?? 0,
    queuePolicies,
    inputs: tensors(config.input),
    outputs: tensors(config.output),
    idleSpinUs: idleSpinUs(config),
  };
}
