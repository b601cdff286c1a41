import * as ort from 'onnxruntime-node';
import { dataTypeInfo, type NumericArray } from '../runtime/datatypes';
import { invalidArgument } from '../runtime/status';
import type { InputData, SampleSet } from './calibration-data';

/**
 * Runs a model over a sample set with ONNX Runtime, batch by batch, in this thread (a CLI and a
 * script can block; the server never uses this). Batches follow axis 0: the model's fixed batch
 * size where it has one, else up to `maxBatch` samples.
 */

export const DEFAULT_MAX_BATCH = 64;

export type OrtOutputs = ort.InferenceSession.ReturnType;

export interface RunOptions {
  readonly outputNames?: readonly string[];
  readonly maxBatch?: number;
  /** Called after each batch with the samples done so far. */
  readonly onProgress?: (done: number, total: number) => void;
}

export async function createSession(model: Uint8Array, what: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  } catch (e) {
    throw invalidArgument(`${what}: ONNX Runtime cannot load it: ${(e as Error).message}`);
  }
}

/** Calls `onBatch` with each batch's outputs (tensors are only valid during the call). */
export async function forEachBatch(session: ort.InferenceSession, set: SampleSet, fixedBatch: number | undefined,
  onBatch: (outputs: OrtOutputs, feeds: Readonly<Record<string, ort.Tensor>>, rows: number) => void,
  options: RunOptions = {}): Promise<void> {
  const step = fixedBatch ?? options.maxBatch ?? DEFAULT_MAX_BATCH;
  for (let start = 0; start < set.count; start += step) {
    const rows = Math.min(step, set.count - start);
    const feeds: Record<string, ort.Tensor> = {};
    for (const [name, d] of set.inputs) feeds[name] = batchTensor(d, start, rows);
    let outputs: OrtOutputs;
    try {
      outputs = options.outputNames === undefined ? await session.run(feeds) : await session.run(feeds, [...options.outputNames]);
    } catch (e) {
      throw invalidArgument(`${set.source}: ONNX Runtime failed on samples ${start}–${start + rows - 1}: ${(e as Error).message}`);
    }
    onBatch(outputs, feeds, rows);
    options.onProgress?.(start + rows, set.count);
  }
}

/** An output's values over the whole sample set, batches concatenated along axis 0. */
export interface CollectedOutput {
  readonly name: string;
  /** ONNX Runtime's element type name ("float32", "int64", ...). */
  readonly type: string;
  readonly dims: readonly number[];
  /** Elements as doubles (int64 outputs converted, exact up to 2^53). */
  readonly values: Float64Array;
}

/** Runs every batch and keeps every output named in `outputNames` (default: all). */
export async function runCollect(session: ort.InferenceSession, set: SampleSet, fixedBatch: number | undefined,
  options: RunOptions = {}): Promise<Map<string, CollectedOutput>> {
  const parts = new Map<string, { type: string; dims: number[][]; chunks: Float64Array[] }>();
  await forEachBatch(session, set, fixedBatch, (outputs) => {
    for (const [name, t] of Object.entries(outputs)) {
      const entry = parts.get(name) ?? { type: t.type, dims: [], chunks: [] };
      entry.dims.push([...t.dims]);
      entry.chunks.push(toFloat64(t));
      parts.set(name, entry);
    }
  }, options);
  const out = new Map<string, CollectedOutput>();
  for (const [name, p] of parts) {
    const total = p.chunks.reduce((n, c) => n + c.length, 0);
    const values = new Float64Array(total);
    let offset = 0;
    for (const c of p.chunks) { values.set(c, offset); offset += c.length; }
    // Batches stack along axis 0 when every batch's other dims agree; otherwise report a flat list.
    const rest = (p.dims[0] ?? []).slice(1);
    const stacks = p.dims.every((d) => d.length > 0 && d.slice(1).join() === rest.join());
    const dims = stacks ? [p.dims.reduce((n, d) => n + (d[0] as number), 0), ...rest] : [total];
    out.set(name, { name, type: p.type, dims, values });
  }
  return out;
}

function batchTensor(d: InputData, start: number, rows: number): ort.Tensor {
  const perRow = d.dims.slice(1).reduce((a, b) => a * b, 1);
  const data = d.data.subarray(start * perRow, (start + rows) * perRow) as NumericArray;
  const type = dataTypeInfo(d.datatype).ort as ort.Tensor.Type;
  return new ort.Tensor(type, data as ort.Tensor.DataType, [rows, ...d.dims.slice(1)]);
}

export function toFloat64(t: ort.Tensor): Float64Array {
  const data = t.data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  if (Array.isArray(data)) throw invalidArgument(`output of type ${t.type} is not numeric`);
  return Float64Array.from(data as ArrayLike<number>);
}
