/**
 * One load level against one server: ModelStatistics before and after (for server-side queue,
 * compute and batch size), the server's RSS sampled throughout, and the load itself.
 */
import { BenchClient, serverFigures, type ServerFigures } from './client';
import { runClosedLoop, runOpenLoop, type LevelSamples, type Send } from './load';
import type { BenchServer } from './server-process';
import { percentile, summarize, type LatencySummary } from './stats';

export type LevelKind = 'closed' | 'open' | 'overload';

/** How one level is driven: N outstanding, or a pre-drawn arrival schedule (ms offsets). */
export type LevelLoad =
  | { readonly kind: 'closed'; readonly concurrency: number; readonly durationMs: number; readonly maxRequests: number }
  | { readonly kind: 'open' | 'overload'; readonly ratePerS: number; readonly schedule: Float64Array };

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
  /** Server RSS, MiB: before the level, highest sample during it, after it. */
  readonly rssMiB: { readonly before: number; readonly peak: number; readonly after: number };
}

const RSS_SAMPLE_MS = 100;
const MiB = 1024 * 1024;

export async function runLevel(o: {
  model: string; config: string; repeat: number; server: BenchServer; client: BenchClient; send: Send; load: LevelLoad;
}): Promise<LevelResult> {
  const before = await o.client.counters(o.model);
  const rssBefore = o.server.rssBytes();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, o.server.rssBytes()); }, RSS_SAMPLE_MS);
  let samples: LevelSamples;
  try {
    samples = o.load.kind === 'closed' ? await runClosedLoop(o.send, o.load) : await runOpenLoop(o.send, o.load.schedule);
  } finally {
    clearInterval(sampler);
  }
  const rssAfter = o.server.rssBytes();
  const after = await o.client.counters(o.model);
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
    rssMiB: { before: rssBefore / MiB, peak: Math.max(rssPeak, rssAfter) / MiB, after: rssAfter / MiB },
  };
}
