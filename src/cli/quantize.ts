import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { readOnnxSignature } from '../onnx/reader';
import { internal, notFound } from '../runtime/status';
import { loadLabels, loadSampleSet } from '../quantize/calibration-data';
import { progressBar, type Progress } from '../quantize/progress';
import { quantizeModel, type QuantizeResult, type QuantizeStage } from '../quantize/quantize-model';
import { formatReport } from '../quantize/report';
import { DEFAULT_MAX_BATCH } from '../quantize/run-model';
import { UsageError } from './serve';

export const QUANTIZE_USAGE = `usage: sluice quantize MODEL --calibration DATA --out MODEL_INT8 [options]

Quantizes the MatMul/Gemm nodes of an FP32 ONNX model to INT8 and writes a standard QDQ ONNX
model (weights int8 per output channel, activations uint8 per tensor from calibration), which
ONNX Runtime and Sluice both run.

  MODEL                 the FP32 ONNX model
  --calibration DATA    calibration samples, typical inputs (a few hundred is plenty)
  --out FILE            where to write the quantized model
  --held-out DATA       samples to compare the quantized model with the FP32 one on
  --labels FILE         the held-out samples' class labels (.npy, or a .json array of integers):
                        adds top-1 accuracy of both models
  --max-samples N       calibrate on the first N samples only (default: all)
  --batch-size N        samples per ONNX Runtime run (default ${DEFAULT_MAX_BATCH}; a fixed batch axis wins)
  --report FILE         also write the summary and the accuracy report as JSON

DATA is a .npy file (models with one input), a directory with one <input name>.npy per input,
or a .json file: {"input name": [[...], ...]} or a list of such objects. Axis 0 counts samples.
`;

function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`, QUANTIZE_USAGE);
  }
  return n;
}

export async function quantize(argv: string[]): Promise<void> {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: {
      calibration: { type: 'string' },
      out: { type: 'string' },
      'held-out': { type: 'string' },
      labels: { type: 'string' },
      'max-samples': { type: 'string' },
      'batch-size': { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    } }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), QUANTIZE_USAGE);
  }
  if (values.help === true) { process.stdout.write(QUANTIZE_USAGE); return; }
  const usage = (msg: string): UsageError => new UsageError(msg, QUANTIZE_USAGE);
  if (positionals.length === 0) throw usage('MODEL is required');
  if (positionals.length > 1) throw usage(`one MODEL only, got ${positionals.length}: ${positionals.join(' ')}`);
  const modelFile = positionals[0] as string;
  const calibrationFile = values.calibration;
  const outFile = values.out;
  if (calibrationFile === undefined) throw usage('--calibration is required');
  if (outFile === undefined) throw usage('--out is required');
  if (values.labels !== undefined && values['held-out'] === undefined) throw usage('--labels needs --held-out');
  if (path.resolve(outFile) === path.resolve(modelFile)) throw usage('--out must not overwrite MODEL');
  const maxSamples = intFlag('max-samples', values['max-samples'], 1, Number.MAX_SAFE_INTEGER);
  const maxBatch = intFlag('batch-size', values['batch-size'], 1, 1 << 20);

  const fp32 = await readModel(modelFile);
  const { inputs } = readOnnxSignature(fp32, modelFile);
  const calibration = await loadSampleSet(calibrationFile, inputs, maxSamples, '--calibration');
  const heldOut = values['held-out'] === undefined ? undefined : await loadSampleSet(values['held-out'], inputs, undefined, '--held-out');
  const labels = values.labels === undefined ? undefined : await loadLabels(values.labels, '--labels');

  const bars = new Map<QuantizeStage, Progress>();
  const bar = (stage: QuantizeStage): Progress => {
    let b = bars.get(stage);
    if (b === undefined) { b = progressBar(stage.padEnd(13)); bars.set(stage, b); }
    return b;
  };
  const started = Date.now();
  const result = await quantizeModel(fp32, {
    source: modelFile, calibration,
    ...(heldOut === undefined ? {} : { heldOut }),
    ...(labels === undefined ? {} : { labels }),
    ...(maxBatch === undefined ? {} : { maxBatch }),
    onProgress: (stage, done, total) => bar(stage).update(done, total),
    onStageEnd: (stage) => bar(stage).finish(),
  });
  await mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
  await writeFile(outFile, result.model);
  process.stdout.write(summaryText(modelFile, outFile, fp32.length, calibration.count, calibration.source, result, Date.now() - started));
  if (values.report !== undefined) {
    const doc = { model: modelFile, out: outFile, calibrationSamples: calibration.count, summary: result.summary,
      ranges: Object.fromEntries(result.ranges), report: result.report ?? null };
    await writeFile(values.report, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

async function readModel(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`ONNX model ${file}: file not found`);
    throw internal(`ONNX model ${file}: cannot read: ${(e as Error).message}`, e);
  }
}

function summaryText(modelFile: string, outFile: string, fp32Bytes: number, samples: number, source: string,
  result: QuantizeResult, ms: number): string {
  const s = result.summary;
  const lines = [
    `quantized ${modelFile} (${fp32Bytes} bytes) → ${outFile} (${result.model.length} bytes) in ${ms} ms`,
    `calibrated on ${samples} samples from ${source}`,
    ...(s.opsetRaisedFrom === undefined ? [] : [`raised the ONNX opset from ${s.opsetRaisedFrom} to 13 (per-channel DequantizeLinear)`]),
    ...s.nodes.map((n) => {
      const parts = [
        ...n.weights.map((w) => `weight ${w.name} int8 ${w.axis === null ? 'per-tensor' : `per-channel (${w.channels}, axis ${w.axis})`}`),
        ...n.activations.map((a) => `input ${a} uint8`),
      ];
      return `  ${n.node === '' ? '' : `${n.node} `}(${n.opType}): ${parts.join(', ')}`;
    }),
    ...s.skipped.map((k) => `  left in FP32: ${k.node}: ${k.reason}`),
  ];
  return `${lines.join('\n')}\n${result.report === undefined ? '' : formatReport(result.report)}`;
}
