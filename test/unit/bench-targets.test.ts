/**
 * The bench's counts check: it passes only when the client's OK answers, ModelStatistics and
 * /metrics tell the same story, and names the level and the figures when they do not. The
 * overload check: memory must level off, not merely start and end close together, judged after
 * the level's settling time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rssSummary, type LevelResult } from '../../bench/level';
import type { LevelSummary } from '../../bench/summary';
import { summarize } from '../../bench/stats';
import { batcherStartTarget, countsTarget, overloadTargets } from '../../bench/targets';

function level(ok: number, stats: [number, number, number], metrics: [number, number, number] | undefined,
  errors: Record<string, number> = {}, config = 'sluice-batching'): LevelResult {
  return {
    model: 'mlp', config, kind: 'closed', level: 8, repeat: 0, sent: ok, ok, errors,
    server: { successes: stats[0], inferences: stats[1], executions: stats[2] },
    metrics: metrics === undefined ? undefined : { success: metrics[0], inferences: metrics[1], executions: metrics[2] },
  } as unknown as LevelResult;
}

test('counts agree: met when all three match on every clean level', () => {
  const t = countsTarget([level(100, [100, 100, 20], [100, 100, 20]), level(5, [5, 5, 5], [5, 5, 5])], 'mlp');
  assert.equal(t.verdict, 'met');
  assert.match(t.detail, /2 Sluice levels without errors \(105 requests\)/);
});

test('counts agree: a /metrics or a client disagreement is a miss that names the level', () => {
  const metricsOff = countsTarget([level(100, [100, 100, 20], [100, 100, 19])], 'mlp');
  assert.equal(metricsOff.verdict, 'missed');
  assert.match(metricsOff.detail, /closed 8 rep 1: \/metrics 100\/100\/19 vs ModelStatistics 100\/100\/20/);
  const clientOff = countsTarget([level(99, [100, 100, 20], [100, 100, 20])], 'mlp');
  assert.equal(clientOff.verdict, 'missed');
  assert.match(clientOff.detail, /client OK 99 vs ModelStatistics successes 100/);
  assert.equal(countsTarget([level(100, [100, 100, 20], undefined)], 'mlp').verdict, 'missed');
});

test('counts agree: rows and executions are checked against what the client sent, not only /metrics against ModelStatistics', () => {
  // Both server-side sources agree, yet rows are not one per OK request.
  const rowsOff = countsTarget([level(100, [100, 101, 20], [100, 101, 20])], 'mlp', 1, 128);
  assert.equal(rowsOff.verdict, 'missed');
  assert.match(rowsOff.detail, /client sent 100 rows in OK requests vs ModelStatistics rows 101/);
  // Batches of at most 8 rows: 100 one-row requests need at least 13 executions.
  assert.match(countsTarget([level(100, [100, 100, 12], [100, 100, 12])], 'mlp', 1, 8).detail, /executions 12 outside 13\.\.100/);
  assert.equal(countsTarget([level(100, [100, 100, 13], [100, 100, 13])], 'mlp', 1, 8).verdict, 'met');
  // With batching off, every request is its own execution.
  const off = countsTarget([level(100, [100, 100, 99], [100, 100, 99], {}, 'sluice-no-batching')], 'mlp', 1, 128);
  assert.match(off.detail, /executions 99 outside 100\.\.100/);
  // Two-row requests count two rows each.
  assert.equal(countsTarget([level(50, [50, 100, 10], [50, 100, 10])], 'mlp', 2, 128).verdict, 'met');
});

test('counts agree: levels with client errors are left out, and none left is n/a', () => {
  const t = countsTarget([level(90, [95, 95, 10], [96, 96, 10], { DEADLINE_EXCEEDED: 10 })], 'mlp');
  assert.equal(t.verdict, 'n/a');
});

const NAMES = { batching: 'sluice-batching', noBatching: 'sluice-no-batching', baseline: 'baseline' };
// Saturation 10,000 req/s with a 500-request queue: accepted p99 is bounded by 100 ms.
const SATURATION = { model: 'mlp', config: 'sluice-batching', kind: 'closed', level: 128,
  throughput: { median: 10_000, min: 10_000, max: 10_000 } } as unknown as LevelSummary;

function overload(rss: { before: number; firstHalfPeak: number; secondHalfPeak: number }, refusalP99Ms = 5,
  settleMs = 5_000): LevelResult {
  return {
    model: 'mlp', config: 'sluice-batching', kind: 'overload', level: 20_000, repeat: 0, sent: 160_000, ok: 80_000,
    errors: { UNAVAILABLE: 80_000 }, latency: { p99: 60 }, refusalP99Ms, sendLagP99Ms: 1,
    rssMiB: { ...rss, settleMs, perSecond: [], peak: Math.max(rss.firstHalfPeak, rss.secondHalfPeak), after: rss.secondHalfPeak },
  } as unknown as LevelResult;
}

const judge = (r: LevelResult) => {
  const [line] = overloadTargets([r], [SATURATION], 'mlp', 500, NAMES);
  assert.ok(line !== undefined);
  return line;
};

test('overload: RSS that rises once and then levels off is flat; the rise is reported', () => {
  const t = judge(overload({ before: 170, firstHalfPeak: 200, secondHalfPeak: 203 }));
  assert.equal(t.verdict, 'met', t.detail);
  assert.match(t.headline, /RSS \+30 MiB to the first half's peak, \+1\.5% in the second/);
  assert.match(t.detail, /RSS 170 MiB before, peaks 200 and 203 MiB in the halves after its first 5 s \(\+1\.5%\)/);
  const unsettled = judge(overload({ before: 170, firstHalfPeak: 200, secondHalfPeak: 203 }, 5, 0));
  assert.match(unsettled.detail, /peaks 200 and 203 MiB in the halves of the level \(\+1\.5%\)/);
});

test('overload: RSS still growing in the second half is a miss, as are slow refusals and a missing half', () => {
  const growing = judge(overload({ before: 170, firstHalfPeak: 200, secondHalfPeak: 240 }));
  assert.equal(growing.verdict, 'missed');
  assert.match(growing.detail, /not met: RSS flat \(second half's peak ≤ \+5% over the first's\)$/);
  const slow = judge(overload({ before: 170, firstHalfPeak: 200, secondHalfPeak: 200 }, 12));
  assert.match(slow.detail, /not met: refusals ≤ 10 ms$/);
  const unsampled = judge(overload({ before: 170, firstHalfPeak: Number.NaN, secondHalfPeak: 200 }));
  assert.equal(unsampled.verdict, 'missed');
});

test('overload RSS halves: the settling time is left out, and the halves split what follows it', () => {
  const MiB = 2 ** 20;
  // 13 s sampled every 100 ms, flat at 250 MiB but for a 270 at 4.5 s and a 265 at 8.9 s.
  const spikes = new Map([[4_500, 270], [8_900, 265]]);
  const samples: [number, number][] = [];
  for (let t = 0; t < 13_000; t += 100) samples.push([t, (spikes.get(t) ?? 250) * MiB]);
  const settled = rssSummary(190 * MiB, samples, 248 * MiB, 13_000, 5_000);
  const perSecond = [250, 250, 250, 250, 270, 250, 250, 250, 265, 250, 250, 250, 250];
  assert.deepEqual(settled, { before: 190, peak: 270, after: 248, settleMs: 5_000, firstHalfPeak: 265, secondHalfPeak: 250, perSecond });
  // From the start the halves are [0, 6.5) and [6.5, 13) s.
  const whole = rssSummary(190 * MiB, samples, 248 * MiB, 13_000, 0);
  assert.deepEqual([whole.firstHalfPeak, whole.secondHalfPeak], [270, 265]);
  // A settling time past the level is clamped to it: no sample is left for either half, whose
  // peaks are then NaN (which the overload check counts as a miss).
  const clamped = rssSummary(190 * MiB, samples, 248 * MiB, 13_000, 20_000);
  assert.equal(clamped.settleMs, 13_000);
  assert.ok(Number.isNaN(clamped.firstHalfPeak) && Number.isNaN(clamped.secondHalfPeak));
});

test('batcher overhead: met when both arrival patterns are within p50 10 µs and p99 50 µs, else missed', () => {
  const fast = summarize(Array.from({ length: 1000 }, (_, i) => (i < 985 ? 2 + (i % 5) : 40))); // p50 4, p99 40
  const met = batcherStartTarget(fast, fast, 5, undefined);
  assert.equal(met.verdict, 'met');
  assert.match(met.target, /, default spin window: p50 ≤ 10 µs, p99 ≤ 50 µs$/);
  assert.match(met.detail, /5 ms apart \(the batch source asleep\)/);
  const spinning = batcherStartTarget(fast, fast, 5, 10_000);
  assert.match(spinning.target, /, sluice\.idle_spin_us 10,000: /);
  assert.match(spinning.detail, /5 ms apart \(the batch source spinning through the gap, one core busy while idle\)/);
  assert.match(met.headline, /^back to back p50 4\.00 µs, p99 40\.0 µs; 5 ms apart p50 4\.00 µs, p99 40\.0 µs$/);
  const slowTail = summarize(Array.from({ length: 1000 }, (_, i) => (i < 985 ? 4 : 60)));
  const slowMedian = summarize(Array.from({ length: 1000 }, () => 12));
  assert.equal(batcherStartTarget(fast, slowTail, 5, undefined).verdict, 'missed');
  assert.equal(batcherStartTarget(slowMedian, fast, 5, undefined).verdict, 'missed');
  assert.equal(batcherStartTarget(fast, summarize([]), 5, undefined).verdict, 'n/a');
});
