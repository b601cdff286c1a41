/** The printed tables, the saved JSON and the per-model SVG. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fmtFixed, fmtInt, fmtSig, fmtSpread, textTable } from './format';
import { latencyThroughputSvg, type PlotPanel } from './plot';
import type { LevelSummary } from './summary';

const KIND_TITLE = {
  closed: 'closed loop — level = concurrency (requests outstanding)',
  open: 'open loop, Poisson arrivals — level = offered requests/s',
  overload: 'overload, open loop — level = offered requests/s',
} as const;

function errorsCell(errors: Readonly<Record<string, number>>): string {
  const parts = Object.entries(errors).filter(([, n]) => n > 0).map(([code, n]) => `${code} ${fmtInt(n)}`);
  return parts.length > 0 ? parts.join(', ') : '0';
}

/** One table per model and kind; latencies ms, server-side µs, figures are medians of repeats. */
export function formatTables(summaries: readonly LevelSummary[], configOrder: readonly string[]): string {
  const out: string[] = [];
  const models = [...new Set(summaries.map((s) => s.model))];
  for (const model of models) {
    for (const kind of ['closed', 'open', 'overload'] as const) {
      const rows = summaries.filter((s) => s.model === model && s.kind === kind)
        .sort((a, b) => a.level - b.level || configOrder.indexOf(a.config) - configOrder.indexOf(b.config));
      if (rows.length === 0) continue;
      out.push(`\n${model}: ${KIND_TITLE[kind]}`);
      out.push(textTable(
        ['config', 'level', 'req/s', 'spread', 'avg', 'std', 'p50', 'p90', 'p95', 'p99', 'spread', 'p99.9',
          'queue µs', 'comp µs', 'batch', 'lag p99', 'errors'],
        rows.map((s) => [s.config, fmtInt(s.level), fmtInt(s.throughput.median), fmtSpread(s.throughput),
          fmtSig(s.mean), fmtSig(s.stddev), fmtSig(s.p50), fmtSig(s.p90), fmtSig(s.p95), fmtSig(s.p99.median), fmtSpread(s.p99), fmtSig(s.p999),
          fmtInt(s.queueUs), fmtInt(s.computeUs), fmtFixed(s.batchSize, 1), fmtSig(s.sendLagP99Ms),
          errorsCell(s.errors)]),
      ));
    }
    const messages = new Set(summaries.filter((s) => s.model === model)
      .flatMap((s) => Object.entries(s.errorMessages).map(([code, m]) => `  ${s.config} ${code}: ${m}`)));
    if (messages.size > 0) out.push(`\n${model}: error messages (first per code)`, ...messages);
  }
  return out.join('\n');
}

export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // NaN (a figure with no samples) becomes null, which JSON can carry.
  fs.writeFileSync(file, `${JSON.stringify(value, null, 1)}\n`);
}

/** One colour per configuration (Okabe–Ito, distinguishable with colour-blindness). */
export const CONFIG_COLORS: Readonly<Record<string, string>> = {
  'sluice-batching': '#0072B2',
  'sluice-no-batching': '#009E73',
  baseline: '#D55E00',
};

/** "2.4k/s" for an offered rate; "c=32" for a concurrency. */
function levelLabel(s: LevelSummary): string {
  if (s.kind === 'closed') return `c=${s.level}`;
  return s.level >= 1000 ? `${(s.level / 1000).toFixed(s.level >= 10_000 ? 0 : 1)}k/s` : `${s.level}/s`;
}

/** The model's SVG: closed-loop sweep and open-loop sweep side by side, one series per configuration. */
export function modelSvg(summaries: readonly LevelSummary[], model: string, configOrder: readonly string[],
  title: string, notes: readonly string[]): string {
  const panel = (kind: 'closed' | 'open', panelTitle: string): PlotPanel => ({
    title: panelTitle,
    series: configOrder.map((config) => ({
      name: config,
      color: CONFIG_COLORS[config] ?? '#333',
      points: summaries.filter((s) => s.model === model && s.config === config && s.kind === kind)
        .sort((a, b) => a.level - b.level)
        .map((s) => ({ x: s.throughput.median, p50: s.p50, p99: s.p99.median, p99Min: s.p99.min, p99Max: s.p99.max,
          label: levelLabel(s) })),
    })).filter((s) => s.points.length > 0),
  });
  return latencyThroughputSvg({ title, notes, panels: [
    panel('closed', 'Closed loop: concurrency sweep (c = requests outstanding)'),
    panel('open', 'Open loop: Poisson arrivals (label = offered rate)'),
  ] });
}
