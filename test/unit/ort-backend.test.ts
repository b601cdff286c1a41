import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { BackendSession } from '../../src/backends/backend';
import { OrtBackend, sessionOptions } from '../../src/backends/onnxruntime/ort-backend';
import { OrtSession } from '../../src/backends/onnxruntime/ort-session';
import { OrtWorkerHandle } from '../../src/backends/onnxruntime/ort-worker-handle';
import type { ModelConfig } from '../../src/repository/model-config';
import { dataTypeInfo } from '../../src/runtime/datatypes';
import type { DataType } from '../../src/runtime/datatypes';
import { SluiceError } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';
import { addModel, identityModel, slowModel } from '../helpers/model-factory';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ort-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeModel(name: string, bytes: Uint8Array): string {
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, bytes);
  return file;
}

function config(instances: number, parameters: Record<string, string> = {}): ModelConfig {
  return {
    name: 'm', platform: 'onnxruntime_onnx', backend: 'onnxruntime', maxBatchSize: 0, input: [], output: [],
    versionPolicy: { kind: 'all' }, dynamicBatching: undefined,
    instanceGroup: [{ count: instances, kind: 'KIND_CPU' }], parameters: new Map(Object.entries(parameters)),
  };
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

describe('OrtBackend', () => {
  const backend = new OrtBackend();
  const slowFile = writeModel('slow', slowModel(SLOW));

  for (const dt of ORT_DATATYPES) {
    test(`identity ${dt} round-trips exact bytes and leaves the caller's buffers alone`, async () => {
      const session = await backend.load(writeModel(`identity-${dt}`, identityModel(dt, ['n', 3])), config(1));
      try {
        const input = randomTensor(dt, [4, 3]);
        const before = dt === 'BYTES' ? undefined : Buffer.from(bytesOf(input));
        const { outputs, timings } = await session.run(new Map([['INPUT0', input]]), ['OUTPUT0']);
        const out = outputs.get('OUTPUT0');
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
        for (const ns of [timings.computeInputNs, timings.computeInferNs, timings.computeOutputNs]) {
          assert.ok(Number.isInteger(ns) && ns > 0, `timing ${ns} ns`);
        }
      } finally {
        await session.close();
      }
    });
  }

  test('BF16 is refused with INVALID_ARGUMENT (onnxruntime-node has no bfloat16 tensor)', async () => {
    const session = await backend.load(writeModel('identity-fp32-bf', identityModel('FP32', [2])), config(1));
    try {
      const input: Tensor = { datatype: 'BF16', shape: [2], data: new Uint16Array(2) };
      await assert.rejects(session.run(new Map([['INPUT0', input]]), []),
        (e: SluiceError) => e.code === 'INVALID_ARGUMENT' && /bfloat16/.test(e.message));
    } finally {
      await session.close();
    }
  });

  test('2 workers serve 20 concurrent runs, each getting its own data back', async () => {
    const session = await backend.load(writeModel('add', addModel([64])), config(2));
    try {
      const runs = Array.from({ length: 20 }, async (_, i) => {
        const a = Float32Array.from({ length: 64 }, (_, j) => i * 1000 + j);
        const b = new Float32Array(64).fill(i);
        const { outputs } = await session.run(new Map([
          ['A', { datatype: 'FP32', shape: [64], data: a }],
          ['B', { datatype: 'FP32', shape: [64], data: b }],
        ]), ['SUM', 'DIFF']);
        assert.deepEqual(Array.from(outputs.get('SUM')?.data as Float32Array), Array.from(a, (v) => v + i));
        assert.deepEqual(Array.from(outputs.get('DIFF')?.data as Float32Array), Array.from(a, (v) => v - i));
      });
      await Promise.all(runs);
    } finally {
      await session.close();
    }
  });

  test('no output names asks for every output', async () => {
    const session = await backend.load(writeModel('add-all', addModel([2])), config(1));
    try {
      const t: Tensor = { datatype: 'FP32', shape: [2], data: new Float32Array([1, 2]) };
      const { outputs } = await session.run(new Map([['A', t], ['B', t]]), []);
      assert.deepEqual([...outputs.keys()].sort(), ['DIFF', 'SUM']);
    } finally {
      await session.close();
    }
  });

  test('bad model bytes: load rejects INVALID_ARGUMENT naming the file and ORT\'s reason', async () => {
    const file = writeModel('garbage', new TextEncoder().encode('this is not an onnx model'));
    await assert.rejects(backend.load(file, config(2)), (e: SluiceError) =>
      e instanceof SluiceError && e.code === 'INVALID_ARGUMENT' && e.message.includes(file) &&
      /protobuf parsing failed/.test(e.message));
  });

  test('a missing model file is NOT_FOUND', async () => {
    await assert.rejects(backend.load(path.join(dir, 'absent.onnx'), config(1)),
      (e: SluiceError) => e.code === 'NOT_FOUND');
  });

  test('a bad thread-count parameter is INVALID_ARGUMENT', async () => {
    await assert.rejects(backend.load(writeModel('add-p', addModel([2])), config(1, { intra_op_thread_count: '0' })),
      (e: SluiceError) => e.code === 'INVALID_ARGUMENT' && /intra_op_thread_count/.test(e.message));
  });

  test('an ORT run error (wrong rank) rejects INVALID_ARGUMENT and the next run succeeds', async () => {
    const session = await backend.load(writeModel('identity-rank', identityModel('FP32', ['n', 3])), config(1));
    try {
      const wrong: Tensor = { datatype: 'FP32', shape: [6], data: new Float32Array(6) };
      await assert.rejects(session.run(new Map([['INPUT0', wrong]]), ['OUTPUT0']),
        (e: SluiceError) => e.code === 'INVALID_ARGUMENT' && /Invalid rank for input: INPUT0/.test(e.message));
      const right: Tensor = { datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
      const { outputs } = await session.run(new Map([['INPUT0', right]]), ['OUTPUT0']);
      assert.deepEqual(Array.from(outputs.get('OUTPUT0')?.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    } finally {
      await session.close();
    }
  });

  test('close() waits for an in-flight slow run, then rejects new runs with UNAVAILABLE', async () => {
    const session: BackendSession = await backend.load(slowFile, config(1));
    const x = ones(1024);
    const events: string[] = [];
    const inFlight = session.run(new Map([['x', x]]), ['y']).then((r) => {
      events.push('run');
      return r;
    });
    const closed = session.close().then(() => events.push('closed'));
    assert.equal(session.close(), session.close(), 'close() is idempotent');
    await assert.rejects(session.run(new Map([['x', x]]), ['y']), (e: SluiceError) => e.code === 'UNAVAILABLE');
    const { outputs } = await inFlight;
    await closed;
    assert.deepEqual(events, ['run', 'closed']);
    assert.equal(outputs.get('y')?.data.length, 1024 * SLOW.size);
    assert.ok(allOnes(outputs.get('y')));
  });

  /** A session on slowFile whose first worker exits (code 7) when its first run arrives. */
  async function crashingSession(replacementModel: Uint8Array): Promise<{ session: OrtSession; spawned: () => number }> {
    const shared = (bytes: Uint8Array): SharedArrayBuffer => {
      const sab = new SharedArrayBuffer(bytes.byteLength);
      new Uint8Array(sab).set(bytes);
      return sab;
    };
    const options = sessionOptions(config(1), 1);
    const workerFile = path.join(__dirname, '..', '..', 'src', 'backends', 'onnxruntime', 'ort-worker.js');
    // The crash comes before ORT sees the run: terminating a thread inside ORT's native run aborts
    // the whole process (see OrtWorkerHandle.terminate), so a test cannot kill one mid-compute.
    const crashing = `require('node:worker_threads').parentPort.once('message', () => process.exit(7));
      require(${JSON.stringify(workerFile)});`;
    let spawned = 0;
    const spawn = (): OrtWorkerHandle => new OrtWorkerHandle(spawned++ === 0
      ? new Worker(crashing, { eval: true, workerData: { modelPath: slowFile, model: shared(fs.readFileSync(slowFile)), options } })
      : new Worker(workerFile, { workerData: { modelPath: slowFile, model: shared(replacementModel), options } }),
    slowFile);
    const first = spawn();
    await first.ready;
    return { session: new OrtSession([first], spawn), spawned: () => spawned };
  }

  test('a worker that dies with a run in flight: that run rejects INTERNAL, a replacement serves on', async () => {
    const { session, spawned } = await crashingSession(fs.readFileSync(slowFile));
    try {
      const doomed = session.run(new Map([['x', ones(64)]]), ['y']);
      const queued = session.run(new Map([['x', ones(64)]]), ['y']);
      await assert.rejects(doomed, (e: SluiceError) => e.code === 'INTERNAL' && /exited with code 7/.test(e.message));
      assert.ok(allOnes((await queued).outputs.get('y')));
      assert.ok(allOnes((await session.run(new Map([['x', ones(64)]]), ['y'])).outputs.get('y')));
      assert.equal(spawned(), 2, 'exactly one replacement worker');
    } finally {
      await session.close();
    }
  });

  test('when no replacement can load, waiting and new runs reject UNAVAILABLE and close() still resolves', async () => {
    const { session } = await crashingSession(new TextEncoder().encode('not a model'));
    const doomed = session.run(new Map([['x', ones(8)]]), ['y']);
    const queued = session.run(new Map([['x', ones(8)]]), ['y']);
    await assert.rejects(doomed, (e: SluiceError) => e.code === 'INTERNAL');
    await assert.rejects(queued, (e: SluiceError) => e.code === 'UNAVAILABLE' && /lost all workers/.test(e.message));
    await assert.rejects(session.run(new Map([['x', ones(8)]]), ['y']), (e: SluiceError) => e.code === 'UNAVAILABLE');
    await session.close();
  });
});
