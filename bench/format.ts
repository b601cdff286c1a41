/** Number formatting shared by the table, the progress lines and the plot. */

/** Three significant digits (latencies in ms, micro-benchmarks in µs): 0.412, 4.12, 41.2, 412. */
export function fmtSig(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

/** Integer with thousands separators: 12,345. */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

export function fmtFixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '—';
}

/** A signed fraction as a percentage with one decimal: "+2.4%", "-0.8%". */
export function fmtPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '—';
  return `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)}%`;
}

/** Half-width of a min–max spread as a percentage of the median: "±4%". */
export function fmtSpread(s: { median: number; min: number; max: number }): string {
  if (!(s.median > 0)) return '';
  const half = Math.max(s.max - s.median, s.median - s.min) / s.median;
  return `±${(half * 100).toFixed(0)}%`;
}

/** Left-aligned first column, right-aligned rest, two spaces between columns. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
