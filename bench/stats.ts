/**
 * Summary statistics for the bench. Percentiles use perf_analyzer's nearest-rank rule,
 * index = round((p/100)·(n−1)) over the sorted samples, so Sluice's figures compare with
 * Triton's tools without interpolation differences.
 */

/** Nearest rank over an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.round((p / 100) * (sorted.length - 1))] as number;
}

export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] as number;
  return s / values.length;
}

/** Sample standard deviation (n − 1); 0 for a single value, NaN when empty. */
export function stddev(values: ArrayLike<number>): number {
  if (values.length < 2) return values.length === 1 ? 0 : Number.NaN;
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += ((values[i] as number) - m) ** 2;
  return Math.sqrt(s / (values.length - 1));
}

/** Latency summary in the samples' unit (the bench uses milliseconds). */
export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly stddev: number;
  readonly min: number;
  readonly max: number;
  readonly p50: number;
  readonly p90: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
}

export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    mean: mean(sorted),
    stddev: stddev(sorted),
    min: sorted.length > 0 ? (sorted[0] as number) : Number.NaN,
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
  };
}

/** One figure across repeats of a level: the median is reported, min–max is the spread. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** NaNs (a repeat with no successful request) are left out; all-NaN gives NaN throughout. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return { median, min: v[0] as number, max: v[v.length - 1] as number };
}
