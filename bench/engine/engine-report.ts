/**
 * The engine section's table and its targets (issue 4): the native engine's throughput against
 * onnxruntime-node's in the same run, judged cell by cell, so one slow shape shows as a miss.
 */
import { fmtFixed, fmtInt, fmtSpread, textTable } from '../format';
import type { TargetLine } from '../targets';
import type { Precision } from './engine-models';
import type { CellResult } from './measure';

const fmtRatio = (r: number | undefined): string => (r === undefined || !Number.isFinite(r) ? '—' : `${r.toFixed(2)}×`);

function fmtDiff(c: CellResult): string {
  if (c.maxAbsDiff === undefined) return '—';
  const rel = c.refMaxAbs !== undefined && c.refMaxAbs > 0 ? ` (${fmtFixed((100 * c.maxAbsDiff) / c.refMaxAbs, 2)}%)` : '';
  return `${c.maxAbsDiff.toExponential(1)}${rel}`;
}

/** One row per cell; refused or failed cells carry their reason where the numbers would be. */
export function formatEngineTable(cells: readonly CellResult[]): string {
  const header = ['model', 'prec', 'thr', 'batch', 'ORT rows/s', 'spread', 'native rows/s', 'spread', 'native/ORT',
    'max |diff| (of max |ORT|)', 'reps'];
  const reasons = new Map<number, string>();
  const rows = cells.map((c, i) => {
    const key = [c.model, c.precision, String(c.threads), String(c.batch)];
    if (c.unsupported !== undefined) reasons.set(i, `engine refuses: ${c.unsupported.join('; ')}`);
    else if (c.error !== undefined || c.ort === undefined || c.native === undefined) reasons.set(i, `failed: ${c.error ?? 'no result'}`);
    if (reasons.has(i) || c.ort === undefined || c.native === undefined) return key;
    return [...key, fmtInt(c.ort.median), fmtSpread(c.ort), fmtInt(c.native.median), fmtSpread(c.native), fmtRatio(c.ratio),
      fmtDiff(c), String(c.repeats ?? '')];
  });
  // A reason row has only its key cells in the table (so it does not widen the number columns);
  // the reason follows them on the same line. Lines 0 and 1 are the header and its rule.
  const lines = textTable(header, rows).split('\n');
  for (const [i, reason] of reasons) lines[i + 2] = `${lines[i + 2] ?? ''}  ${reason}`;
  return lines.join('\n');
}

interface TargetSpec {
  readonly precision: Precision;
  readonly min: number;
  readonly batches: string;
  readonly applies: (batch: number) => boolean;
}

const TARGETS: readonly TargetSpec[] = [
  { precision: 'int8', min: 1.25, batches: 'batch ≥ 32', applies: (b) => b >= 32 },
  { precision: 'int8', min: 1.5, batches: 'batch 1', applies: (b) => b === 1 },
  { precision: 'fp32', min: 1.0, batches: 'batch 256', applies: (b) => b === 256 },
  { precision: 'fp32', min: 1.3, batches: 'batch 1', applies: (b) => b === 1 },
];

const cellName = (c: CellResult): string => `${c.model} ${c.threads}t b${c.batch}`;

/** Met only when every cell it covers was measured and reached the ratio; n/a when the run had no such cell. */
export function engineTargets(cells: readonly CellResult[]): TargetLine[] {
  return TARGETS.map((t) => {
    const target = `engine ${t.precision.toUpperCase()}: native ≥ ${t.min.toFixed(2)}× ORT ${t.precision.toUpperCase()} at ${t.batches}`;
    const covered = cells.filter((c) => c.precision === t.precision && t.applies(c.batch));
    if (covered.length === 0) return { target, verdict: 'n/a', headline: '', detail: 'no such cell in this run' };
    const lines = covered.map((c) => {
      if (c.ratio === undefined || !Number.isFinite(c.ratio)) {
        return { ok: false, ratio: Number.NaN, text: `${cellName(c)}: ${c.unsupported !== undefined ? 'refused' : 'failed'}` };
      }
      const ok = c.ratio >= t.min;
      return { ok, ratio: c.ratio, text: `${cellName(c)}: ${fmtRatio(c.ratio)} ${ok ? 'ok' : 'MISS'}` };
    });
    const missed = lines.filter((l) => !l.ok).length;
    const measured = lines.filter((l) => Number.isFinite(l.ratio)).map((l) => l.ratio);
    const worst = measured.length > 0 ? Math.min(...measured) : Number.NaN;
    return {
      target,
      verdict: missed === 0 ? 'met' : 'missed',
      headline: `${covered.length - missed}/${covered.length} cells, worst ${fmtRatio(worst)}`,
      detail: lines.map((l) => l.text).join('\n'),
    };
  });
}
