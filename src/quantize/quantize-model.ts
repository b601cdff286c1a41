import { readOnnxSignature } from '../onnx/reader';
import { invalidArgument } from '../runtime/status';
import { calibrate, type TensorRange } from './calibrate';
import type { SampleSet } from './calibration-data';
import { decodeModel, encodeModel, isOnnxOp, nodeLabel } from './model-object';
import { writeQdq, type QdqSummary } from './qdq-writer';
import { compareOutputs, type QuantReport } from './report';
import { createSession, runCollect } from './run-model';
import { findTargets } from './targets';

/**
 * The whole of `sluice quantize` without the command line: FP32 ONNX bytes and calibration
 * samples in, QDQ ONNX bytes out, plus (given held-out samples) the accuracy report.
 */

export type QuantizeStage = 'calibrate' | 'evaluate FP32' | 'evaluate INT8';

export interface QuantizeOptions {
  /** Names the model in messages. */
  readonly source: string;
  readonly calibration: SampleSet;
  readonly heldOut?: SampleSet;
  /** One class index per held-out sample. */
  readonly labels?: ArrayLike<number>;
  readonly maxBatch?: number;
  readonly onProgress?: (stage: QuantizeStage, done: number, total: number) => void;
  /** Called when a stage's last batch is done. */
  readonly onStageEnd?: (stage: QuantizeStage) => void;
}

export interface QuantizeResult {
  readonly model: Uint8Array;
  readonly summary: QdqSummary;
  readonly ranges: ReadonlyMap<string, TensorRange>;
  readonly report?: QuantReport;
}

const QUANTIZED_OPS = ['QuantizeLinear', 'DequantizeLinear', 'QLinearMatMul', 'QLinearConv', 'MatMulInteger', 'ConvInteger', 'DynamicQuantizeLinear'];

export async function quantizeModel(fp32: Uint8Array, options: QuantizeOptions): Promise<QuantizeResult> {
  const { source } = options;
  const signature = readOnnxSignature(fp32, source);
  const model = decodeModel(fp32, source);
  const already = model.graph.node.find((n) => QUANTIZED_OPS.some((op) => isOnnxOp(n, op)));
  if (already !== undefined) throw invalidArgument(`ONNX model ${source} is already quantized (it has ${nodeLabel(already)})`);
  if (options.labels !== undefined && options.heldOut !== undefined && options.labels.length !== options.heldOut.count) {
    throw invalidArgument(`${options.labels.length} labels for ${options.heldOut.count} held-out samples`);
  }

  const plan = findTargets(model.graph);
  const skipped = plan.skipped.map((s) => ({ node: nodeLabel(s.node), reason: s.reason }));
  if (plan.targets.length === 0) {
    throw invalidArgument(`nothing to quantize in ${source}: ` + (skipped.length === 0
      ? 'it has no MatMul or Gemm nodes'
      : `no MatMul/Gemm with FP32 inputs (${skipped.map((s) => `${s.node}: ${s.reason}`).join('; ')})`));
  }
  const activations = [...new Set(plan.targets.flatMap((t) => [...t.activations.values()]))];
  const stage = (name: QuantizeStage) => (done: number, total: number): void => {
    options.onProgress?.(name, done, total);
    if (done >= total) options.onStageEnd?.(name);
  };
  const batch = options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch };
  const ranges = await calibrate(fp32, source, signature.inputs, activations, options.calibration,
    { ...batch, onProgress: stage('calibrate') });

  const { summary } = writeQdq(model, plan.targets, ranges, skipped);
  if (summary.nodes.length === 0) {
    throw invalidArgument(`nothing to quantize in ${source}: ${summary.skipped.map((s) => `${s.node}: ${s.reason}`).join('; ')}`);
  }
  const bytes = encodeModel(model);

  const fixedBatch = signature.inputs.map((i) => i.shape[0] ?? -1).find((d) => d > 0);
  const int8 = await createSession(bytes, `quantized model from ${source}`);
  try {
    if (options.heldOut === undefined) return { model: bytes, summary, ranges };
    const heldOut = options.heldOut;
    const fp32Session = await createSession(fp32, `ONNX model ${source}`);
    let reference;
    try {
      reference = await runCollect(fp32Session, heldOut, fixedBatch, { ...batch, onProgress: stage('evaluate FP32') });
    } finally {
      await fp32Session.release();
    }
    const quantized = await runCollect(int8, heldOut, fixedBatch, { ...batch, onProgress: stage('evaluate INT8') });
    const outputs = signature.outputs.map((o) => {
      const f = reference.get(o.name);
      const q = quantized.get(o.name);
      if (f === undefined || q === undefined) throw invalidArgument(`output '${o.name}' missing from a run`);
      return compareOutputs(f, q, options.labels);
    });
    return { model: bytes, summary, ranges, report: { samples: heldOut.count, outputs } };
  } finally {
    await int8.release();
  }
}
