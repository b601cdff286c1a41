/**
 * Trains the example "digits" classifier and writes the example model repository.
 *
 *   npx tsc -p . && node dist/scripts/train-example.js
 *
 * Data: examples/data/digits.csv.gz (scikit-learn's copy of the UCI optical digits test set:
 * 1,797 rows of 64 pixel counts 0–16 and a label 0–9). A fixed, stratified 80/20 split keeps 20%
 * of each class out of training. Version 1 is multinomial logistic regression (64→10), version 2
 * an MLP (64→64 ReLU→10); both train with minibatch Adam in plain TypeScript from a seeded PRNG,
 * so every run writes byte-identical models.
 *
 * Each model takes "pixels" FP32 [batch, 64] as raw 0–16 values (the /16 scaling used in
 * training is folded into the first layer's weights) and returns "probabilities" FP32 [batch, 10]
 * (Softmax) and "label" INT64 [batch] (ArgMax). Both are checked in onnxruntime-node against the
 * TypeScript forward pass on the held-out rows before anything is written.
 *
 * Writes examples/models/digits/{1,2}/model.onnx, examples/models/digits/config.pbtxt,
 * examples/data/accuracy.json and examples/data/digits-sample.json, then runs
 * scripts/quantize-example.ts, which writes version 3 (version 2 quantized to INT8 QDQ) and adds
 * it to accuracy.json. config.pbtxt serves all three versions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel, attr, type NodeSpec, type TensorSpec } from '../src/onnx/writer';
import {
  CLASSES, HELD_OUT_FRACTION, PIXELS, SEED, loadDigits, prng, shuffle, stratifiedSplit, type Sample,
} from './digits-data';
import { quantizeExample } from './quantize-example';

const ROOT = path.resolve(__dirname, '..', '..'); // this file runs from dist/scripts/
const DATA = path.join(ROOT, 'examples', 'data');
const MODEL_DIR = path.join(ROOT, 'examples', 'models', 'digits');
const PIXEL_MAX = 16;

/** Dense layer; w is [in, out] row-major, the layout ONNX Gemm takes as B without transB. */
interface Layer { readonly inSize: number; readonly outSize: number; readonly w: Float64Array; readonly b: Float64Array }

interface Recipe { readonly version: string; readonly description: string; readonly hidden: readonly number[];
  readonly epochs: number; readonly learningRate: number }

const RECIPES: readonly Recipe[] = [
  { version: '1', description: 'multinomial logistic regression (64→10)', hidden: [], epochs: 60, learningRate: 0.02 },
  { version: '2', description: 'MLP (64→64 ReLU→10)', hidden: [64], epochs: 60, learningRate: 0.005 },
];
const BATCH = 32;
const L2 = 1e-4;

function initLayers(sizes: readonly number[], rand: () => number): Layer[] {
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const layers: Layer[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const inSize = sizes[l] as number;
    const outSize = sizes[l + 1] as number;
    const std = Math.sqrt((l + 2 < sizes.length ? 2 : 1) / inSize); // He for ReLU layers, else Xavier-ish
    layers.push({ inSize, outSize, w: Float64Array.from({ length: inSize * outSize }, () => normal() * std), b: new Float64Array(outSize) });
  }
  return layers;
}

/** Activations of every layer: [input, hidden ReLU outputs..., logits]. */
function forward(layers: readonly Layer[], x: Float64Array): Float64Array[] {
  const acts = [x];
  layers.forEach((layer, l) => {
    const a = acts[l] as Float64Array;
    const z = Float64Array.from(layer.b);
    for (let i = 0; i < layer.inSize; i++) {
      const ai = a[i] as number;
      if (ai === 0) continue;
      for (let o = 0, r = i * layer.outSize; o < layer.outSize; o++) z[o] = (z[o] as number) + ai * (layer.w[r + o] as number);
    }
    if (l + 1 < layers.length) for (let o = 0; o < z.length; o++) z[o] = Math.max(0, z[o] as number);
    acts.push(z);
  });
  return acts;
}

function softmax(z: Float64Array): Float64Array {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((s, v) => s + v, 0);
  return e.map((v) => v / sum);
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if ((v[i] as number) > (v[best] as number)) best = i;
  return best;
}

const scaled = (s: Sample): Float64Array => s.pixels.map((p) => p / PIXEL_MAX);

/** Minibatch Adam on softmax cross-entropy with L2 on the weights. */
function train(recipe: Recipe, data: readonly Sample[], rand: () => number): Layer[] {
  const layers = initLayers([PIXELS, ...recipe.hidden, CLASSES], rand);
  const params = layers.flatMap((l) => [l.w, l.b]);
  const grads = params.map((p) => new Float64Array(p.length));
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  let step = 0;
  const order = data.map((_, i) => i);
  for (let epoch = 0; epoch < recipe.epochs; epoch++) {
    shuffle(order, rand);
    for (let start = 0; start < order.length; start += BATCH) {
      const batch = order.slice(start, start + BATCH);
      for (const g of grads) g.fill(0);
      for (const idx of batch) backward(layers, grads, data[idx] as Sample);
      step++;
      params.forEach((p, k) => {
        const g = grads[k] as Float64Array;
        const mk = m[k] as Float64Array;
        const vk = v[k] as Float64Array;
        const decay = k % 2 === 0 ? L2 : 0; // even k = weights, odd k = biases
        for (let i = 0; i < p.length; i++) {
          const gi = (g[i] as number) / batch.length + decay * (p[i] as number);
          mk[i] = beta1 * (mk[i] as number) + (1 - beta1) * gi;
          vk[i] = beta2 * (vk[i] as number) + (1 - beta2) * gi * gi;
          const mHat = (mk[i] as number) / (1 - beta1 ** step);
          const vHat = (vk[i] as number) / (1 - beta2 ** step);
          p[i] = (p[i] as number) - recipe.learningRate * mHat / (Math.sqrt(vHat) + eps);
        }
      });
    }
  }
  return layers;
}

/** Adds one sample's gradients to `grads` (laid out as [w0, b0, w1, b1, ...]). */
function backward(layers: readonly Layer[], grads: Float64Array[], s: Sample): void {
  const acts = forward(layers, scaled(s));
  let delta = softmax(acts[layers.length] as Float64Array);
  delta[s.label] = (delta[s.label] as number) - 1;
  for (let l = layers.length - 1; l >= 0; l--) {
    const layer = layers[l] as Layer;
    const a = acts[l] as Float64Array;
    const gw = grads[2 * l] as Float64Array;
    const gb = grads[2 * l + 1] as Float64Array;
    const prev = new Float64Array(layer.inSize);
    for (let i = 0; i < layer.inSize; i++) {
      const ai = a[i] as number;
      let back = 0;
      for (let o = 0, r = i * layer.outSize; o < layer.outSize; o++) {
        gw[r + o] = (gw[r + o] as number) + ai * (delta[o] as number);
        back += (layer.w[r + o] as number) * (delta[o] as number);
      }
      prev[i] = ai > 0 ? back : 0; // ReLU derivative; unused for the input layer
    }
    for (let o = 0; o < layer.outSize; o++) gb[o] = (gb[o] as number) + (delta[o] as number);
    delta = prev;
  }
}

/** The exported weights: FP32, with 1/16 folded into the first layer so the model takes raw pixels. */
function exportLayers(layers: readonly Layer[]): Layer[] {
  return layers.map((l, i) => ({
    ...l,
    w: Float64Array.from(Float32Array.from(l.w, (x) => (i === 0 ? x / PIXEL_MAX : x))),
    b: Float64Array.from(Float32Array.from(l.b)),
  }));
}

function toOnnx(layers: readonly Layer[], recipe: Recipe): Uint8Array {
  const initializers: TensorSpec[] = [];
  const nodes: NodeSpec[] = [];
  let prev = 'pixels';
  layers.forEach((l, i) => {
    initializers.push({ name: `W${i}`, datatype: 'FP32', dims: [l.inSize, l.outSize], data: Float32Array.from(l.w) });
    initializers.push({ name: `B${i}`, datatype: 'FP32', dims: [l.outSize], data: Float32Array.from(l.b) });
    const last = i + 1 === layers.length;
    const out = last ? 'logits' : `dense${i}`;
    nodes.push({ opType: 'Gemm', name: `dense${i}`, inputs: [prev, `W${i}`, `B${i}`], outputs: [out] });
    if (!last) nodes.push({ opType: 'Relu', name: `relu${i}`, inputs: [out], outputs: [`relu${i}`] });
    prev = last ? out : `relu${i}`;
  });
  nodes.push({ opType: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: attr.int(1) } });
  nodes.push({ opType: 'ArgMax', name: 'argmax', inputs: ['logits'], outputs: ['label'],
    attributes: { axis: attr.int(1), keepdims: attr.int(0) } });
  return buildModel({
    graphName: `digits_v${recipe.version}`,
    inputs: [{ name: 'pixels', datatype: 'FP32', shape: ['batch', PIXELS] }],
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: ['batch', CLASSES] },
      { name: 'label', datatype: 'INT64', shape: ['batch'] },
    ],
    initializers,
    nodes,
  });
}

/** Runs the held-out rows through ONNX Runtime; returns its labels and probabilities. */
async function runOrt(model: Uint8Array, rows: readonly Sample[]): Promise<{ labels: number[]; probs: Float32Array }> {
  const session = await ort.InferenceSession.create(model);
  const pixels = new Float32Array(rows.length * PIXELS);
  rows.forEach((s, i) => pixels.set(s.pixels, i * PIXELS));
  const out = await session.run({ pixels: new ort.Tensor('float32', pixels, [rows.length, PIXELS]) });
  await session.release();
  const label = out['label'];
  const probs = out['probabilities'];
  if (label === undefined || probs === undefined) throw new Error('model lacks label/probabilities outputs');
  return { labels: Array.from(label.data as BigInt64Array, Number), probs: probs.data as Float32Array };
}

const CONFIG_PBTXT = `name: "digits"
platform: "onnxruntime_onnx"
max_batch_size: 64
input [
  {
    name: "pixels"
    data_type: TYPE_FP32
    dims: [ 64 ]
  }
]
output [
  {
    name: "probabilities"
    data_type: TYPE_FP32
    dims: [ 10 ]
  },
  {
    name: "label"
    data_type: TYPE_INT64
    dims: [ ]
  }
]
version_policy: { all { } }
`;

async function main(): Promise<void> {
  const rand = prng(SEED);
  const samples = loadDigits(path.join(DATA, 'digits.csv.gz'));
  const { train: trainSet, heldOut } = stratifiedSplit(samples, rand);
  console.log(`digits: ${samples.length} rows, ${trainSet.length} train, ${heldOut.length} held out (stratified, seed ${SEED})`);

  const results: Record<string, { model: string; accuracy: number; correct: number; labels: number[] }> = {};
  for (const recipe of RECIPES) {
    const started = Date.now();
    const layers = exportLayers(train(recipe, trainSet, rand));
    const trainMs = Date.now() - started;
    const model = toOnnx(layers, recipe);
    const tsProbs = heldOut.map((s) => softmax(forward(layers, s.pixels)[layers.length] as Float64Array));
    const tsLabels = tsProbs.map(argmax);
    const fromOrt = await runOrt(model, heldOut);
    const disagree = tsLabels.filter((l, i) => l !== fromOrt.labels[i]).length;
    const maxProbDiff = tsProbs.reduce((worst, p, i) =>
      p.reduce((w, v, k) => Math.max(w, Math.abs(v - (fromOrt.probs[i * CLASSES + k] as number))), worst), 0);
    const correctTs = tsLabels.filter((l, i) => l === heldOut[i]?.label).length;
    const correctOrt = fromOrt.labels.filter((l, i) => l === heldOut[i]?.label).length;
    console.log(`v${recipe.version} ${recipe.description}: trained in ${trainMs} ms; held-out accuracy ` +
      `TypeScript ${(correctTs / heldOut.length * 100).toFixed(2)}%, onnxruntime ${(correctOrt / heldOut.length * 100).toFixed(2)}% ` +
      `(${disagree} label disagreements, max |Δp| ${maxProbDiff.toExponential(1)})`);
    if (disagree !== 0 || correctTs !== correctOrt || maxProbDiff > 1e-4) throw new Error(`v${recipe.version}: onnxruntime disagrees with the TypeScript model`);
    fs.mkdirSync(path.join(MODEL_DIR, recipe.version), { recursive: true });
    fs.writeFileSync(path.join(MODEL_DIR, recipe.version, 'model.onnx'), model);
    results[recipe.version] = { model: recipe.description, accuracy: correctOrt / heldOut.length, correct: correctOrt, labels: fromOrt.labels };
  }
  fs.writeFileSync(path.join(MODEL_DIR, 'config.pbtxt'), CONFIG_PBTXT);

  const accuracy = {
    dataset: 'examples/data/digits.csv.gz',
    split: `stratified ${100 - HELD_OUT_FRACTION * 100}/${HELD_OUT_FRACTION * 100}, seed ${SEED}`,
    train: trainSet.length,
    heldOut: heldOut.length,
    versions: Object.fromEntries(Object.entries(results).map(([v, r]) =>
      [v, { model: r.model, accuracy: Number(r.accuracy.toFixed(4)), correct: r.correct }])),
  };
  fs.writeFileSync(path.join(DATA, 'accuracy.json'), `${JSON.stringify(accuracy, null, 2)}\n`);

  // The README's example request: the first held-out row (CSV order) that both versions get right.
  const sampleIndex = heldOut.findIndex((s, i) => Object.values(results).every((r) => r.labels[i] === s.label));
  const sample = heldOut[sampleIndex];
  if (sample === undefined) throw new Error('no held-out row that both versions classify correctly');
  fs.writeFileSync(path.join(DATA, 'digits-sample.json'), `${JSON.stringify({
    source: 'examples/data/digits.csv.gz',
    row: sample.row,
    note: 'a held-out row (not used in training); row is 0-based in the CSV',
    label: sample.label,
    pixels: Array.from(sample.pixels),
  })}\n`);
  console.log(`wrote ${path.relative(ROOT, MODEL_DIR)}/{1,2}/model.onnx, config.pbtxt, ` +
    `examples/data/accuracy.json, examples/data/digits-sample.json (row ${sample.row}, label ${sample.label})`);
  await quantizeExample();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
