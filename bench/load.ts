/**
 * Load generators. Both are transport-agnostic: they call `send(done)` and time it, so the unit
 * tests drive them with a fake. Times are milliseconds from performance.now() (µs resolution).
 *
 * Open loop: arrivals are drawn up front from a seeded Poisson process and sent on schedule
 * whether or not earlier requests have answered, so a slow server cannot slow the offered load
 * (no coordinated omission). Sends are released by timers, whose ~1 ms granularity can delay a
 * send; that delay is recorded as send lag rather than hidden. A busy-wait would send closer to
 * schedule but would burn one of the 2 cores the server needs.
 *
 * Closed loop: N requests always outstanding; each completion sends the next.
 *
 * Latency is measured from the actual send to the completion callback. Every level is bounded
 * in requests and in time: sending stops at the duration or the count, and the sender's gRPC
 * deadline bounds how long the stragglers can take.
 */
import { status } from '@grpc/grpc-js';
import type { Rng } from './rng';

/** Sends one request; calls `done` once with its gRPC status code (0 = OK) and, on failure, the message. */
export type Send = (done: (code: number, details?: string) => void) => void;

export interface LevelSamples {
  readonly sent: number;
  /** First send → last completion, seconds: the window throughput is measured over. */
  readonly windowS: number;
  /** Latencies of successful requests, ms, in completion order. */
  readonly okLatencyMs: Float64Array;
  /** Failed requests by gRPC code name, with their latencies (ms): e.g. how fast a refusal came. */
  readonly errors: Readonly<Record<string, readonly number[]>>;
  /** The first message seen per failing code, so a report can say what failed. */
  readonly errorMessages: Readonly<Record<string, string>>;
  /** Open loop only: actual send time − scheduled time, ms. */
  readonly sendLagMs: Float64Array | undefined;
}

/** Arrival times (ms from start) of a Poisson process of `ratePerS`, within `durationMs`, at most `max`. */
export function poissonSchedule(ratePerS: number, durationMs: number, max: number, rng: Rng): Float64Array {
  if (!(ratePerS > 0) || !Number.isFinite(ratePerS)) throw new RangeError(`rate must be positive, got ${ratePerS}`);
  const out: number[] = [];
  const meanGapMs = 1000 / ratePerS;
  // Exponential gaps by inversion; 1 − u is in (0, 1], so the log is finite.
  for (let t = -Math.log(1 - rng()) * meanGapMs; t < durationMs && out.length < max; t += -Math.log(1 - rng()) * meanGapMs) {
    out.push(t);
  }
  return Float64Array.from(out);
}

export function runOpenLoop(send: Send, schedule: Float64Array): Promise<LevelSamples> {
  const n = schedule.length;
  const latency = new Float64Array(n);
  const codes = new Int32Array(n);
  const lag = new Float64Array(n);
  const messages = new Map<number, string>();
  return new Promise((resolve) => {
    const t0 = performance.now();
    let lastDone = t0;
    let next = 0;
    let completed = 0;
    const finish = (): void => resolve(collect(latency, codes, messages, n, (lastDone - t0) / 1e3, lag));
    const fire = (i: number): void => {
      const sentAt = performance.now();
      lag[i] = sentAt - t0 - (schedule[i] as number);
      send((code, details) => {
        lastDone = performance.now();
        latency[i] = lastDone - sentAt;
        codes[i] = code;
        if (details !== undefined && !messages.has(code)) messages.set(code, details);
        if (++completed === n) finish();
      });
    };
    const pump = (): void => {
      const now = performance.now() - t0;
      while (next < n && (schedule[next] as number) <= now) fire(next++);
      if (next < n) setTimeout(pump, (schedule[next] as number) - (performance.now() - t0));
    };
    if (n === 0) finish();
    else pump();
  });
}

export function runClosedLoop(send: Send, o: { concurrency: number; durationMs: number; maxRequests: number }): Promise<LevelSamples> {
  const latency = new Float64Array(o.maxRequests);
  const codes = new Int32Array(o.maxRequests);
  const messages = new Map<number, string>();
  return new Promise((resolve) => {
    const t0 = performance.now();
    let lastDone = t0;
    let issued = 0;
    let outstanding = 0;
    const issue = (): void => {
      const i = issued++;
      outstanding++;
      const sentAt = performance.now();
      send((code, details) => {
        lastDone = performance.now();
        latency[i] = lastDone - sentAt;
        codes[i] = code;
        if (details !== undefined && !messages.has(code)) messages.set(code, details);
        outstanding--;
        if (issued < o.maxRequests && lastDone - t0 < o.durationMs) issue();
        else if (outstanding === 0) resolve(collect(latency, codes, messages, issued, (lastDone - t0) / 1e3, undefined));
      });
    };
    const n = Math.min(o.concurrency, o.maxRequests);
    if (n === 0) resolve(collect(latency, codes, messages, 0, 0, undefined));
    for (let i = 0; i < n; i++) issue();
  });
}

const codeName = (code: number): string => status[code] ?? `CODE_${code}`;

function collect(latency: Float64Array, codes: Int32Array, messages: ReadonlyMap<number, string>, sent: number,
  windowS: number, lag: Float64Array | undefined): LevelSamples {
  const ok: number[] = [];
  const errors: Record<string, number[]> = {};
  for (let i = 0; i < sent; i++) {
    const code = codes[i] as number;
    const ms = latency[i] as number;
    if (code === status.OK) ok.push(ms);
    else (errors[codeName(code)] ??= []).push(ms);
  }
  const errorMessages = Object.fromEntries([...messages].map(([code, m]) => [codeName(code), m]));
  return { sent, windowS, okLatencyMs: Float64Array.from(ok), errors, errorMessages, sendLagMs: lag };
}
