import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DynamicBatchingConfig, ModelConfig, QueuePolicy } from '../../src/repository/model-config';
import { batcherConfig } from '../../src/runtime/batcher-config';

const policy = (p: Partial<QueuePolicy> = {}): QueuePolicy =>
  ({ timeoutAction: 'REJECT', defaultTimeoutMicroseconds: 0, allowTimeoutOverride: false, maxQueueSize: 0, ...p });

function config(maxBatchSize: number, dynamicBatching: Partial<DynamicBatchingConfig> | undefined,
  parameters: ReadonlyMap<string, string> = new Map()): ModelConfig {
  return {
    name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', maxBatchSize,
    input: [{ name: 'text', dataType: 'BYTES', dims: [1] }, { name: 'mask', dataType: 'BOOL', dims: [8] },
      { name: 'x', dataType: 'FP32', dims: [8] }],
    output: [{ name: 'y', dataType: 'INT64', dims: [1] }, { name: 'h', dataType: 'FP16', dims: [4] }],
    versionPolicy: { kind: 'latest', numVersions: 1 },
    dynamicBatching: dynamicBatching === undefined ? undefined : {
      preferredBatchSize: [], maxQueueDelayMicroseconds: 0, preserveOrdering: false, priorityLevels: 0,
      defaultPriorityLevel: 0, defaultQueuePolicy: policy(), priorityQueuePolicy: new Map(), ...dynamicBatching },
    instanceGroup: [], parameters,
  };
}

describe('batcherConfig (ModelConfig → NativeBatcherConfig)', () => {
  it('carries inputs and outputs in config order with their element sizes (BYTES = 0)', () => {
    const c = batcherConfig('m', '3', config(8, undefined));
    assert.equal(c.name, 'm:3');
    assert.deepEqual(c.inputs, [{ name: 'text', elementSize: 0 }, { name: 'mask', elementSize: 1 }, { name: 'x', elementSize: 4 }]);
    assert.deepEqual(c.outputs, [{ name: 'y', elementSize: 8 }, { name: 'h', elementSize: 2 }]);
  });

  it('no dynamic_batching block: no merging, one level, client timeouts honoured, unbounded', () => {
    const c = batcherConfig('m', '1', config(8, undefined));
    assert.equal(c.dynamic, false);
    assert.equal(c.hasBatchDim, true);
    assert.equal(c.maxBatchSize, 8);
    assert.equal(c.priorityLevels, 0);
    assert.deepEqual(c.queuePolicies, [{ timeoutAction: 'REJECT', defaultTimeoutUs: 0, allowTimeoutOverride: true, maxQueueSize: 0 }]);
  });

  it('max_batch_size 0: no batch dim, batches of one request', () => {
    const c = batcherConfig('m', '1', config(0, undefined));
    assert.equal(c.hasBatchDim, false);
    assert.equal(c.maxBatchSize, 1);
    assert.equal(c.dynamic, false);
  });

  it('dynamic_batching: window, preferred sizes and the default queue policy as written', () => {
    const c = batcherConfig('m', '1', config(32, { maxQueueDelayMicroseconds: 500, preferredBatchSize: [4, 16],
      defaultQueuePolicy: policy({ timeoutAction: 'DELAY', defaultTimeoutMicroseconds: 1000, maxQueueSize: 7 }) }));
    assert.equal(c.dynamic, true);
    assert.equal(c.maxQueueDelayUs, 500);
    assert.deepEqual(c.preferredBatchSizes, [4, 16]);
    assert.deepEqual(c.queuePolicies, [{ timeoutAction: 'DELAY', defaultTimeoutUs: 1000, allowTimeoutOverride: false, maxQueueSize: 7 }]);
  });

  it('priority levels: one policy per level, [0] = level 1, the default policy where none is given', () => {
    const c = batcherConfig('m', '1', config(4, { priorityLevels: 3, defaultPriorityLevel: 2,
      defaultQueuePolicy: policy({ maxQueueSize: 10 }),
      priorityQueuePolicy: new Map([[1, policy({ maxQueueSize: 1, allowTimeoutOverride: true })], [3, policy({ maxQueueSize: 3 })]]) }));
    assert.equal(c.priorityLevels, 3);
    assert.equal(c.defaultPriorityLevel, 2);
    assert.deepEqual(c.queuePolicies.map((q) => [q.maxQueueSize, q.allowTimeoutOverride]), [[1, true], [10, false], [3, false]]);
  });

  it('sluice.idle_spin_us: the idle executor spin window in µs, 0 to 1,000,000; absent = the addon default', () => {
    const spin = (v: string): number | undefined =>
      batcherConfig('m', '1', config(8, undefined, new Map([['sluice.idle_spin_us', v]]))).idleSpinUs;
    assert.equal(batcherConfig('m', '1', config(8, undefined)).idleSpinUs, undefined);
    assert.equal(spin('0'), 0);
    assert.equal(spin('10000'), 10_000);
    assert.equal(spin('1000000'), 1_000_000);
    for (const bad of ['', '-1', '1.5', '1e3', '0x10', 'abc', '1000001']) {
      assert.throws(() => spin(bad), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' &&
        e.message.includes(`sluice.idle_spin_us must be an integer from 0 to 1000000 (µs), got '${bad}'`), bad);
    }
  });
});
