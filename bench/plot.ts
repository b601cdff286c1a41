/**
 * Latency-vs-throughput SVG: per panel, x = achieved throughput (requests/s, linear), y =
 * latency (ms, log scale: p50 and p99 differ by orders of magnitude near saturation). One
 * colour per configuration; p99 solid with its min–max spread across repeats as a whisker, p50
 * dashed. Points join in load order, so a curve that turns back past saturation shows it.
 * Plain SVG 1.1 with no scripts or external fonts, readable in any browser.
 */
import { fmtInt } from './format';

export interface PlotPoint {
  readonly x: number;
  readonly p50: number;
  readonly p99: number;
  readonly p99Min: number;
  readonly p99Max: number;
  /** Short level label drawn by the p99 marker, e.g. "c=32" or "2.4k/s". */
  readonly label: string;
}
export interface PlotSeries { readonly name: string; readonly color: string; readonly points: readonly PlotPoint[] }
export interface PlotPanel { readonly title: string; readonly series: readonly PlotSeries[] }

const PANEL_W = 560;
const PANEL_H = 400;
const MARGIN = { left: 70, right: 20, top: 34, bottom: 50 };
const HEAD_LINE = 20;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 5 × 10^k steps giving about `target` ticks from 0 to the first tick ≥ max. */
export function linearTicks(max: number, target = 6): number[] {
  const raw = max / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const n = Math.ceil(max / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => i * step);
}

/** 1, 2, 5 × 10^k between two decades. */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.round(Math.log10(lo)); 10 ** e <= hi * 1.0001; e++) {
    for (const m of [1, 2, 5]) if (m * 10 ** e >= lo * 0.9999 && m * 10 ** e <= hi * 1.0001) ticks.push(m * 10 ** e);
  }
  return ticks;
}

function fmtLatencyTick(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : ms >= 1 ? `${ms} ms` : `${Math.round(ms * 1000)} µs`;
}

function panelSvg(panel: PlotPanel, ox: number, oy: number): string {
  const pts = panel.series.flatMap((s) => s.points);
  const ys = pts.flatMap((p) => [p.p50, p.p99, p.p99Min, p.p99Max]).filter((y) => Number.isFinite(y) && y > 0);
  const xs = pts.map((p) => p.x).filter((x) => Number.isFinite(x));
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const out = [`<g transform="translate(${ox},${oy})">`,
    `<text x="${MARGIN.left + w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`];
  if (xs.length === 0 || ys.length === 0) {
    out.push(`<text x="${MARGIN.left + w / 2}" y="${MARGIN.top + h / 2}" text-anchor="middle" fill="#888">no data</text></g>`);
    return out.join('\n');
  }
  const xTicks = linearTicks(Math.max(1, ...xs) * 1.03);
  const xMax = xTicks[xTicks.length - 1] as number;
  const yLo = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yHi = 10 ** Math.ceil(Math.log10(Math.max(...ys) * 1.0001));
  const sx = (x: number): number => MARGIN.left + (x / xMax) * w;
  const sy = (y: number): number => MARGIN.top + h - ((Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * h;
  const f = (n: number): string => n.toFixed(1);

  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${w}" height="${h}" fill="#fff" stroke="#999"/>`);
  for (const t of xTicks) {
    out.push(`<line x1="${f(sx(t))}" y1="${MARGIN.top}" x2="${f(sx(t))}" y2="${MARGIN.top + h}" stroke="#eee"/>`,
      `<text x="${f(sx(t))}" y="${MARGIN.top + h + 16}" text-anchor="middle" font-size="11">${fmtInt(t)}</text>`);
  }
  for (const t of logTicks(yLo, yHi)) {
    const major = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    out.push(`<line x1="${MARGIN.left}" y1="${f(sy(t))}" x2="${MARGIN.left + w}" y2="${f(sy(t))}" stroke="${major ? '#ddd' : '#f2f2f2'}"/>`,
      `<text x="${MARGIN.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end" font-size="11">${fmtLatencyTick(t)}</text>`);
  }
  out.push(`<text x="${MARGIN.left + w / 2}" y="${PANEL_H - 10}" text-anchor="middle" font-size="12">throughput (requests/s = inferences/s)</text>`,
    `<text transform="translate(16,${MARGIN.top + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">latency (log scale)</text>`);

  for (const s of panel.series) {
    const ok = s.points.filter((p) => Number.isFinite(p.x) && p.p99 > 0 && p.p50 > 0);
    if (ok.length === 0) continue;
    const path = (y: (p: PlotPoint) => number): string => ok.map((p) => `${f(sx(p.x))},${f(sy(y(p)))}`).join(' ');
    out.push(`<g fill="none" stroke="${s.color}">`,
      `<polyline points="${path((p) => p.p50)}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<polyline points="${path((p) => p.p99)}" stroke-width="2.5"/>`);
    for (const p of ok) {
      if (p.p99Max > p.p99Min) {
        out.push(`<line x1="${f(sx(p.x))}" y1="${f(sy(p.p99Min))}" x2="${f(sx(p.x))}" y2="${f(sy(p.p99Max))}" stroke-width="1"/>`);
      }
      out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.p50))}" r="2.5" fill="#fff" stroke-width="1.2"/>`,
        `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.p99))}" r="3.5" fill="${s.color}"/>`);
    }
    out.push('</g>');
    for (const p of ok) {
      out.push(`<text x="${f(sx(p.x) + 5)}" y="${f(sy(p.p99) - 6)}" font-size="9" fill="${s.color}">${escapeXml(p.label)}</text>`);
    }
  }
  out.push('</g>');
  return out.join('\n');
}

/** Panels side by side under a title and note lines, with one shared legend. */
export function latencyThroughputSvg(o: { title: string; notes: readonly string[]; panels: readonly PlotPanel[] }): string {
  const head = 30 + o.notes.length * HEAD_LINE;
  const width = Math.max(1, o.panels.length) * PANEL_W;
  const series = [...new Map(o.panels.flatMap((p) => p.series).map((s) => [s.name, s.color])).entries()];
  const legendY = head + PANEL_H + 12;
  const height = legendY + 24;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="17" font-weight="bold">${escapeXml(o.title)}</text>`,
    ...o.notes.map((n, i) => `<text x="${width / 2}" y="${24 + HEAD_LINE * (i + 1)}" text-anchor="middle" font-size="12" fill="#333">${escapeXml(n)}</text>`),
    ...o.panels.map((p, i) => panelSvg(p, i * PANEL_W, head)),
  ];
  let x = 70;
  for (const [name, color] of series) {
    out.push(`<rect x="${x}" y="${legendY}" width="14" height="10" fill="${color}"/>`,
      `<text x="${x + 20}" y="${legendY + 10}" font-size="12">${escapeXml(name)}</text>`);
    x += 40 + name.length * 7;
  }
  out.push(`<line x1="${x}" y1="${legendY + 5}" x2="${x + 28}" y2="${legendY + 5}" stroke="#333" stroke-width="2.5"/>`,
    `<text x="${x + 34}" y="${legendY + 10}" font-size="12">p99 (whisker: spread over repeats)</text>`,
    `<line x1="${x + 250}" y1="${legendY + 5}" x2="${x + 278}" y2="${legendY + 5}" stroke="#333" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    `<text x="${x + 284}" y="${legendY + 10}" font-size="12">p50</text>`, '</svg>');
  return `${out.join('\n')}\n`;
}
