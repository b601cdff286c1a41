/**
 * A QDQ transformer encoder layer (the bench's encoder-s32 INT8 model, as `sluice quantize`
 * writes it) through the whole native path: its attention products fuse into QuantizedMatMul,
 * a batch larger than the engine's row chunk runs in chunks, and the result stays within
 * quantization error of ONNX Runtime on the same QDQ model while every row is exactly what it
 * is when run alone (the int8 path is exact integer arithmetic, so chunking and batching change
 * no bit). The FP32 layer's attention products fuse into PermutedMatMul (no head-split
 * Transpose or scale left) and agree with ONNX Runtime to float rounding. In both, each residual
 * Add joins the LayerNormalization that reads it (AddLayerNormalization).
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildModelPair, ENGINE_MODELS } from '../../bench/engine/engine-models';
import { native, type NativeEngine } from '../../src/native';
import { importOnnxGraph } from '../../src/onnx/graph-import';

const floats = (t: { data: Uint8Array }): Float32Array =>
  new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);

const spec = ENGINE_MODELS['encoder-s32'];
const perRow = spec.rowShape.reduce((a, b) => a * b, 1);

interface EncoderRun {
  readonly engine: NativeEngine;
  readonly x: Float32Array;
  /** The engine's output for all rows, and ONNX Runtime's for the same model and input. */
  readonly y: Float32Array;
  readonly want: Float32Array;
}

/** Loads one precision of the encoder in the engine (2 threads) and ORT, runs `rows` on both. */
async function runEncoder(precision: 'fp32' | 'int8', rows: number, seed: number,
  check: (run: EncoderRun) => Promise<void>): Promise<void> {
  const pair = await buildModelPair(spec);
  const model = pair[precision === 'fp32' ? 0 : 1];
  const engine = await native().loadEngine(importOnnxGraph(model.bytes, 'encoder-s32').graph, { threads: 2 });
  const session = await ort.InferenceSession.create(model.bytes, { logSeverityLevel: 3 });
  try {
    const x = spec.sample(rows, seed);
    const shape = [rows, ...spec.rowShape];
    const [out] = await engine.run([{ dtype: 1, shape, data: x }]);
    assert.ok(out !== undefined);
    assert.deepEqual(out.shape, shape);
    const ref = (await session.run({ [spec.inputName]: new ort.Tensor('float32', x, shape) }))[session.outputNames[0] ?? ''];
    assert.ok(ref !== undefined);
    await check({ engine, x, y: floats(out), want: ref.data as Float32Array });
  } finally {
    await session.release();
    await engine.close();
  }
}

/** Row r of x alone through the engine. */
async function rowAlone(engine: NativeEngine, x: Float32Array, r: number): Promise<Float32Array> {
  const [alone] = await engine.run([{ dtype: 1, shape: [1, ...spec.rowShape], data: x.subarray(r * perRow, (r + 1) * perRow) }]);
  assert.ok(alone !== undefined);
  return floats(alone);
}

/** The layer's two residual Adds are formed inside the LayerNormalizations that read them. */
function assertResidualsJoinLayerNorms(plan: string): void {
  assert.equal(plan.match(/AddLayerNormalization\[/g)?.length, 2, plan);
  assert.doesNotMatch(plan, /: Add '|: LayerNormalization\[/);
}

test('FP32 encoder: attention on strided layouts, ONNX Runtime agreement, rows alone', async () => {
  await runEncoder('fp32', 3, 6, async ({ engine, x, y, want }) => {
    const plan = engine.describe();
    assert.equal(plan.match(/PermutedMatMul\[/g)?.length, 2, plan);
    assert.doesNotMatch(plan, /Transpose|Div '|MatMul '/);
    assertResidualsJoinLayerNorms(plan);
    let diff = 0;
    for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs((y[i] ?? NaN) - (want[i] ?? NaN)));
    // LayerNorm-ed outputs are O(1): float rounding in a different summation order only.
    assert.ok(diff <= 1e-4, `max |native - ORT| ${diff}`);
    const row = await rowAlone(engine, x, 1);
    for (let i = 0; i < perRow; i++) assert.ok(Math.abs((row[i] ?? NaN) - (y[perRow + i] ?? NaN)) <= 1e-5, `element ${i}`);
  });
});

test('QDQ encoder: int8 attention, row chunks, ONNX Runtime agreement, batch invariance', async () => {
  const rows = 64;  // more than one row chunk (40 sequences of 32 tokens in the default 8 MiB)
  await runEncoder('int8', rows, 5, async ({ engine, x, y, want }) => {
    const plan = engine.describe();
    assert.equal(plan.match(/QuantizedMatMul\[/g)?.length, 2, plan);
    assert.doesNotMatch(plan, /FakeQuantize|Div '|MatMul '/);
    assertResidualsJoinLayerNorms(plan);
    assert.ok(engine.rowChunk > 0 && engine.rowChunk < rows, `row chunk ${engine.rowChunk}`);
    let diff = 0, scale = 0;
    for (let i = 0; i < want.length; i++) {
      diff = Math.max(diff, Math.abs((y[i] ?? NaN) - (want[i] ?? NaN)));
      scale = Math.max(scale, Math.abs(want[i] ?? 0));
    }
    // Rounding differences flip a few activations by one quantization step: a small fraction of
    // the output range, never a different result.
    assert.ok(diff <= 0.02 * scale, `max |native - ORT| ${diff} vs output range ${scale}`);
    for (const r of [0, 17, rows - 1]) {
      assert.deepEqual(await rowAlone(engine, x, r), y.subarray(r * perRow, (r + 1) * perRow), `row ${r}`);
    }
  });
});
