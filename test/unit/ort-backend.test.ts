import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { OrtBackend, sessionOptions } from '../../src/backends/onnxruntime/ort-backend';
import { OrtSession } from '../../src/backends/onnxruntime/ort-session';
import { OrtWorkerHandle } from '../../src/backends/onnxruntime/ort-worker-handle';
import type { ModelConfig } from '../../src/repository/model-config';
import { dataTypeInfo } from '../../src/runtime/datatypes';
import type { DataType } from '../../src/runtime/datatypes';
import { SluiceError } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import { addModel, identityModel, slowModel } from '../helpers/model-factory';
import { schedule, type ScheduledSession } from '../helpers/scheduled-session';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ort-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeModel(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** A config for `io`'s tensors; maxBatchSize 0 (the default) passes shapes through untouched. */
function config(instances: number, parameters: Record<string, string> = {},
  io: { inputs?: [string, DataType, number[]][]; outputs?: [string, DataType, number[]][]; maxBatchSize?: number } = {}): ModelConfig {
  const tensors = (ts: [string, DataType, number[]][] = []) => ts.map(([name, dataType, dims]) => ({ name, dataType, dims }));
  return {
    name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', maxBatchSize: io.maxBatchSize ?? 0,
    input: tensors(io.inputs), output: tensors(io.outputs),
    versionPolicy: { kind: 'all' }, dynamicBatching: undefined,
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }], parameters: new Map(Object.entries(parameters)),
  };
}

/** OrtBackend.load, attached to a batcher of its own. */
async function load(file: string, c: ModelConfig): Promise<ScheduledSession> {
  return schedule(await new OrtBackend().load(file, c), c);
}

const bytesOf = (t: Tensor): Buffer => {
  const d = t.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};

/** Random elements of `dt`, with exactly representable bit patterns (BOOL 0/1, BYTES valid UTF-8). */
function randomTensor(dt: DataType, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (dt === 'BYTES') {
    const words = ['', 'a', 'héllo', '日本語', '\u{1F600}', 'x'.repeat(300)];
    return { datatype: dt, shape, data: Array.from({ length: n }, (_, i) => Buffer.from(words[i % words.length] ?? '')) };
  }
  const info = dataTypeInfo(dt);
  assert.ok(info.array !== undefined);
  const raw = randomBytes(n * info.size);
  if (dt === 'BOOL') for (let i = 0; i < raw.length; i++) raw[i] = (raw[i] ?? 0) & 1;
  // A fresh ArrayBuffer (not the Buffer pool) so the test can also check it is never detached.
  const buf = new ArrayBuffer(raw.length);
  new Uint8Array(buf).set(raw);
  return { datatype: dt, shape, data: new info.array(buf, 0, n) };
}

const ORT_DATATYPES: DataType[] = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES',
];

/** ~10–30 ms per 128 rows on the 2-core reference box; rows set how long a run computes. */
const SLOW = { size: 512, repeats: 20 };
const ones = (rows: number): Tensor =>
  ({ datatype: 'FP32', shape: [rows, SLOW.size], data: new Float32Array(rows * SLOW.size).fill(1) });
/** A row of ones stays ones through every layer of slowModel. */
const allOnes = (t: Tensor | undefined): boolean => (t?.data as Float32Array).every((v) => Math.abs(v - 1) < 1e-3);

const SLOW_IO = { inputs: [['x', 'FP32', [SLOW.size]]] as [string, DataType, number[]][],
  outputs: [['y', 'FP32', [SLOW.size]]] as [string, DataType, number[]][], maxBatchSize: 4096 };
const x = (rows: number) => new Map([['x', ones(rows)]]);
const codeIs = (code: string, pattern: RegExp = /./) => (e: unknown): boolean => {
  assert.ok(e instanceof SluiceError, `not a SluiceError: ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, pattern);
  return true;
};

describe('OrtBackend (workers pulling from a native batcher)', () => {
  const slowFile = writeModel('slow', slowModel(SLOW));

  for (const dt of ORT_DATATYPES) {
    test(`identity ${dt} round-trips exact bytes and leaves the caller's buffers alone`, async () => {
      const c = config(1, {}, { inputs: [['INPUT0', dt, [3]]], outputs: [['OUTPUT0', dt, [3]]], maxBatchSize: 8 });
      const s = await load(writeModel(`identity-${dt}`, identityModel(dt, ['n', 3])), c);
      try {
        const input = randomTensor(dt, [4, 3]);
        const before = dt === 'BYTES' ? undefined : Buffer.from(bytesOf(input));
        const out = (await s.run(new Map([['INPUT0', input]]))).get('OUTPUT0');
        assert.ok(out !== undefined);
        assert.equal(out.datatype, dt);
        assert.deepEqual(out.shape, [4, 3]);
        if (dt === 'BYTES') {
          assert.deepEqual((out.data as Uint8Array[]).map((b) => Buffer.from(b)), input.data);
        } else {
          assert.ok(before !== undefined);
          assert.ok(bytesOf(input).equals(before), 'input buffer still owned by the caller, unchanged');
          assert.ok(bytesOf(out).equals(before));
        }
        const stats = s.scheduler.counters();
        assert.equal(stats.executionCount, 1);
        for (const ns of [stats.computeInputNs, stats.computeInferNs, stats.computeOutputNs]) {
          assert.ok(Number.isInteger(ns) && ns > 0, `timing ${ns} ns`);
        }
      } finally {
        await s.close();
      }
    });
  }

  test('a BF16 model is refused at load with INVALID_ARGUMENT (onnxruntime-node has no bfloat16 tensor)', async () => {
    const c = config(1, {}, { inputs: [['INPUT0', 'BF16', [2]]], outputs: [['OUTPUT0', 'BF16', [2]]] });
    await assert.rejects(new OrtBackend().load(writeModel('identity-bf', identityModel('FP32', [2])), c),
      codeIs('INVALID_ARGUMENT', /bfloat16/));
  });

  test('BYTES that ORT would alter: refused before queueing, and by the worker if they get that far', async () => {
    const c = config(1, {}, { inputs: [['INPUT0', 'BYTES', [-1]]], outputs: [['OUTPUT0', 'BYTES', [-1]]] });
    const s = await load(writeModel('identity-str', identityModel('BYTES', ['n'])), c);
    try {
      const bad = (b: Uint8Array): Map<string, Tensor> =>
        new Map([['INPUT0', { datatype: 'BYTES', shape: [2], data: [Buffer.from('ok'), b] }]]);
      const nul = bad(Buffer.from('a\0b'));
      const latin1 = bad(Buffer.from([0xe9]));
      assert.throws(() => s.session.checkInputs(nul), codeIs('INVALID_ARGUMENT', /input 'INPUT0': BYTES element 1 contains a NUL/));
      assert.throws(() => s.session.checkInputs(latin1), codeIs('INVALID_ARGUMENT', /element 1 is not valid UTF-8/));
      // Straight to the batcher (the Runtime would have refused it above): the worker refuses it.
      await assert.rejects(s.run(nul), codeIs('INVALID_ARGUMENT', /input 'INPUT0': BYTES element 1 contains a NUL/));
      const ok = await s.run(bad(Buffer.from('fine')));
      assert.deepEqual((ok.get('OUTPUT0')?.data as Uint8Array[]).map((b) => Buffer.from(b).toString()), ['ok', 'fine']);
    } finally {
      await s.close();
    }
  });

  test('2 workers serve 20 concurrent requests, each getting its own data back', async () => {
    const io: [string, DataType, number[]][] = [['A', 'FP32', [64]], ['B', 'FP32', [64]]];
    const s = await load(writeModel('add', addModel([64])), config(2, {}, { inputs: io,
      outputs: [['SUM', 'FP32', [64]], ['DIFF', 'FP32', [64]]] }));
    try {
      const runs = Array.from({ length: 20 }, async (_, i) => {
        const a = Float32Array.from({ length: 64 }, (_, j) => i * 1000 + j);
        const b = new Float32Array(64).fill(i);
        const outputs = await s.run(new Map([
          ['A', { datatype: 'FP32', shape: [64], data: a }],
          ['B', { datatype: 'FP32', shape: [64], data: b }],
        ]), ['DIFF', 'SUM']);
        assert.deepEqual([...outputs.keys()], ['DIFF', 'SUM']);
        assert.deepEqual(Array.from(outputs.get('SUM')?.data as Float32Array), Array.from(a, (v) => v + i));
        assert.deepEqual(Array.from(outputs.get('DIFF')?.data as Float32Array), Array.from(a, (v) => v - i));
      });
      await Promise.all(runs);
    } finally {
      await s.close();
    }
  });

  test('bad model bytes: load rejects INVALID_ARGUMENT naming the file and ORT\'s reason', async () => {
    const file = writeModel('garbage', new TextEncoder().encode('this is not an onnx model'));
    await assert.rejects(new OrtBackend().load(file, config(2)), (e: SluiceError) =>
      e instanceof SluiceError && e.code === 'INVALID_ARGUMENT' && e.message.includes(file) &&
      /protobuf parsing failed/.test(e.message));
  });

  test('a missing model file is NOT_FOUND', async () => {
    await assert.rejects(new OrtBackend().load(path.join(dir, 'absent.onnx'), config(1)),
      (e: SluiceError) => e.code === 'NOT_FOUND');
  });

  test('a bad thread-count parameter is INVALID_ARGUMENT', async () => {
    await assert.rejects(new OrtBackend().load(writeModel('add-p', addModel([2])), config(1, { intra_op_thread_count: '0' })),
      (e: SluiceError) => e.code === 'INVALID_ARGUMENT' && /intra_op_thread_count/.test(e.message));
  });

  test('an ORT run error (wrong rank) fails its batch INVALID_ARGUMENT and the next batch succeeds', async () => {
    // The config leaves the rank open, so the batcher passes a rank ORT refuses.
    const c = config(1, {}, { inputs: [['INPUT0', 'FP32', [-1]]], outputs: [['OUTPUT0', 'FP32', [-1]]] });
    const s = await load(writeModel('identity-rank', identityModel('FP32', ['n', 3])), c);
    try {
      const wrong: Tensor = { datatype: 'FP32', shape: [6], data: new Float32Array(6) };
      await assert.rejects(s.run(new Map([['INPUT0', wrong]])), codeIs('INVALID_ARGUMENT', /Invalid rank for input: INPUT0/));
      const right: Tensor = { datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
      const outputs = await s.run(new Map([['INPUT0', right]]));
      assert.deepEqual(Array.from(outputs.get('OUTPUT0')?.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    } finally {
      await s.close();
    }
  });

  test('closing the batcher then the session: the executing batch finishes, the queued one is refused', async () => {
    const s = await load(slowFile, config(1, {}, SLOW_IO));
    const events: string[] = [];
    const executing = s.run(x(1024)).then((r) => { events.push('run'); return r; });
    // Wait until the worker holds the first batch, so the second one stays queued.
    while (s.scheduler.counters().executing === 0) await new Promise((r) => setTimeout(r, 1));
    const queued = s.run(x(8));
    const closed = s.close().then(() => events.push('closed'));
    assert.equal(s.session.close(), s.session.close(), 'close() is idempotent');
    await assert.rejects(queued, codeIs('UNAVAILABLE'));
    await assert.rejects(s.run(x(8)), codeIs('UNAVAILABLE'));
    const outputs = await executing;
    await closed;
    assert.deepEqual(events, ['run', 'closed']);
    assert.equal(outputs.get('y')?.data.length, 1024 * SLOW.size);
    assert.ok(allOnes(outputs.get('y')));
  });

  /**
   * A session on slowFile whose first worker exits (code 7) as soon as it takes its first batch,
   * holding it. The crash comes before ORT sees the batch: terminating a thread inside ORT's
   * native run aborts the whole process, so a test cannot kill one mid-compute.
   */
  async function crashingSession(replacementModel: Uint8Array): Promise<{ s: ScheduledSession; spawned: () => number }> {
    const c = config(1, {}, SLOW_IO);
    const shared = (bytes: Uint8Array): SharedArrayBuffer => {
      const sab = new SharedArrayBuffer(bytes.byteLength);
      new Uint8Array(sab).set(bytes);
      return sab;
    };
    const init = (model: Uint8Array) => ({ modelPath: slowFile, model: shared(model), options: sessionOptions(c, 1),
      inputs: [{ name: 'x', datatype: 'FP32' }], outputs: [{ name: 'y', datatype: 'FP32' }] });
    const compiled = path.join(__dirname, '..', '..', 'src');
    const workerFile = path.join(compiled, 'backends', 'onnxruntime', 'ort-worker.js');
    // Wraps the batch source the worker attaches, so that taking a batch ends the thread.
    const crashing = `const loader = require(${JSON.stringify(path.join(compiled, 'native', 'loader.js'))});
      const real = loader.native;
      loader.native = () => ({ lowerThreadPriorityForCompute: () => real().lowerThreadPriorityForCompute(),
        attachBatchSource(id) {
        const source = real().attachBatchSource(id);
        return { next(ms) { const b = source.next(ms); if (b !== null && b !== 'closed') process.exit(7); return b; },
          complete: (...a) => source.complete(...a), fail: (...a) => source.fail(...a) };
      } });
      require(${JSON.stringify(workerFile)});`;
    let spawned = 0;
    const spawn = (): OrtWorkerHandle => new OrtWorkerHandle(spawned++ === 0
      ? new Worker(crashing, { eval: true, workerData: init(fs.readFileSync(slowFile)) })
      : new Worker(workerFile, { workerData: init(replacementModel) }), slowFile);
    const first = spawn();
    await first.ready;
    return { s: schedule(new OrtSession([first], spawn), c), spawned: () => spawned };
  }

  test('a worker that dies holding a batch: that batch fails, a replacement serves on', async () => {
    const { s, spawned } = await crashingSession(fs.readFileSync(slowFile));
    try {
      const doomed = s.run(x(64));
      await assert.rejects(doomed, codeIs('UNAVAILABLE', /thread that held the batch exited/));
      assert.ok(allOnes((await s.run(x(64))).get('y')));
      assert.equal(spawned(), 2, 'exactly one replacement worker');
      assert.equal(s.lost(), undefined);
    } finally {
      await s.close();
    }
  });

  test('when no replacement can load, the session reports itself lost and queued requests fail UNAVAILABLE', async () => {
    const { s } = await crashingSession(new TextEncoder().encode('not a model'));
    const doomed = s.run(x(8));
    const queued = s.run(x(8));
    await assert.rejects(doomed, codeIs('UNAVAILABLE', /thread that held the batch exited/));
    await assert.rejects(queued, codeIs('UNAVAILABLE'));
    assert.match(s.lost()?.message ?? '', /lost all workers/);
    await assert.rejects(s.run(x(8)), codeIs('UNAVAILABLE'));
    await s.close();
  });
});
