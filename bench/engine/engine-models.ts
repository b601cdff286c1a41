/**
 * The engine section's models, built with the ONNX writer from fixed seeds (byte-identical on
 * every run), each in FP32 and as the QDQ INT8 model `sluice quantize` writes (quantizeModel,
 * calibrated on 64 seeded random samples held in memory).
 *
 * One "row" is one sample along the batch axis: a feature vector for the MLPs, a whole sequence
 * of `seq` tokens for the encoder layer (so encoder rows/s are sequences/s).
 */
import { attr, buildModel, type NodeSpec, type TensorSpec } from '../../src/onnx/writer';
import { sampleSetFromArrays } from '../../src/quantize/calibration-data';
import { quantizeModel } from '../../src/quantize/quantize-model';
import { mlpModel } from '../models';
import { seededRng, type Rng } from '../rng';

export type EngineModelKey = 'mlp-784' | 'mlp-2048' | 'encoder-s32' | 'encoder-s128';
export const ENGINE_MODEL_KEYS: readonly EngineModelKey[] = ['mlp-784', 'mlp-2048', 'encoder-s32', 'encoder-s128'];

export interface EngineModelSpec {
  readonly key: EngineModelKey;
  readonly description: string;
  /** The one input's dims after the batch dim. */
  readonly rowShape: readonly number[];
  readonly inputName: string;
  /** FP32 bytes (deterministic). */
  build(): Uint8Array;
  /** `rows` samples of the input, flattened, from `seed`. */
  sample(rows: number, seed: number): Float32Array;
}

export type Precision = 'fp32' | 'int8';

export interface BuiltModel {
  readonly spec: EngineModelSpec;
  readonly precision: Precision;
  readonly bytes: Uint8Array;
}

export const CALIBRATION_SAMPLES = 64;
const CALIBRATION_SEED = 7001;

const HIDDEN = 256;
const HEADS = 4;
const HEAD_DIM = HIDDEN / HEADS;
const FFN = 1024;
const LN_EPS = 1e-5;

function uniform(rand: Rng, n: number, bound: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * bound;
  return a;
}

/** Approximately standard normal (sum of 4 uniforms, rescaled): activations like an embedding's. */
function normalish(rand: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() + rand() + rand() + rand() - 2) * Math.sqrt(3);
  return a;
}

const scalar = (name: string, v: number): TensorSpec => ({ name, datatype: 'FP32', dims: [], data: Float32Array.of(v) });

/** "x" [batch, 784] → Gemm 256 → Relu → Gemm 128 → Relu → Gemm 10 → "y"; He-uniform weights. */
function mlp784(): Uint8Array {
  const rand = seededRng(784);
  const layers = [784, 256, 128, 10];
  const initializers: TensorSpec[] = [];
  const nodes: NodeSpec[] = [];
  let prev = 'x';
  for (let i = 0; i + 1 < layers.length; i++) {
    const fanIn = layers[i] as number;
    const fanOut = layers[i + 1] as number;
    initializers.push({ name: `W${i}`, datatype: 'FP32', dims: [fanIn, fanOut], data: uniform(rand, fanIn * fanOut, Math.sqrt(6 / fanIn)) });
    initializers.push({ name: `B${i}`, datatype: 'FP32', dims: [fanOut], data: uniform(rand, fanOut, 0.05) });
    const last = i + 2 === layers.length;
    const out = last ? 'y' : `gemm${i}`;
    nodes.push({ opType: 'Gemm', name: `dense${i}`, inputs: [prev, `W${i}`, `B${i}`], outputs: [out] });
    if (!last) nodes.push({ opType: 'Relu', name: `relu${i}`, inputs: [out], outputs: [`relu${i}`] });
    prev = `relu${i}`;
  }
  return buildModel({ inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', 784] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', 10] }], initializers, nodes });
}

/**
 * One post-norm transformer encoder layer as PyTorch exports it at opset 17: separate Q/K/V
 * projections, heads split with Reshape + Transpose, scaled dot-product attention with a
 * division by sqrt(head dim), and LayerNorm and GELU decomposed into elementwise ops (the
 * patterns the engine's fusion passes have to recognise). Xavier-uniform weights.
 */
function encoderLayer(seq: number): Uint8Array {
  const rand = seededRng(1000 + seq);
  const initializers: TensorSpec[] = [
    { name: 'heads_shape', datatype: 'INT64', dims: [4], data: BigInt64Array.of(0n, 0n, BigInt(HEADS), BigInt(HEAD_DIM)) },
    { name: 'merge_shape', datatype: 'INT64', dims: [3], data: BigInt64Array.of(0n, 0n, BigInt(HIDDEN)) },
    scalar('attn_scale', Math.sqrt(HEAD_DIM)), scalar('two', 2), scalar('ln_eps', LN_EPS),
    scalar('sqrt2', Math.SQRT2), scalar('one', 1), scalar('half', 0.5),
  ];
  const nodes: NodeSpec[] = [];
  // Each node's output is named after the node, except the graph output 'y'.
  const node = (opType: string, name: string, inputs: string[], attributes?: NodeSpec['attributes'], out = name): string => {
    nodes.push({ opType, name, inputs, outputs: [out], ...(attributes === undefined ? {} : { attributes }) });
    return out;
  };
  const linear = (name: string, x: string, fanIn: number, fanOut: number): string => {
    const bound = Math.sqrt(6 / (fanIn + fanOut));
    initializers.push({ name: `${name}.weight`, datatype: 'FP32', dims: [fanIn, fanOut], data: uniform(rand, fanIn * fanOut, bound) });
    initializers.push({ name: `${name}.bias`, datatype: 'FP32', dims: [fanOut], data: uniform(rand, fanOut, 0.02) });
    return node('Add', `${name}.add`, [node('MatMul', `${name}.matmul`, [x, `${name}.weight`]), `${name}.bias`]);
  };
  const layerNorm = (name: string, x: string, out = `${name}.add_beta`): string => {
    initializers.push({ name: `${name}.gamma`, datatype: 'FP32', dims: [HIDDEN], data: uniform(rand, HIDDEN, 0.1).map((v) => 1 + v) });
    initializers.push({ name: `${name}.beta`, datatype: 'FP32', dims: [HIDDEN], data: uniform(rand, HIDDEN, 0.1) });
    const reduce = { axes: attr.ints([-1]), keepdims: attr.int(1) };
    const mean = node('ReduceMean', `${name}.mean`, [x], reduce);
    const centered = node('Sub', `${name}.sub`, [x, mean]);
    const variance = node('ReduceMean', `${name}.var`, [node('Pow', `${name}.pow`, [centered, 'two'])], reduce);
    const std = node('Sqrt', `${name}.sqrt`, [node('Add', `${name}.add_eps`, [variance, 'ln_eps'])]);
    const normed = node('Div', `${name}.div`, [centered, std]);
    return node('Add', `${name}.add_beta`, [node('Mul', `${name}.mul_gamma`, [normed, `${name}.gamma`]), `${name}.beta`], undefined, out);
  };
  const splitHeads = (name: string, x: string, perm: readonly number[]): string =>
    node('Transpose', `${name}.transpose`, [node('Reshape', `${name}.reshape`, [x, 'heads_shape'])], { perm: attr.ints(perm) });

  const q = splitHeads('q', linear('q_proj', 'x', HIDDEN, HIDDEN), [0, 2, 1, 3]); // [b, h, s, d]
  const kT = splitHeads('k', linear('k_proj', 'x', HIDDEN, HIDDEN), [0, 2, 3, 1]); // [b, h, d, s]
  const v = splitHeads('v', linear('v_proj', 'x', HIDDEN, HIDDEN), [0, 2, 1, 3]); // [b, h, s, d]
  const scores = node('Div', 'attn.scale', [node('MatMul', 'attn.qk', [q, kT]), 'attn_scale']);
  const probs = node('Softmax', 'attn.softmax', [scores], { axis: attr.int(-1) });
  const context = node('MatMul', 'attn.pv', [probs, v]);
  const merged = node('Reshape', 'attn.merge', [node('Transpose', 'attn.unheads', [context], { perm: attr.ints([0, 2, 1, 3]) }), 'merge_shape']);
  const attnOut = linear('out_proj', merged, HIDDEN, HIDDEN);
  const ln1 = layerNorm('ln1', node('Add', 'residual1', ['x', attnOut]));
  const up = linear('ffn_up', ln1, HIDDEN, FFN);
  const erf = node('Erf', 'gelu.erf', [node('Div', 'gelu.div', [up, 'sqrt2'])]);
  const gelu = node('Mul', 'gelu.mul_half', [node('Mul', 'gelu.mul_x', [up, node('Add', 'gelu.add_one', [erf, 'one'])]), 'half']);
  const down = linear('ffn_down', gelu, FFN, HIDDEN);
  layerNorm('ln2', node('Add', 'residual2', [ln1, down]), 'y');
  return buildModel({ opset: 17, inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', seq, HIDDEN] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', seq, HIDDEN] }], initializers, nodes });
}

function encoderSpec(key: EngineModelKey, seq: number): EngineModelSpec {
  return {
    key, inputName: 'x', rowShape: [seq, HIDDEN], build: () => encoderLayer(seq),
    description: `transformer encoder layer, hidden ${HIDDEN}, ${HEADS} heads, FFN ${FFN}, sequence ${seq} (row = one sequence)`,
    sample: (rows, seed) => normalish(seededRng(seed), rows * seq * HIDDEN),
  };
}

export const ENGINE_MODELS: Readonly<Record<EngineModelKey, EngineModelSpec>> = {
  'mlp-784': {
    key: 'mlp-784', inputName: 'x', rowShape: [784], build: mlp784,
    description: 'MLP 784→256→128→10 (Gemm+Relu ×2, Gemm; ~0.47 MFLOP/row)',
    // Pixel-like inputs in [0, 1).
    sample: (rows, seed) => { const r = seededRng(seed); return Float32Array.from({ length: rows * 784 }, () => r()); },
  },
  'mlp-2048': {
    key: 'mlp-2048', inputName: 'x', rowShape: [512], build: () => mlpModel(),
    description: 'MLP 512→2048→2048→512 (Gemm+Relu ×2, Gemm; ~12.6 MFLOP/row)',
    sample: (rows, seed) => uniform(seededRng(seed), rows * 512, 1),
  },
  'encoder-s32': encoderSpec('encoder-s32', 32),
  'encoder-s128': encoderSpec('encoder-s128', 128),
};

/** The FP32 model and its INT8 QDQ version (quantizeModel, 64 seeded calibration samples). */
export async function buildModelPair(spec: EngineModelSpec): Promise<readonly [BuiltModel, BuiltModel]> {
  const fp32 = spec.build();
  const values = spec.sample(CALIBRATION_SAMPLES, CALIBRATION_SEED);
  const shape = [CALIBRATION_SAMPLES, ...spec.rowShape];
  const calibration = sampleSetFromArrays(`${spec.key} calibration`, new Map([[spec.inputName, [{ shape, values }]]]),
    [{ name: spec.inputName, datatype: 'FP32', onnxElemType: 1, shape: [-1, ...spec.rowShape] }]);
  const { model } = await quantizeModel(fp32, { source: spec.key, calibration });
  return [{ spec, precision: 'fp32', bytes: fp32 }, { spec, precision: 'int8', bytes: model }];
}
