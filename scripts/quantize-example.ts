/**
 * Writes version 3 of the example "digits" model: version 2 (the FP32 MLP) quantized to INT8 QDQ
 * by the same code as `sluice quantize`, calibrated on the training split and evaluated on the
 * held-out split (scripts/digits-data.ts). Runs at the end of scripts/train-example.ts, or alone:
 *
 *   npx tsc -p . && node dist/scripts/quantize-example.js
 *
 * Equivalent CLI (with the splits saved as .npy):
 *   sluice quantize examples/models/digits/2/model.onnx --calibration train.npy \
 *     --out examples/models/digits/3/model.onnx --held-out held-out.npy --labels held-out-labels.npy
 *
 * Writes examples/models/digits/3/model.onnx and adds version "3" to examples/data/accuracy.json.
 * Fails if v3's held-out accuracy is more than 0.5 points below v2's, or if v3 misclassifies the
 * README's sample (examples/data/digits-sample.json), which the server's default version serves.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readOnnxSignature } from '../src/onnx/reader';
import type { OnnxValueInfo } from '../src/onnx/signature';
import { sampleSetFromArrays, type SampleSet } from '../src/quantize/calibration-data';
import { quantizeModel } from '../src/quantize/quantize-model';
import { createSession } from '../src/quantize/run-model';
import { formatReport, type OutputMetrics } from '../src/quantize/report';
import { PIXELS, SEED, loadDigits, prng, stratifiedSplit, type Sample } from './digits-data';

const ROOT = path.resolve(__dirname, '..', '..'); // this file runs from dist/scripts/
const DATA = path.join(ROOT, 'examples', 'data');
const MODEL_DIR = path.join(ROOT, 'examples', 'models', 'digits');
/** Largest drop in held-out top-1 accuracy v3 may show against v2. */
const MAX_ACCURACY_DROP = 0.005;

const DESCRIPTION = 'MLP (64→64 ReLU→10), INT8 QDQ of version 2: int8 per-channel weights, ' +
  'uint8 per-tensor activations calibrated on the training split';

function samples(name: string, rows: readonly Sample[], inputs: readonly OnnxValueInfo[]): SampleSet {
  const pixels = new Float32Array(rows.length * PIXELS);
  rows.forEach((s, i) => pixels.set(s.pixels, i * PIXELS));
  return sampleSetFromArrays(name, new Map([['pixels', [{ shape: [rows.length, PIXELS], values: pixels }]]]), inputs);
}

export async function quantizeExample(): Promise<void> {
  const { train, heldOut } = stratifiedSplit(loadDigits(path.join(DATA, 'digits.csv.gz')), prng(SEED));
  const v2 = fs.readFileSync(path.join(MODEL_DIR, '2', 'model.onnx'));
  const { inputs } = readOnnxSignature(v2, 'digits v2');
  const started = Date.now();
  const result = await quantizeModel(v2, {
    source: 'digits v2',
    calibration: samples('training split', train, inputs),
    heldOut: samples('held-out split', heldOut, inputs),
    labels: heldOut.map((s) => s.label),
  });
  const report = result.report;
  if (report === undefined) throw new Error('no report');
  process.stdout.write(`v3 = v2 quantized (calibrated on ${train.length} training rows, ${Date.now() - started} ms):\n${formatReport(report)}`);

  const byName = new Map<string, OutputMetrics>(report.outputs.map((o) => [o.name, o]));
  const probs = byName.get('probabilities');
  const labels = byName.get('label');
  if (probs?.accuracyQuantized == null || probs.accuracyReference == null || labels === undefined) {
    throw new Error('report lacks the probabilities/label outputs');
  }
  const accuracy = probs.accuracyQuantized;
  if (probs.accuracyReference - accuracy > MAX_ACCURACY_DROP) {
    throw new Error(`v3 held-out accuracy ${(accuracy * 100).toFixed(2)}% is more than ${MAX_ACCURACY_DROP * 100} points ` +
      `below v2's ${(probs.accuracyReference * 100).toFixed(2)}%`);
  }
  if (labels.accuracyQuantized !== accuracy) throw new Error('v3: label output and argmax(probabilities) disagree');

  const sample = JSON.parse(fs.readFileSync(path.join(DATA, 'digits-sample.json'), 'utf8')) as { row: number; label: number };
  const sampleIndex = heldOut.findIndex((s) => s.row === sample.row);
  if (sampleIndex < 0) throw new Error(`digits-sample.json row ${sample.row} is not held out`);
  await checkSample(result.model, heldOut[sampleIndex] as Sample);

  fs.mkdirSync(path.join(MODEL_DIR, '3'), { recursive: true });
  fs.writeFileSync(path.join(MODEL_DIR, '3', 'model.onnx'), result.model);

  const accuracyFile = path.join(DATA, 'accuracy.json');
  const doc = JSON.parse(fs.readFileSync(accuracyFile, 'utf8')) as { versions: Record<string, unknown> };
  doc.versions['3'] = {
    model: DESCRIPTION,
    accuracy: Number(accuracy.toFixed(4)),
    correct: Math.round(accuracy * heldOut.length),
    top1AgreementWithV2: Number((probs.agreement ?? 0).toFixed(4)),
    cosineWithV2: Number(probs.cosine.toFixed(6)),
    maxAbsErrorVsV2: Number(probs.maxAbsError.toPrecision(3)),
  };
  fs.writeFileSync(accuracyFile, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`wrote examples/models/digits/3/model.onnx and version 3 in examples/data/accuracy.json`);
}

/** The README's sample must come back right from v3, the version a request without one gets. */
async function checkSample(model: Uint8Array, s: Sample): Promise<void> {
  const session = await createSession(model, 'digits v3');
  try {
    const out = await session.run({ pixels: new ort.Tensor('float32', Float32Array.from(s.pixels), [1, PIXELS]) });
    const label = Number((out['label']?.data as BigInt64Array | undefined)?.[0]);
    if (label !== s.label) throw new Error(`v3 classifies the README sample (row ${s.row}) as ${label}, not ${s.label}`);
  } finally {
    await session.release();
  }
}

if (require.main === module) {
  quantizeExample().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
