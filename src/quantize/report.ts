import { invalidArgument } from '../runtime/status';

/**
 * How far a quantized model's outputs are from the FP32 model's on the same samples, output by
 * output, and (given labels) how often each gets the right class.
 *
 * - agreement: for a float output with a class axis (rank >= 2, last dim >= 2), the share of rows
 *   whose argmax (top-1) is the same; for an integer output (e.g. an ArgMax label), the share of
 *   equal elements; null for anything else.
 * - max absolute error: max |q - f|.
 * - max relative error: max |q - f| / max(|f|, floor), where floor = 1e-3 × max |f| over the output,
 *   so that elements a thousand times smaller than the output's scale (a probability of 1e-9)
 *   do not turn rounding noise into huge ratios.
 * - cosine similarity of the two outputs as flat vectors (1 when both are all zeros).
 * - accuracy: the share of samples whose top-1 class (or integer output) equals the label.
 */

/** One output over a whole sample set. */
export interface OutputValues {
  readonly name: string;
  /** ONNX Runtime type name: float outputs are "float32"/"float64"/"float16". */
  readonly type: string;
  readonly dims: readonly number[];
  readonly values: Float64Array;
}

export interface OutputMetrics {
  readonly name: string;
  readonly elements: number;
  readonly agreement: number | null;
  readonly agreementKind: 'top-1' | 'exact' | null;
  readonly maxAbsError: number;
  readonly maxRelError: number;
  readonly cosine: number;
  readonly accuracyReference: number | null;
  readonly accuracyQuantized: number | null;
}

export interface QuantReport {
  readonly samples: number;
  readonly outputs: readonly OutputMetrics[];
}

export const REL_ERROR_FLOOR = 1e-3;

const isFloatType = (type: string): boolean => type.startsWith('float');

export function compareOutputs(reference: OutputValues, quantized: OutputValues, labels?: ArrayLike<number>): OutputMetrics {
  const f = reference.values;
  const q = quantized.values;
  if (f.length !== q.length || reference.dims.join() !== quantized.dims.join()) {
    throw invalidArgument(`output '${reference.name}': shapes differ ([${reference.dims.join(', ')}] vs [${quantized.dims.join(', ')}])`);
  }
  let maxRef = 0;
  for (let i = 0; i < f.length; i++) maxRef = Math.max(maxRef, Math.abs(f[i] as number));
  const floor = maxRef * REL_ERROR_FLOOR;
  let maxAbs = 0;
  let maxRel = 0;
  let dot = 0;
  let nf = 0;
  let nq = 0;
  for (let i = 0; i < f.length; i++) {
    const a = f[i] as number;
    const b = q[i] as number;
    const err = Math.abs(b - a);
    maxAbs = Math.max(maxAbs, err);
    const denom = Math.max(Math.abs(a), floor);
    if (denom > 0) maxRel = Math.max(maxRel, err / denom);
    dot += a * b;
    nf += a * a;
    nq += b * b;
  }
  const cosine = nf === 0 && nq === 0 ? 1 : nf === 0 || nq === 0 ? 0 : dot / Math.sqrt(nf * nq);

  const classes = reference.dims.length >= 2 ? (reference.dims[reference.dims.length - 1] as number) : 0;
  const byClass = isFloatType(reference.type) && classes >= 2;
  const exact = !isFloatType(reference.type);
  let agreement: number | null = null;
  let accuracyReference: number | null = null;
  let accuracyQuantized: number | null = null;
  if (byClass) {
    const fTop = argmaxRows(f, classes);
    const qTop = argmaxRows(q, classes);
    agreement = share(fTop, qTop);
    if (labels !== undefined && labels.length === fTop.length) {
      accuracyReference = share(fTop, labels);
      accuracyQuantized = share(qTop, labels);
    }
  } else if (exact) {
    agreement = f.length === 0 ? null : share(f, q);
    if (labels !== undefined && labels.length === f.length) {
      accuracyReference = share(f, labels);
      accuracyQuantized = share(q, labels);
    }
  }
  return {
    name: reference.name, elements: f.length, agreement,
    agreementKind: agreement === null ? null : byClass ? 'top-1' : 'exact',
    maxAbsError: maxAbs, maxRelError: maxRel, cosine, accuracyReference, accuracyQuantized,
  };
}

/** Index of the largest element of each row of `classes` (first one on ties). */
export function argmaxRows(values: ArrayLike<number>, classes: number): Int32Array {
  const rows = Math.floor(values.length / classes);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if ((values[r * classes + c] as number) > (values[r * classes + best] as number)) best = c;
    out[r] = best;
  }
  return out;
}

function share(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same += 1;
  return a.length === 0 ? 0 : same / a.length;
}

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
const sci = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

/** A fixed-width table, one row per output. */
export function formatReport(report: QuantReport): string {
  const header = ['output', 'agreement', 'max abs err', 'max rel err', 'cosine', 'acc FP32', 'acc INT8'];
  const rows = report.outputs.map((o) => [
    o.name, o.agreement === null ? '–' : `${pct(o.agreement)} ${o.agreementKind ?? ''}`.trim(),
    sci(o.maxAbsError), sci(o.maxRelError), o.cosine.toFixed(6), pct(o.accuracyReference), pct(o.accuracyQuantized),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [`accuracy vs FP32 on ${report.samples} held-out samples:`, line(header), ...rows.map(line)].join('\n') + '\n';
}
