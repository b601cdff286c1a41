import type { ModelConfig, QueuePolicy } from '../repository/model-config';
import { toConfigName } from '../runtime/datatypes';
import type { ModelIndexEntry, ModelMetadata, ModelStats, StatDuration } from '../runtime/types';

/**
 * Runtime views → KServe v2 / Triton message objects with the protocol's snake_case field names.
 * The same objects are protobuf-encoded for gRPC and JSON-serialised for HTTP, so both APIs
 * answer with identical content.
 */

export function modelMetadataObject(m: ModelMetadata): Record<string, unknown> {
  const tensor = (t: ModelMetadata['inputs'][number]): Record<string, unknown> =>
    ({ name: t.name, datatype: t.datatype, shape: [...t.shape] });
  return { name: m.name, versions: [...m.versions], platform: m.platform,
    inputs: m.inputs.map(tensor), outputs: m.outputs.map(tensor) };
}

function queuePolicyObject(q: QueuePolicy): Record<string, unknown> {
  return { timeout_action: q.timeoutAction, default_timeout_microseconds: q.defaultTimeoutMicroseconds,
    allow_timeout_override: q.allowTimeoutOverride, max_queue_size: q.maxQueueSize };
}

export function modelConfigObject(c: ModelConfig): Record<string, unknown> {
  const vp = c.versionPolicy;
  const versionPolicy = vp.kind === 'latest' ? { latest: { num_versions: vp.numVersions } }
    : vp.kind === 'all' ? { all: {} } : { specific: { versions: [...vp.versions] } };
  const out: Record<string, unknown> = {
    name: c.name,
    platform: c.platform,
    backend: c.backend,
    version_policy: versionPolicy,
    max_batch_size: c.maxBatchSize,
    input: c.input.map((t) => ({ name: t.name, data_type: toConfigName(t.dataType), dims: [...t.dims] })),
    output: c.output.map((t) => ({ name: t.name, data_type: toConfigName(t.dataType), dims: [...t.dims] })),
    instance_group: c.instanceGroup.map((g, i) => ({ name: `${c.name}_${i}`, kind: g.kind, count: g.count })),
    parameters: Object.fromEntries([...c.parameters].map(([k, v]) => [k, { string_value: v }])),
  };
  const db = c.dynamicBatching;
  if (db !== undefined) {
    out['dynamic_batching'] = {
      preferred_batch_size: [...db.preferredBatchSize],
      max_queue_delay_microseconds: db.maxQueueDelayMicroseconds,
      preserve_ordering: db.preserveOrdering,
      priority_levels: db.priorityLevels,
      default_priority_level: db.defaultPriorityLevel,
      default_queue_policy: queuePolicyObject(db.defaultQueuePolicy),
      priority_queue_policy: Object.fromEntries([...db.priorityQueuePolicy].map(([k, q]) => [String(k), queuePolicyObject(q)])),
    };
  }
  return out;
}

const dur = (d: StatDuration): Record<string, number> => ({ count: d.count, ns: d.ns });

export function modelStatisticsObject(s: ModelStats): Record<string, unknown> {
  return {
    name: s.name,
    version: s.version,
    last_inference: s.lastInference,
    inference_count: s.inferenceCount,
    execution_count: s.executionCount,
    inference_stats: {
      success: dur(s.success), fail: dur(s.fail), queue: dur(s.queue), compute_input: dur(s.computeInput),
      compute_infer: dur(s.computeInfer), compute_output: dur(s.computeOutput),
      cache_hit: { count: 0, ns: 0 }, cache_miss: { count: 0, ns: 0 },
    },
    batch_stats: s.batchStats.map((b) => ({ batch_size: b.batchSize, compute_input: dur(b.computeInput),
      compute_infer: dur(b.computeInfer), compute_output: dur(b.computeOutput) })),
    memory_usage: [],
  };
}

export function repositoryIndexObjects(entries: readonly ModelIndexEntry[], readyOnly: boolean): Record<string, unknown>[] {
  return entries.filter((e) => !readyOnly || e.state === 'READY')
    .map((e) => ({ name: e.name, version: e.version, state: e.state, reason: e.reason }));
}
