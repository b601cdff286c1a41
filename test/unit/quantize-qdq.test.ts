import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { int64ToSafeNumber, onnxType } from '../../src/onnx/onnx-proto';
import { attr, buildModel, type NodeSpec, type TensorSpec } from '../../src/onnx/writer';
import { sampleSetFromArrays, type SampleSet } from '../../src/quantize/calibration-data';
import { decodeModel, initializerValues, type ModelObj } from '../../src/quantize/model-object';
import { activationParams, fakeQuantizeU8, quantizeWeights, roundHalfEven } from '../../src/quantize/quant-math';
import { quantizeModel } from '../../src/quantize/quantize-model';
import { SluiceError } from '../../src/runtime/status';

const IN = 16;
const HIDDEN = 32;
const OUT = 8;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Mlp { readonly model: Uint8Array; readonly w0: Float32Array; readonly b0: Float32Array; readonly w1t: Float32Array; readonly b1: Float32Array }

/** x[batch,16] → MatMul W0[16,32] → Add b0 → Relu → Gemm(W1ᵀ [8,32], b1, transB=1) → y[batch,8]. */
function randomMlp(seed: number, opset = 17): Mlp {
  const r = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const w0 = Float32Array.from({ length: IN * HIDDEN }, () => normal() * 0.35);
  const b0 = Float32Array.from({ length: HIDDEN }, () => normal() * 0.1);
  const w1t = Float32Array.from({ length: OUT * HIDDEN }, () => normal() * 0.25);
  const b1 = Float32Array.from({ length: OUT }, () => normal() * 0.1);
  const initializers: TensorSpec[] = [
    { name: 'W0', datatype: 'FP32', dims: [IN, HIDDEN], data: w0 },
    { name: 'b0', datatype: 'FP32', dims: [HIDDEN], data: b0 },
    { name: 'W1', datatype: 'FP32', dims: [OUT, HIDDEN], data: w1t },
    { name: 'b1', datatype: 'FP32', dims: [OUT], data: b1 },
  ];
  const nodes: NodeSpec[] = [
    { opType: 'MatMul', name: 'mm0', inputs: ['x', 'W0'], outputs: ['h0'] },
    { opType: 'Add', name: 'add0', inputs: ['h0', 'b0'], outputs: ['z0'] },
    { opType: 'Relu', name: 'relu0', inputs: ['z0'], outputs: ['a0'] },
    { opType: 'Gemm', name: 'gemm1', inputs: ['a0', 'W1', 'b1'], outputs: ['y'], attributes: { transB: attr.int(1) } },
  ];
  const model = buildModel({ opset, inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', IN] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', OUT] }], initializers, nodes });
  return { model, w0, b0, w1t, b1 };
}

function samples(seed: number, rows: number): { set: SampleSet; x: Float32Array } {
  const r = rng(seed);
  const x = Float32Array.from({ length: rows * IN }, () => r() * 3 - 1); // in [-1, 2): asymmetric on purpose
  const set = sampleSetFromArrays(`random ${seed}`, new Map([['x', [{ shape: [rows, IN], values: x }]]]),
    [{ name: 'x', datatype: 'FP32', onnxElemType: 1, shape: [-1, IN] }]);
  return { set, x };
}

function decoded(bytes: Uint8Array): ModelObj {
  return decodeModel(bytes, 'test');
}

function initializer(m: ModelObj, name: string): { dims: readonly number[]; data: ArrayLike<number | bigint>; datatype: string } {
  const t = m.graph.initializer.find((i) => i.name === name);
  assert.ok(t !== undefined, `no initializer ${name}`);
  const v = initializerValues(t);
  return { dims: v.dims, data: v.data as ArrayLike<number>, datatype: v.datatype };
}

/** `optimize: false` runs each QuantizeLinear/DequantizeLinear as written (no fusion into integer kernels). */
async function runOrt(model: Uint8Array, x: Float32Array, rows: number, inputs = IN, optimize = true): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: optimize ? 'all' : 'disabled' });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, [rows, inputs]) });
    return out[session.outputNames[0] as string]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('quantization arithmetic', () => {
  it('rounds half to even, as QuantizeLinear does', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, 3, -3]);
  });

  it('gives each output channel of a known weight matrix its own symmetric scale', () => {
    // [3, 2]: channels are columns (MatMul's B, Gemm's B without transB).
    const w = Float32Array.of(1, -2, 0.5, 4, -3, 1);
    const cols = quantizeWeights(w, [3, 2], 1);
    assert.deepEqual(Array.from(cols.scales), [Math.fround(3 / 127), Math.fround(4 / 127)]);
    // -2 / (4/127) = -63.5 → ties to even → -64; 1 / (4/127) = 31.75 → 32.
    assert.deepEqual(Array.from(cols.values), [42, -64, 21, 127, -127, 32]);
    // Channels as rows (Gemm with transB): max |row| = 2, 4, 3.
    const rows = quantizeWeights(w, [3, 2], 0);
    assert.deepEqual(Array.from(rows.scales), [2 / 127, 4 / 127, 3 / 127].map(Math.fround));
    assert.deepEqual(Array.from(rows.values), [64, -127, 16, 127, -127, 42]);
    // One scale, and an all-zero channel gets scale 1 (not 0).
    assert.deepEqual(Array.from(quantizeWeights(w, [3, 2], undefined).scales), [Math.fround(4 / 127)]);
    assert.deepEqual(Array.from(quantizeWeights(Float32Array.of(0, 5, 0, -5), [2, 2], 1).scales), [1, Math.fround(5 / 127)]);
  });

  it('maps calibrated ranges to uint8 scale and zero point, keeping 0 exact', () => {
    assert.deepEqual(activationParams(0, 2.55), { scale: Math.fround(2.55 / 255), zeroPoint: 0 });
    assert.deepEqual(activationParams(0.5, 2.55), { scale: Math.fround(2.55 / 255), zeroPoint: 0 }); // widened to 0
    // 1 / fround(2/255) = 127.49999…: the FP32 scale decides the zero point.
    assert.deepEqual(activationParams(-1, 1), { scale: Math.fround(2 / 255), zeroPoint: 127 });
    assert.deepEqual(activationParams(-2, -1), { scale: Math.fround(2 / 255), zeroPoint: 255 });
    assert.deepEqual(activationParams(0, 0), { scale: 1, zeroPoint: 0 });
    assert.throws(() => activationParams(NaN, 1), RangeError);
    const p = activationParams(-1, 3);
    assert.equal(fakeQuantizeU8(0, p), 0);
    assert.ok(Math.abs(fakeQuantizeU8(1.234, p) - 1.234) <= p.scale / 2 + 1e-7);
    assert.equal(fakeQuantizeU8(100, p), (255 - p.zeroPoint) * p.scale); // saturates
  });
});

describe('QDQ rewrite', () => {
  it('puts DequantizeLinear on every MatMul/Gemm weight and Q/DQ on every activation, leaving the rest', async () => {
    const mlp = randomMlp(1);
    const { set, x } = samples(2, 64);
    const result = await quantizeModel(mlp.model, { source: 'mlp', calibration: set });
    const m = decoded(result.model);
    assert.deepEqual(m.graph.node.map((n) => `${n.op_type}(${n.input.join(',')})`), [
      'QuantizeLinear(x,x_scale,x_zero_point)', 'DequantizeLinear(x_quantized,x_scale,x_zero_point)',
      'DequantizeLinear(W0_quantized,W0_scale,W0_zero_point)',
      'MatMul(x_dequantized,W0_dequantized)', 'Add(h0,b0)', 'Relu(z0)',
      'QuantizeLinear(a0,a0_scale,a0_zero_point)', 'DequantizeLinear(a0_quantized,a0_scale,a0_zero_point)',
      'DequantizeLinear(W1_quantized,W1_scale,W1_zero_point)',
      'Gemm(a0_dequantized,W1_dequantized,b1)',
    ]);
    const axis = (name: string): number | undefined => {
      const a = m.graph.node.find((n) => n.name === name)?.attribute.find((x) => x.name === 'axis');
      // proto3 leaves a zero `i` off the wire; the attribute's presence is what says "axis = 0".
      return a === undefined ? undefined : a.i === undefined ? 0 : int64ToSafeNumber(a.i);
    };
    assert.equal(axis('W0_DequantizeLinear'), 1); // MatMul B [16, 32]: columns
    assert.equal(axis('W1_DequantizeLinear'), 0); // Gemm B with transB [8, 32]: rows
    assert.equal(axis('x_DequantizeLinear'), undefined);

    const names = m.graph.initializer.map((t) => t.name);
    assert.ok(!names.includes('W0') && !names.includes('W1'), 'the float weights are gone');
    const w0q = initializer(m, 'W0_quantized');
    assert.deepEqual([w0q.datatype, w0q.dims], ['INT8', [IN, HIDDEN]]);
    const w1q = initializer(m, 'W1_quantized');
    assert.deepEqual([w1q.datatype, w1q.dims], ['INT8', [OUT, HIDDEN]]);
    const w1scale = initializer(m, 'W1_scale');
    assert.deepEqual(Array.from(w1scale.data as Float32Array), Array.from(quantizeWeights(mlp.w1t, [OUT, HIDDEN], 0).scales));
    assert.deepEqual(initializer(m, 'W1_zero_point').datatype, 'INT8');
    assert.deepEqual(Array.from(initializer(m, 'W1_zero_point').data as Int8Array), new Array(OUT).fill(0));
    const b1 = initializer(m, 'b1');
    assert.deepEqual([b1.datatype, Array.from(b1.data as Float32Array)], ['FP32', Array.from(mlp.b1)], 'the bias stays float');

    // The input's scale comes from its calibrated range.
    const p = activationParams(Math.min(...x), Math.max(...x));
    assert.deepEqual(Array.from(initializer(m, 'x_scale').data as Float32Array), [p.scale]);
    assert.deepEqual([initializer(m, 'x_zero_point').datatype, Array.from(initializer(m, 'x_zero_point').data as Uint8Array)],
      ['UINT8', [p.zeroPoint]]);
    assert.deepEqual(result.summary.nodes.map((n) => [n.node, n.weights.map((w) => [w.name, w.axis, w.channels]), n.activations]), [
      ['mm0', [['W0', 1, HIDDEN]], ['x']], ['gemm1', [['W1', 0, OUT]], ['a0']],
    ]);
  });

  it('runs in ONNX Runtime and matches both the QDQ arithmetic and the FP32 model within quantization error', async () => {
    const mlp = randomMlp(3);
    const rows = 100;
    const calibration = samples(4, 256).set;
    const { x } = samples(5, rows);
    const result = await quantizeModel(mlp.model, { source: 'mlp', calibration });
    const fp32 = await runOrt(mlp.model, x, rows);
    const int8 = await runOrt(result.model, x, rows);
    const unfused = await runOrt(result.model, x, rows, IN, false);

    // Reference for the QDQ graph's meaning: fake-quantized activations, dequantized weights, float math.
    const dq = (w: Float32Array, dims: number[], axis: number): Float64Array => {
      const q = quantizeWeights(w, dims, axis);
      const inner = axis === 1 ? dims[1] as number : 1;
      return Float64Array.from(q.values, (v, i) => v * (q.scales[axis === 1 ? i % inner : Math.floor(i / (dims[1] as number))] as number));
    };
    const w0 = dq(mlp.w0, [IN, HIDDEN], 1);
    const w1t = dq(mlp.w1t, [OUT, HIDDEN], 0);
    const rx = result.ranges.get('x');
    const ra = result.ranges.get('a0');
    assert.ok(rx !== undefined && ra !== undefined);
    const px = activationParams(rx.min, rx.max);
    const pa = activationParams(ra.min, ra.max);
    let worst = 0;
    let scale = 0;
    for (let r = 0; r < rows; r++) {
      const a = new Float64Array(HIDDEN);
      for (let j = 0; j < HIDDEN; j++) {
        let s = 0;
        for (let k = 0; k < IN; k++) s += fakeQuantizeU8(x[r * IN + k] as number, px) * (w0[k * HIDDEN + j] as number);
        a[j] = fakeQuantizeU8(Math.max(0, Math.fround(s) + (mlp.b0[j] as number)), pa);
      }
      for (let o = 0; o < OUT; o++) {
        let s = mlp.b1[o] as number;
        for (let j = 0; j < HIDDEN; j++) s += (a[j] as number) * (w1t[o * HIDDEN + j] as number);
        worst = Math.max(worst, Math.abs(s - (unfused[r * OUT + o] as number)));
        scale = Math.max(scale, Math.abs(s));
      }
    }
    assert.ok(worst <= 1e-4 * scale, `ONNX Runtime (unfused) vs QDQ reference: max |Δ| ${worst} (output scale ${scale})`);

    // Fused into integer kernels, ORT rounds some intermediate codes differently: a code's worth.
    const fusedVsUnfused = int8.reduce((m, v, i) => Math.max(m, Math.abs(v - (unfused[i] as number))), 0);
    assert.ok(fusedVsUnfused <= 0.01 * scale, `fused vs unfused ${fusedVsUnfused}`);

    let dot = 0; let n1 = 0; let n2 = 0; let maxErr = 0; let agree = 0;
    for (let i = 0; i < fp32.length; i++) {
      const a = fp32[i] as number; const b = int8[i] as number;
      dot += a * b; n1 += a * a; n2 += b * b; maxErr = Math.max(maxErr, Math.abs(a - b));
    }
    for (let r = 0; r < rows; r++) {
      const top = (v: Float32Array): number => { let best = 0; for (let o = 1; o < OUT; o++) if ((v[r * OUT + o] as number) > (v[r * OUT + best] as number)) best = o; return best; };
      if (top(fp32) === top(int8)) agree += 1;
    }
    const cosine = dot / Math.sqrt(n1 * n2);
    assert.ok(cosine > 0.999, `cosine ${cosine}`);
    assert.ok(maxErr < 0.05 * scale, `max |FP32 - INT8| ${maxErr} (output scale ${scale})`);
    assert.ok(agree >= 0.95 * rows, `top-1 agreement ${agree}/${rows}`);
  });

  it('quantizes an activation read by several nodes once, and both inputs of an activation × activation MatMul', async () => {
    const model = buildModel({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2] }],
      outputs: [{ name: 'p', datatype: 'FP32', shape: [2, 2] }, { name: 'q', datatype: 'FP32', shape: [2, 2] }],
      initializers: [{ name: 'W', datatype: 'FP32', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) }],
      nodes: [
        { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['p'] },
        { opType: 'MatMul', inputs: ['x', 'x'], outputs: ['q'] },
      ],
    });
    const calibration = sampleSetFromArrays('m', new Map([['x', [{ shape: [2, 2], values: Float32Array.of(0, 1, 2, 3) }]]]),
      [{ name: 'x', datatype: 'FP32', onnxElemType: 1, shape: [2, 2] }]);
    const result = await quantizeModel(model, { source: 'm', calibration });
    const m = decoded(result.model);
    assert.equal(m.graph.node.filter((n) => n.op_type === 'QuantizeLinear').length, 1);
    assert.deepEqual(m.graph.node.filter((n) => n.op_type === 'MatMul').map((n) => n.input),
      [['x_dequantized', 'W_dequantized'], ['x_dequantized', 'x_dequantized']]);
    const out = await runOrt(result.model, Float32Array.of(0, 1, 2, 3), 2, 2);
    // x = [[0, 1], [2, 3]] in steps of 3/255: x·W = [[3, 4], [11, 16]], x·x = [[2, 3], [6, 11]].
    Array.from(out).forEach((v, i) => assert.ok(Math.abs(v - ([3, 4, 11, 16][i] as number)) < 0.05, `p[${i}] = ${v}`));
  });

  it('raises opset 11 to 13 when no op changed meaning, and refuses when one did', async () => {
    const { set } = samples(6, 8);
    const ok = await quantizeModel(randomMlp(7, 11).model, { source: 'old', calibration: set });
    assert.equal(ok.summary.opsetRaisedFrom, 11);
    const m = decoded(ok.model);
    assert.deepEqual(m.opset_import.map((o) => int64ToSafeNumber(o.version)), [13]);
    await ort.InferenceSession.create(ok.model).then((s) => s.release());

    const softmax = buildModel({ opset: 11, inputs: [{ name: 'x', datatype: 'FP32', shape: ['n', IN] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: ['n', 2] }],
      initializers: [{ name: 'W', datatype: 'FP32', dims: [IN, 2], data: new Float32Array(IN * 2).fill(0.5) }],
      nodes: [{ opType: 'MatMul', inputs: ['x', 'W'], outputs: ['h'] }, { opType: 'Softmax', inputs: ['h'], outputs: ['y'] }] });
    await assert.rejects(quantizeModel(softmax, { source: 'old', calibration: set }),
      (e: unknown) => e instanceof SluiceError && e.code === 'UNIMPLEMENTED' && /Softmax changed meaning between opset 11 and 13/.test(e.message));
  });

  it('says when there is nothing to quantize, or the model is quantized already', async () => {
    const { set } = samples(8, 4);
    const relu = buildModel({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['n', IN] }], outputs: [{ name: 'y', datatype: 'FP32', shape: ['n', IN] }],
      nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }] });
    await assert.rejects(quantizeModel(relu, { source: 'relu.onnx', calibration: set }),
      (e: unknown) => e instanceof SluiceError && e.code === 'INVALID_ARGUMENT' && /nothing to quantize in relu\.onnx: it has no MatMul or Gemm/.test(e.message));
    const f64 = buildModel({ inputs: [{ name: 'x', datatype: 'FP64', shape: ['n', 2] }], outputs: [{ name: 'y', datatype: 'FP64', shape: ['n', 2] }],
      initializers: [{ name: 'W', datatype: 'FP64', dims: [2, 2], data: new Float64Array(4) }],
      nodes: [{ opType: 'MatMul', inputs: ['x', 'W'], outputs: ['y'] }] });
    await assert.rejects(quantizeModel(f64, { source: 'f64', calibration: set }), /nothing to quantize in f64: .*'W' is not FP32/);
    const once = await quantizeModel(randomMlp(9).model, { source: 'mlp', calibration: set });
    await assert.rejects(quantizeModel(once.model, { source: 'q.onnx', calibration: set }), /q\.onnx is already quantized/);
  });

  it('writes the same bytes for the same inputs', async () => {
    const { set } = samples(10, 32);
    const a = await quantizeModel(randomMlp(11).model, { source: 'a', calibration: set });
    const b = await quantizeModel(randomMlp(11).model, { source: 'a', calibration: set });
    assert.deepEqual(a.model, b.model);
    onnxType('ModelProto').decode(a.model); // and it is a valid ModelProto
  });
});
