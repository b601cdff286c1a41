import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Runtime } from '../../src/runtime/runtime';
import { SluiceError } from '../../src/runtime/status';
import type { ErrorCode } from '../../src/runtime/status';
import type { InferResult, InferSink } from '../../src/runtime/types';
import { addModel, identityModel, slowModel, writeModelRepository } from '../helpers/model-factory';

let repo: string;
let runtime: Runtime;
const logs: string[] = [];

before(async () => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-runtime-'));
  writeModelRepository(repo, [
    { name: 'add', versions: { '1': addModel([2, 3]) } },
    { name: 'identity', versions: { '1': identityModel('INT32', ['batch', 2]), '2': identityModel('INT32', ['batch', 2]) },
      config: { file: 'config.json', text: JSON.stringify({ version_policy: { all: {} } }) } },
    { name: 'slow', versions: { '1': slowModel({ size: 1024, repeats: 40 }) } },
    { name: 'empty_version', versions: { '1': null } },
    // Requests sent together wait out the window and run as one batch.
    { name: 'batched', versions: { '1': identityModel('INT32', ['batch', 2]) },
      config: { file: 'config.pbtxt', text: 'max_batch_size: 8\ndynamic_batching { max_queue_delay_microseconds: 100000 }\n' } },
  ]);
  runtime = await Runtime.open(repo, { logger: (level, msg) => logs.push(`${level} ${msg}`) });
});
after(async () => {
  await runtime.close(1_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SluiceError, `not a SluiceError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const ints = (...v: number[]) => ({ datatype: 'INT32' as const, shape: [1, 2], data: Int32Array.from(v) });

describe('Runtime (the in-process API)', () => {
  it('takes inputs as a plain object and returns typed arrays in requested order', async () => {
    const a = { datatype: 'FP32' as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const r = await runtime.infer('add', { A: a, B: a }, { outputs: ['DIFF', 'SUM'], id: 'x' });
    assert.equal(r.model, 'add');
    assert.equal(r.version, '1');
    assert.equal(r.id, 'x');
    assert.deepEqual([...r.outputs.keys()], ['DIFF', 'SUM']);
    assert.deepEqual([...(r.outputs.get('SUM')?.data as Float32Array)], [2, 4, 6, 8, 10, 12]);
  });

  it('runs the highest ready version by default and a named one on request', async () => {
    assert.equal((await runtime.infer('identity', { INPUT0: ints(1, 2) })).version, '2');
    const r = await runtime.infer('identity', { INPUT0: ints(3, 4) }, { version: '1' });
    assert.equal(r.version, '1');
    assert.deepEqual([...(r.outputs.get('OUTPUT0')?.data as Int32Array)], [3, 4]);
  });

  it('rejects with SluiceError codes that map to gRPC/HTTP', async () => {
    await rejectsWith(runtime.infer('nope', {}), 'NOT_FOUND', /unknown model 'nope'/);
    await rejectsWith(runtime.infer('identity', { INPUT0: ints(1, 2) }, { version: '9' }), 'NOT_FOUND', /no version 9/);
    await rejectsWith(runtime.infer('identity', { INPUT0: ints(1, 2) }, { version: '1.0' }), 'INVALID_ARGUMENT', /version/);
    await rejectsWith(runtime.infer('identity', {}), 'INVALID_ARGUMENT', /missing input 'INPUT0'/);
    await rejectsWith(runtime.infer('identity', { INPUT0: ints(1, 2) }, { outputs: ['X'] }), 'INVALID_ARGUMENT', /unknown output 'X'/);
    await rejectsWith(runtime.infer('identity', { INPUT0: ints(1, 2) }, { outputs: ['OUTPUT0', 'OUTPUT0'] }),
      'INVALID_ARGUMENT', /more than once/);
    await rejectsWith(runtime.infer('empty_version', {}), 'UNAVAILABLE', /empty_version/);
  });

  it('a malformed tensor from an in-process caller is refused, naming what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [{ datatype: 'INT32', shape: [1, 2], data: new Float32Array(2) }, /^input 'INPUT0': INT32 data must be an Int32Array, got Float32Array$/],
      [{ datatype: 'INT32', shape: [1, 2], data: [1, 2] }, /INT32 data must be an Int32Array, got Array$/],
      [{ datatype: 'INT32', shape: [1, 2] }, /INT32 data must be an Int32Array, got undefined$/],
      [{ datatype: 'INT32', shape: [1, 2], data: new Int32Array(3) }, /INT32 data holds 3 elements, but shape \[1,2\] needs 2$/],
      [{ datatype: 'INT32', shape: ['1', 2], data: new Int32Array(2) }, /shape must be an array of non-negative integers, got \["1",2\]$/],
      [{ datatype: 'INT32', shape: [Number.NaN, 2], data: new Int32Array(2) }, /got \[NaN,2\]$/],
      [{ datatype: 'INT32', shape: 2, data: new Int32Array(2) }, /got 2$/],
      [{ datatype: 'int32', shape: [1, 2], data: new Int32Array(2) }, /unknown datatype "int32"$/],
      [{ datatype: 'BYTES', shape: [1, 2], data: ['a', 'b'] }, /BYTES data must be an array of Uint8Array, one per element, got Array$/],
      [null, /^input 'INPUT0': must be a tensor \{ datatype, shape, data \}, got null$/],
    ];
    for (const [tensor, pattern] of cases) {
      await rejectsWith(runtime.infer('identity', { INPUT0: tensor } as never), 'INVALID_ARGUMENT', pattern);
    }
    await rejectsWith(runtime.infer('identity', null as never), 'INVALID_ARGUMENT', /^inputs must be a Map or an object/);
    await rejectsWith(runtime.infer('identity', { INPUT0: ints(1, 2) }, { outputs: 'OUTPUT0' as never }),
      'INVALID_ARGUMENT', /^outputs must be an array of output names, got "OUTPUT0"$/);
    const ok = await runtime.infer('identity', { INPUT0: ints(5, 6) });
    assert.deepEqual(ok.outputs.get('OUTPUT0')?.data, Int32Array.from([5, 6]));
  });

  it('reports broken models in the index and the log, with the path', () => {
    const broken = runtime.index().find((e) => e.name === 'empty_version');
    assert.equal(broken?.state, 'UNAVAILABLE');
    assert.match(broken?.reason ?? '', /empty_version/);
    assert.ok(logs.some((l) => l.startsWith('error') && l.includes('empty_version')));
  });

  it('an aborted signal rejects with CANCELLED', async () => {
    const ac = new AbortController();
    const p = runtime.infer('slow', { x: { datatype: 'FP32', shape: [64, 1024], data: new Float32Array(64 * 1024) } },
      { signal: ac.signal });
    ac.abort();
    await rejectsWith(p, 'CANCELLED', /cancelled/);
  });

  it('submit() answers its sink once: onError inside submit() when refused up front, onResult later', async () => {
    const calls: string[] = [];
    const refused: InferSink = { onResult: () => calls.push('result'), onError: (e) => calls.push(`error ${e.code}`) };
    runtime.submit('nope', {}, {}, refused);
    runtime.submit('batched', {}, {}, refused);
    assert.deepEqual(calls, ['error NOT_FOUND', 'error INVALID_ARGUMENT']);
    const result = await new Promise<InferResult>((resolve, reject) => {
      runtime.submit('batched', { INPUT0: ints(7, 8) }, { id: 'r1' }, { onResult: resolve, onError: reject });
      calls.push('returned');
    });
    assert.deepEqual(calls, ['error NOT_FOUND', 'error INVALID_ARGUMENT', 'returned']);
    for (const bad of [undefined, {}, { onResult: () => undefined }]) {
      assert.throws(() => runtime.submit('batched', {}, {}, bad as never), /sink must be an object with onResult/);
    }
    // An onError that runs inside submit() and throws: the throw is the caller's, not swallowed.
    const own = new Error('sink failed');
    assert.throws(() => runtime.submit('nope', {}, {}, { onResult: () => undefined, onError: () => { throw own; } }),
      (e: unknown) => e === own);
    assert.equal(result.id, 'r1');
    assert.deepEqual(result.outputs.get('OUTPUT0')?.data, Int32Array.from([7, 8]));
  });

  it('a sink that throws costs no other request of its batch its answer; the throw surfaces uncaught',
    { timeout: 10_000 }, async () => {
    // node:test's own listener would fail the test on the expected throw: set aside meanwhile.
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught: unknown[] = [];
    const listener = (e: unknown): void => { uncaught.push(e); };
    process.on('uncaughtException', listener);
    const boom = new Error('sink bug');
    try {
      // The throwing sink's request is answered first: the three after it in the batch still are.
      runtime.submit('batched', { INPUT0: ints(9, 9) }, {}, { onResult: () => { throw boom; }, onError: () => undefined });
      const answers = Promise.all([1, 2, 3].map((v) => new Promise<InferResult>((resolve, reject) =>
        runtime.submit('batched', { INPUT0: ints(v, v) }, {}, { onResult: resolve, onError: reject }))));
      const results = await answers;
      assert.deepEqual(results.map((r) => [...(r.outputs.get('OUTPUT0')?.data as Int32Array)]), [[1, 1], [2, 2], [3, 3]]);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('uncaughtException', listener);
      for (const l of saved) process.on('uncaughtException', l);
    }
    assert.deepEqual(uncaught, [boom]);
    const [s] = runtime.statistics('batched', '1');
    assert.equal(s?.batchStats.find((b) => b.batchSize === 4)?.computeInfer.count, 1, 'the four ran as one batch');
  });

  it('statistics count successes, failures and rows', () => {
    const [s] = runtime.statistics('identity', '1');
    assert.equal(s?.success.count, 1);
    assert.equal(s?.inferenceCount, 1);
    assert.equal(s?.batchStats[0]?.batchSize, 1);
    assert.ok((runtime.statistics('identity', '2')[0]?.fail.count ?? 0) >= 3);
  });

  it('close() lets in-flight requests finish and refuses new ones', async () => {
    const inFlight = runtime.infer('slow', { x: { datatype: 'FP32', shape: [8, 1024], data: new Float32Array(8 * 1024) } });
    const closing = runtime.close(30_000);
    assert.equal(runtime.ready, false);
    await rejectsWith(runtime.infer('add', {}), 'UNAVAILABLE', /stopping/);
    const r = await inFlight;
    assert.deepEqual(r.outputs.get('y')?.shape, [8, 1024]);
    assert.equal(await closing, true);
  });
});

describe('Runtime.close() when the grace period runs out', () => {
  it('fails what is still queued with UNAVAILABLE, lets the executing batch finish, and loses nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-runtime-close-'));
    writeModelRepository(dir, [{ name: 'slow', versions: { '1': slowModel({ size: 1024, repeats: 40 }) },
      config: { file: 'config.pbtxt', text: 'max_batch_size: 512\n' } }]);
    const rt = await Runtime.open(dir, { logger: () => {} });
    try {
      const x = (rows: number) => ({ x: { datatype: 'FP32' as const, shape: [rows, 1024], data: new Float32Array(rows * 1024) } });
      const executing = rt.infer('slow', x(512));
      while ((rt.pendingRequests()[0]?.executing ?? 0) === 0) await new Promise((r) => setTimeout(r, 1));
      const queued = Promise.all([rt.infer('slow', x(1)), rt.infer('slow', x(2))].map((q) => rejectsWith(q, 'UNAVAILABLE', /closed/)));
      assert.equal(rt.pendingRequests()[0]?.queued, 2);
      assert.equal(await rt.close(0), false, 'not clean: the grace period ran out');
      await queued;
      assert.deepEqual((await executing).outputs.get('y')?.shape, [512, 1024]);
      const [s] = rt.statistics('slow');
      assert.equal(s?.success.count, 1);
      assert.equal(s?.fail.count, 2);
      assert.equal(s?.executionCount, 1);
      assert.deepEqual(rt.pendingRequests()[0], { model: 'slow', version: '1', queued: 0, executing: 0 });
    } finally {
      await rt.close(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
