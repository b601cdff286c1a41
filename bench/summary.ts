/**
 * Repeats of a level folded into one row: the median of each figure across repeats, with the
 * min–max spread kept for throughput and p99 (the two figures the targets are judged on).
 */
import type { LevelKind, LevelResult } from './level';
import { spread, type Spread } from './stats';

export interface LevelSummary {
  readonly model: string;
  readonly config: string;
  readonly kind: LevelKind;
  readonly level: number;
  readonly repeats: number;
  readonly sent: number;
  /** Summed over repeats, by gRPC code name. */
  readonly errors: Readonly<Record<string, number>>;
  /** The first message per failing code. */
  readonly errorMessages: Readonly<Record<string, string>>;
  /** Requests/s (= inferences/s: one row per request). */
  readonly throughput: Spread;
  /** Latency of successful requests, ms. */
  readonly p99: Spread;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p999: number;
  /** Server-side averages, µs, and rows per execution; NaN for the baseline. */
  readonly queueUs: number;
  readonly computeUs: number;
  readonly batchSize: number;
  readonly sendLagP99Ms: number;
}

export function summarizeLevels(results: readonly LevelResult[]): LevelSummary[] {
  const groups = new Map<string, LevelResult[]>();
  for (const r of results) {
    const key = `${r.model}\0${r.config}\0${r.kind}\0${r.level}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [r]);
    else g.push(r);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as LevelResult;
    const med = (f: (r: LevelResult) => number): number => spread(g.map(f)).median;
    const errors: Record<string, number> = {};
    const errorMessages: Record<string, string> = {};
    for (const r of g) {
      for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
      for (const [code, m] of Object.entries(r.errorMessages)) errorMessages[code] ??= m;
    }
    return {
      model: first.model,
      config: first.config,
      kind: first.kind,
      level: first.level,
      repeats: g.length,
      sent: g.reduce((a, r) => a + r.sent, 0),
      errors,
      errorMessages,
      throughput: spread(g.map((r) => r.throughput)),
      p99: spread(g.map((r) => r.latency.p99)),
      mean: med((r) => r.latency.mean),
      stddev: med((r) => r.latency.stddev),
      p50: med((r) => r.latency.p50),
      p90: med((r) => r.latency.p90),
      p95: med((r) => r.latency.p95),
      p999: med((r) => r.latency.p999),
      queueUs: med((r) => r.server?.queueUs ?? Number.NaN),
      computeUs: med((r) => r.server?.computeUs ?? Number.NaN),
      batchSize: med((r) => r.server?.batchSize ?? Number.NaN),
      sendLagP99Ms: med((r) => r.sendLagP99Ms),
    };
  });
}

/** Sustained = served ≥ 95 % of the offered rate (requests/s) with no failed request. */
export function isSustained(offered: number, served: number, errors: Readonly<Record<string, number>>): boolean {
  return Object.values(errors).every((n) => n === 0) && served >= 0.95 * offered;
}

/** For open-loop rows: sustained at the median throughput of the repeats. */
export function sustained(s: LevelSummary): boolean {
  return isSustained(s.level, s.throughput.median, s.errors);
}
