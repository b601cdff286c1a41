/**
 * One load level against one server: ModelStatistics before and after (for server-side queue,
 * compute and batch size), the server's RSS sampled throughout, the CPU the client and the
 * server spent on the load, and the load itself.
 */
import { readFileSync } from 'node:fs';
import { BenchClient, scrapeCounters, serverFigures, type MetricsCounters, type ServerFigures } from './client';
import { runClosedLoop, runOpenLoop, type LevelSamples, type Send } from './load';
import type { BenchServer } from './server-process';
import { percentile, summarize, type LatencySummary } from './stats';

export type LevelKind = 'closed' | 'open' | 'overload';

/** How one level is driven: N outstanding, or a pre-drawn arrival schedule (ms offsets). */
export type LevelLoad =
  | { readonly kind: 'closed'; readonly concurrency: number; readonly durationMs: number; readonly maxRequests: number }
  | {
    readonly kind: 'open' | 'overload'; readonly ratePerS: number; readonly schedule: Float64Array;
    /** Where the RSS halves start, ms into the level (default 0): see LevelResult.rssMiB. */
    readonly rssSettleMs?: number;
  };

export interface LevelResult {
  readonly model: string;
  readonly config: string;
  readonly kind: LevelKind;
  /** Concurrency (closed) or offered requests/s (open, overload). */
  readonly level: number;
  readonly repeat: number;
  readonly sent: number;
  readonly ok: number;
  /** Failed requests by gRPC code name. */
  readonly errors: Readonly<Record<string, number>>;
  /** The first message per failing code. */
  readonly errorMessages: Readonly<Record<string, string>>;
  readonly windowS: number;
  /** Successful requests per second over the window; one row per request, so also inferences/s. */
  readonly throughput: number;
  /** Of successful requests, ms. */
  readonly latency: LatencySummary;
  /** p99 latency of UNAVAILABLE answers (refusals), ms; NaN when none. */
  readonly refusalP99Ms: number;
  /** Open loop: p99 of how late sends left the client, ms. */
  readonly sendLagP99Ms: number;
  /** undefined for a server without ModelStatistics (the baseline). */
  readonly server: ServerFigures | undefined;
  /** /metrics over the level (Triton's counters): undefined for the baseline. */
  readonly metrics: { readonly success: number; readonly inferences: number; readonly executions: number } | undefined;
  /**
   * Server RSS, MiB: before the level, highest sample during it, after it; and the highest
   * samples of the first and second halves (by wall time) of what follows the level's first
   * `settleMs` (0 unless the load set rssSettleMs). A server whose memory is bounded levels off:
   * its second half peaks where its first did. One that keeps growing under the same load peaks
   * higher in the second half. `perSecond`: the highest sample of each whole second of the
   * level (NaN for a second without one), to see when a rise came.
   */
  readonly rssMiB: {
    readonly before: number; readonly peak: number; readonly after: number;
    readonly settleMs: number; readonly firstHalfPeak: number; readonly secondHalfPeak: number;
    readonly perSecond: readonly number[];
  };
  /** CPU spent while the load ran (NaN for the server where /proc is unavailable). */
  readonly cpu: LevelCpu;
}

/**
 * The two processes share the machine's cores, so what the load client burns is taken from the
 * server: these figures say how much of the machine each one had. Cores = CPU seconds per
 * second of the load's wall time; µs per request = CPU time / requests sent.
 */
export interface LevelCpu {
  /** This process: the load client (its gRPC stack, timers and bookkeeping). */
  readonly clientCores: number;
  readonly clientUsPerRequest: number;
  /** The server's process, all threads (gRPC, batcher, inference). */
  readonly serverCores: number;
  readonly serverUsPerRequest: number;
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times; 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_S = 100;

/** CPU seconds (user + system, all threads) a process has used; NaN where /proc is unavailable. */
function processCpuSeconds(pid: number): number {
  try {
    // Fields after the parenthesised command name (which may itself hold spaces): utime and
    // stime are fields 14 and 15 of the line, i.e. 11 and 12 after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

const RSS_SAMPLE_MS = 100;
const MiB = 1024 * 1024;

/**
 * LevelResult.rssMiB from the bytes before and after a level of `wallMs` and the samples taken
 * during it ([ms into the level, bytes]); the halves split what follows `settleMs` (clamped to
 * the level). A half without samples (a level shorter than two sampling periods) peaks at NaN.
 */
export function rssSummary(before: number, samples: readonly (readonly [number, number])[], after: number,
  wallMs: number, settleMs: number): LevelResult['rssMiB'] {
  const settle = Math.min(Math.max(settleMs, 0), wallMs);
  const mid = (settle + wallMs) / 2;
  const peakOf = (from: number, to: number): number => {
    const inside = samples.filter(([t]) => t >= from && t < to).map(([, bytes]) => bytes);
    return inside.length === 0 ? Number.NaN : Math.max(...inside) / MiB;
  };
  const perSecond = Array.from({ length: Math.floor(wallMs / 1000) }, (_, i) => Math.round(peakOf(i * 1000, (i + 1) * 1000) * 10) / 10);
  return {
    before: before / MiB,
    peak: Math.max(before, after, ...samples.map(([, bytes]) => bytes)) / MiB,
    after: after / MiB,
    settleMs: settle,
    firstHalfPeak: peakOf(settle, mid),
    secondHalfPeak: Math.max(peakOf(mid, Number.POSITIVE_INFINITY), after / MiB),
    perSecond,
  };
}

export async function runLevel(o: {
  model: string; config: string; repeat: number; server: BenchServer; client: BenchClient; send: Send; load: LevelLoad;
}): Promise<LevelResult> {
  const before = await o.client.counters(o.model);
  const scrape = (): Promise<MetricsCounters | undefined> =>
    (o.server.metricsUrl === undefined ? Promise.resolve(undefined) : scrapeCounters(o.server.metricsUrl, o.model));
  const metricsBefore = await scrape();
  const rssBefore = o.server.rssBytes();
  const rssSamples: [number, number][] = []; // [ms since t0, bytes]
  const clientCpu0 = process.cpuUsage();
  const serverCpu0 = processCpuSeconds(o.server.pid);
  const t0 = performance.now();
  const sampler = setInterval(() => { rssSamples.push([performance.now() - t0, o.server.rssBytes()]); }, RSS_SAMPLE_MS);
  let samples: LevelSamples;
  try {
    samples = o.load.kind === 'closed' ? await runClosedLoop(o.send, o.load) : await runOpenLoop(o.send, o.load.schedule);
  } finally {
    clearInterval(sampler);
  }
  const wallMs = performance.now() - t0;
  const wallS = wallMs / 1e3;
  const clientCpu = process.cpuUsage(clientCpu0);
  const clientS = (clientCpu.user + clientCpu.system) / 1e6;
  const serverS = processCpuSeconds(o.server.pid) - serverCpu0;
  const perRequestUs = (cpuS: number): number => (samples.sent > 0 ? (cpuS / samples.sent) * 1e6 : Number.NaN);
  const rssAfter = o.server.rssBytes();
  // A server without ModelStatistics (the baseline: `before` is undefined) is not asked again.
  // After its 13 s overload level its HTTP/2 stack (grpc-js) answered with GOAWAY
  // INTERNAL_ERROR, on a new connection too, which failed the whole bench run (2026-11-23). A
  // Sluice server is asked once more, on a new connection, should the overload have cost the
  // client its old one.
  const after = before === undefined ? undefined
    : await o.client.counters(o.model).catch(() => o.client.counters(o.model));
  const metricsAfter = await scrape();
  const unavailable = Float64Array.from(samples.errors['UNAVAILABLE'] ?? []).sort();
  return {
    model: o.model,
    config: o.config,
    kind: o.load.kind,
    level: o.load.kind === 'closed' ? o.load.concurrency : o.load.ratePerS,
    repeat: o.repeat,
    sent: samples.sent,
    ok: samples.okLatencyMs.length,
    errors: Object.fromEntries(Object.entries(samples.errors).map(([code, l]) => [code, l.length])),
    errorMessages: samples.errorMessages,
    windowS: samples.windowS,
    throughput: samples.windowS > 0 ? samples.okLatencyMs.length / samples.windowS : 0,
    latency: summarize(samples.okLatencyMs),
    refusalP99Ms: percentile(unavailable, 99),
    sendLagP99Ms: samples.sendLagMs === undefined ? Number.NaN : percentile(Float64Array.from(samples.sendLagMs).sort(), 99),
    server: before !== undefined && after !== undefined ? serverFigures(before, after) : undefined,
    metrics: metricsBefore !== undefined && metricsAfter !== undefined ? {
      success: metricsAfter.success - metricsBefore.success,
      inferences: metricsAfter.inferenceCount - metricsBefore.inferenceCount,
      executions: metricsAfter.executionCount - metricsBefore.executionCount,
    } : undefined,
    rssMiB: rssSummary(rssBefore, rssSamples, rssAfter, wallMs, o.load.kind === 'closed' ? 0 : o.load.rssSettleMs ?? 0),
    cpu: { clientCores: clientS / wallS, clientUsPerRequest: perRequestUs(clientS),
      serverCores: serverS / wallS, serverUsPerRequest: perRequestUs(serverS) },
  };
}
