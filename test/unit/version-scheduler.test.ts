import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelConfig } from '../../src/repository/model-config';
import type { SluiceError } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import { VersionScheduler, type ScheduleSink } from '../../src/runtime/version-scheduler';

// A real native batcher with no executor attached: whatever is queued stays queued until close().
const config = (maxQueueSize: number): ModelConfig => ({
  name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', maxBatchSize: 4,
  input: [{ name: 'x', dataType: 'FP32', dims: [2] }], output: [{ name: 'y', dataType: 'FP32', dims: [2] }],
  versionPolicy: { kind: 'all' }, instanceGroup: [], parameters: new Map(),
  dynamicBatching: {
    preferredBatchSize: [], maxQueueDelayMicroseconds: 0, preserveOrdering: false, priorityLevels: 0, defaultPriorityLevel: 0,
    defaultQueuePolicy: { timeoutAction: 'REJECT', defaultTimeoutMicroseconds: 0, allowTimeoutOverride: false, maxQueueSize },
    priorityQueuePolicy: new Map(),
  },
});
const inputs = (): Map<string, Tensor> => new Map([['x', { datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }]]);
const OPTIONS = { priority: 0, timeoutUs: 0, signal: undefined };

describe('VersionScheduler', () => {
  it('answers a request refused by a full queue once, at once, with a stackless UNAVAILABLE', async () => {
    const s = new VersionScheduler('m', '1', config(1), undefined);
    const queued = s.infer(inputs(), 1, [0], OPTIONS);
    const failures: SluiceError[] = [];
    const sink: ScheduleSink = {
      scheduled: () => assert.fail('a refused request was scheduled'),
      failed: (e) => { failures.push(e); throw new Error('sink threw'); },
    };
    // A sink that throws: its error reaches submit()'s caller, and it is not called again.
    assert.throws(() => s.submit(inputs(), 1, [0], OPTIONS, sink), /sink threw/);
    assert.equal(failures.length, 1);
    const [refused] = failures;
    assert.equal(refused?.code, 'UNAVAILABLE');
    assert.equal(refused?.message, 'Exceeds maximum queue size');
    assert.doesNotMatch(refused?.stack ?? '', /\n\s+at /);
    assert.equal(s.pending, 1);
    s.close();
    await assert.rejects(queued, (e: SluiceError) => e.code === 'UNAVAILABLE');
    await s.idle();
  });
});
