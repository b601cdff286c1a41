/**
 * The native engine behind the batcher, end to end over gRPC: backend selection from the config
 * (auto, native, onnxruntime) with its reason in ModelConfig, native results agreeing with ONNX
 * Runtime on the same model, batches forming with every request getting its own rows, a fallback
 * for an op the engine does not run, and `backend: native` refusing such a model with the reason.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildModel } from '../../src/onnx/writer';
import { SluiceServer } from '../../src/server/server';
import { KServeClient } from '../helpers/kserve-client';
import { writeModelRepository } from '../helpers/model-factory';

const IN = 8;
const HIDDEN = 16;
const OUT = 4;

/** x [batch, 8] → Gemm → Relu → Gemm → Softmax → y [batch, 4], fixed pseudo-random weights. */
function mlp(): Uint8Array {
  let seed = 7;
  const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31 - 0.5;
  });
  return buildModel({
    inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', IN] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', OUT] }],
    initializers: [
      { name: 'W0', datatype: 'FP32', dims: [IN, HIDDEN], data: rand(IN * HIDDEN) },
      { name: 'B0', datatype: 'FP32', dims: [HIDDEN], data: rand(HIDDEN) },
      { name: 'W1', datatype: 'FP32', dims: [HIDDEN, OUT], data: rand(HIDDEN * OUT) },
      { name: 'B1', datatype: 'FP32', dims: [OUT], data: rand(OUT) },
    ],
    nodes: [
      { opType: 'Gemm', inputs: ['x', 'W0', 'B0'], outputs: ['h'] },
      { opType: 'Relu', inputs: ['h'], outputs: ['r'] },
      { opType: 'Gemm', inputs: ['r', 'W1', 'B1'], outputs: ['logits'] },
      { opType: 'Softmax', inputs: ['logits'], outputs: ['y'] },
    ],
  });
}

/** y = cos(x): an op the native engine does not claim. */
function cosModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', IN] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', IN] }],
    nodes: [{ opType: 'Cos', inputs: ['x'], outputs: ['y'] }],
  });
}

const config = (backend: string, extra = ''): { file: 'config.pbtxt'; text: string } =>
  ({ file: 'config.pbtxt', text: `backend: "${backend}"\nmax_batch_size: 32\n${extra}` });

let repo: string;
let server: SluiceServer;
let client: KServeClient;

before(async () => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-native-'));
  const model = mlp();
  writeModelRepository(repo, [
    { name: 'mlp_auto', versions: { '1': model } },
    { name: 'mlp_native', versions: { '1': model },
      config: config('native', 'dynamic_batching { max_queue_delay_microseconds: 20000 }\n') },
    { name: 'mlp_ort', versions: { '1': model }, config: config('onnxruntime') },
    { name: 'cos_auto', versions: { '1': cosModel() } },
    { name: 'cos_native', versions: { '1': cosModel() }, config: config('native') },
  ]);
  server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
    maxMessageBytes: 1 << 20, logger: () => {} });
  client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
});

after(async () => {
  client.close();
  await server.stop(5_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

function rows(n: number, offset: number): Float32Array {
  return Float32Array.from({ length: n * IN }, (_, i) => Math.sin(i * 0.37 + offset));
}

async function infer(model: string, x: Float32Array): Promise<Float32Array> {
  const res = await client.call('ModelInfer', { model_name: model,
    inputs: [{ name: 'x', datatype: 'FP32', shape: [x.length / IN, IN] }],
    raw_input_contents: [Buffer.from(x.buffer, x.byteOffset, x.byteLength)] });
  const raw = (res['raw_output_contents'] as Buffer[])[0] as Buffer;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs((actual[i] as number) - (expected[i] as number)) <= tolerance,
      `element ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

async function backendOf(model: string): Promise<{ backend: string; reason: string }> {
  const res = await client.call('ModelConfig', { name: model });
  const c = res['config'] as { backend: string; parameters: Record<string, { string_value: string }> };
  return { backend: c.backend, reason: c.parameters['sluice.backend_reason']?.string_value ?? '' };
}

describe('backend selection', () => {
  it('auto picks the native engine when it supports every op, and says so', async () => {
    assert.deepEqual(await backendOf('mlp_auto'), { backend: 'native', reason: 'auto: the native engine supports every op' });
    assert.deepEqual(await backendOf('mlp_native'), { backend: 'native', reason: 'backend "native" in the config' });
    assert.deepEqual(await backendOf('mlp_ort'), { backend: 'onnxruntime', reason: 'backend "onnxruntime" in the config' });
  });

  it('auto falls back to ONNX Runtime for an unsupported op, naming it, and still serves', async () => {
    const { backend, reason } = await backendOf('cos_auto');
    assert.equal(backend, 'onnxruntime');
    assert.match(reason, /^auto: .*unsupported op Cos/);
    const y = await infer('cos_auto', rows(1, 0));
    assertClose(y, rows(1, 0).map(Math.cos), 1e-6);
  });

  it('backend: native with an unsupported op fails that model with the reason', async () => {
    const res = await client.call('RepositoryIndex', {});
    const entry = (res['models'] as { name: string; state: string; reason: string }[]).find((m) => m.name === 'cos_native');
    assert.equal(entry?.state, 'UNAVAILABLE');
    assert.match(entry?.reason ?? '', /native engine cannot run .*unsupported op Cos/);
  });
});

describe('the native engine serving', () => {
  it('agrees with ONNX Runtime on the same model', async () => {
    for (const n of [1, 3, 32]) {
      const x = rows(n, n);
      assertClose(await infer('mlp_native', x), await infer('mlp_ort', x), 1e-5);
    }
  });

  it('batches concurrent requests and gives every request its own rows', async () => {
    const before = await client.call('ModelStatistics', { name: 'mlp_native' });
    const inputs = Array.from({ length: 24 }, (_, i) => rows(1 + (i % 3), i));
    const expected = await Promise.all(inputs.map((x) => infer('mlp_ort', x)));
    const actual = await Promise.all(inputs.map((x) => infer('mlp_native', x)));
    actual.forEach((y, i) => assertClose(y, expected[i] as Float32Array, 1e-5));
    const after = await client.call('ModelStatistics', { name: 'mlp_native' });
    const stat = (r: Record<string, unknown>): { inference_count: number; execution_count: number } =>
      (r['model_stats'] as { inference_count: number; execution_count: number }[])[0] as { inference_count: number; execution_count: number };
    const requestsRows = inputs.reduce((a, x) => a + x.length / IN, 0);
    assert.equal(stat(after).inference_count - stat(before).inference_count, requestsRows);
    assert.ok(stat(after).execution_count - stat(before).execution_count < inputs.length,
      'the 20 ms window must have merged requests into fewer executions');
  });

  it('refuses a request with the wrong feature count before it is queued', async () => {
    await assert.rejects(infer('mlp_native', new Float32Array(IN + 1)), /INVALID_ARGUMENT|3 /);
  });
});

/**
 * A layer as onnxruntime.quantization.quantize_dynamic writes it: x [batch, 8] →
 * DynamicQuantizeLinear → MatMulInteger (int8 weights) → Cast → Mul by x_scale * w_scale → Add
 * bias → y [batch, 4]. The native engine fuses it into one DynamicQuantizedLinear.
 */
function dynamicQuantModel(): Uint8Array {
  const w = Int8Array.from({ length: IN * OUT }, (_, i) => Math.round(127 * Math.sin(i * 1.7)));
  return buildModel({
    inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', IN] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', OUT] }],
    initializers: [
      { name: 'W', datatype: 'INT8', dims: [IN, OUT], data: w },
      { name: 'W_zp', datatype: 'INT8', dims: [], data: Int8Array.of(0) },
      { name: 'W_scale', datatype: 'FP32', dims: [OUT], data: Float32Array.of(0.01, 0.02, 0.005, 0.015) },
      { name: 'B', datatype: 'FP32', dims: [OUT], data: Float32Array.of(0.1, -0.2, 0.3, 0) },
    ],
    nodes: [
      { opType: 'DynamicQuantizeLinear', inputs: ['x'], outputs: ['xq', 'xs', 'xz'] },
      { opType: 'MatMulInteger', inputs: ['xq', 'W', 'xz', 'W_zp'], outputs: ['yi'] },
      { opType: 'Cast', inputs: ['yi'], outputs: ['yf'], attributes: { to: { kind: 'int', value: 1 } } },
      { opType: 'Mul', inputs: ['xs', 'W_scale'], outputs: ['s'] },
      { opType: 'Mul', inputs: ['yf', 's'], outputs: ['m'] },
      { opType: 'Add', inputs: ['m', 'B'], outputs: ['y'] },
    ],
  });
}

describe('dynamic int8 quantization (quantize_dynamic models)', () => {
  let dqRepo: string;
  let dqServer: SluiceServer;
  let dqClient: KServeClient;
  const mode = (value: string): string =>
    `parameters { key: "sluice.dynamic_quantization" value: { string_value: "${value}" } }\n`;

  before(async () => {
    dqRepo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-native-dq-'));
    const model = dynamicQuantModel();
    writeModelRepository(dqRepo, [
      { name: 'dq_auto', versions: { '1': model } },
      { name: 'dq_per_row', versions: { '1': model }, config: config('native', mode('per_row')) },
      { name: 'dq_ort', versions: { '1': model }, config: config('onnxruntime') },
      { name: 'dq_bad', versions: { '1': model }, config: config('native', mode('per_batch')) },
      { name: 'dq_bad_auto', versions: { '1': model }, config: config('auto', mode('per_batch')) },
    ]);
    dqServer = await SluiceServer.start({ modelRepository: dqRepo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
      maxMessageBytes: 1 << 20, logger: () => {} });
    dqClient = new KServeClient(`127.0.0.1:${dqServer.grpcPort}`);
  });

  after(async () => {
    dqClient.close();
    await dqServer.stop(5_000);
    fs.rmSync(dqRepo, { recursive: true, force: true });
  });

  async function dqInfer(model: string, x: Float32Array): Promise<Float32Array> {
    const res = await dqClient.call('ModelInfer', { model_name: model,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [x.length / IN, IN] }],
      raw_input_contents: [Buffer.from(x.buffer, x.byteOffset, x.byteLength)] });
    const raw = (res['raw_output_contents'] as Buffer[])[0] as Buffer;
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }

  it('runs on the native engine (Cast and the pattern supported) and agrees with ONNX Runtime', async () => {
    const res = await dqClient.call('ModelConfig', { name: 'dq_auto' });
    assert.equal((res['config'] as { backend: string }).backend, 'native');
    for (const n of [1, 3]) {
      const x = rows(n, n);
      // A value that lands on a rounding tie in one runtime and not the other moves by one step.
      assertClose(await dqInfer('dq_auto', x), await dqInfer('dq_ort', x), 0.03);
    }
  });

  it('per_row gives each row the result it gets alone (batch invariance)', async () => {
    const x = Float32Array.from(rows(3, 5), (v, i) => v * (i < IN ? 0.05 : 1));  // a small first row
    const batched = await dqInfer('dq_per_row', x);
    for (let r = 0; r < 3; r++) {
      const alone = await dqInfer('dq_per_row', x.slice(r * IN, (r + 1) * IN));
      assert.deepEqual(batched.slice(r * OUT, (r + 1) * OUT), alone);
    }
    assertClose(batched, await dqInfer('dq_ort', x), 0.05);
  });

  it('an unknown sluice.dynamic_quantization value fails the model, naming the parameter', async () => {
    const res = await dqClient.call('RepositoryIndex', {});
    // Under `auto` too: not taken for an engine refusal and served, parameter ignored, on ORT.
    for (const name of ['dq_bad', 'dq_bad_auto']) {
      const entry = (res['models'] as { name: string; state: string; reason: string }[]).find((m) => m.name === name);
      assert.equal(entry?.state, 'UNAVAILABLE', name);
      assert.match(entry?.reason ?? '', /sluice\.dynamic_quantization must be per_tensor or per_row, got 'per_batch'/);
    }
  });
});
