import type * as ort from 'onnxruntime-node';
import { invalidArgument } from '../runtime/status';
import type { OnnxValueInfo } from '../onnx/signature';
import type { SampleSet } from './calibration-data';
import { decodeModel, encodeModel } from './model-object';
import { createSession, forEachBatch } from './run-model';

/**
 * Static calibration: runs the FP32 model over the calibration samples with ONNX Runtime and
 * records the min and max of each tensor asked for. Intermediate tensors are fetched by adding
 * them as extra graph outputs (left untyped: ONNX Runtime infers their type and shape); graph
 * inputs are read straight from the feeds.
 */

export interface TensorRange {
  readonly min: number;
  readonly max: number;
  /** ONNX Runtime's element type name; only "float32" tensors get quantized. */
  readonly type: string;
}

export interface CalibrateOptions {
  readonly maxBatch?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function calibrate(model: Uint8Array, source: string, inputs: readonly OnnxValueInfo[],
  tensors: readonly string[], set: SampleSet, options: CalibrateOptions = {}): Promise<Map<string, TensorRange>> {
  const obj = decodeModel(model, source);
  const graphInputs = new Set(inputs.map((i) => i.name));
  const outputs = new Set(obj.graph.output.map((o) => o.name));
  const wanted = [...new Set(tensors)];
  for (const name of wanted) {
    if (!graphInputs.has(name) && !outputs.has(name)) obj.graph.output.push({ name });
  }
  const session = await createSession(encodeModel(obj), `ONNX model ${source} (with calibration outputs)`);
  const fetched = wanted.filter((n) => !graphInputs.has(n));
  const ranges = new Map<string, { min: number; max: number; type: string }>();
  const note = (name: string, t: ort.Tensor): void => {
    const r = ranges.get(name) ?? { min: Infinity, max: -Infinity, type: t.type };
    if (t.type === 'float32') {
      const data = t.data as Float32Array;
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        if (v < r.min) r.min = v;
        if (v > r.max) r.max = v;
        if (Number.isNaN(v)) throw invalidArgument(`calibration: tensor '${name}' holds NaN on ${set.source}`);
      }
    }
    ranges.set(name, r);
  };
  try {
    const fixedBatch = inputs.map((i) => i.shape[0] ?? -1).find((d) => d > 0);
    await forEachBatch(session, set, fixedBatch, (outs, feeds) => {
      for (const name of wanted) {
        const t = graphInputs.has(name) ? feeds[name] : outs[name];
        if (t === undefined) throw invalidArgument(`calibration: ONNX Runtime returned no tensor '${name}'`);
        note(name, t);
      }
    }, { // Fetch only what is measured (a run must fetch something: the model's outputs then).
      outputNames: fetched.length > 0 ? fetched : [...outputs],
      ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }) });
  } finally {
    await session.release();
  }
  return ranges;
}
