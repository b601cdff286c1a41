import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { poissonSchedule, runClosedLoop, runOpenLoop, type Send } from '../../bench/load';
import { latencyThroughputSvg, linearTicks, type PlotPanel } from '../../bench/plot';
import { seededRng } from '../../bench/rng';
import { mean, percentile, spread, stddev, summarize } from '../../bench/stats';

describe('bench stats', () => {
  test('percentile is nearest rank: index = round((p/100)·(n−1))', () => {
    const ten = Float64Array.from({ length: 10 }, (_, i) => i + 1);
    assert.equal(percentile(ten, 0), 1);
    assert.equal(percentile(ten, 50), 6); // round(4.5) = 5 → 6
    assert.equal(percentile(ten, 90), 9); // round(8.1) = 8
    assert.equal(percentile(ten, 95), 10); // round(8.55) = 9
    assert.equal(percentile(ten, 100), 10);
    const thousand = Float64Array.from({ length: 1000 }, (_, i) => i);
    assert.equal(percentile(thousand, 99), 989); // round(989.01)
    assert.equal(percentile(thousand, 99.9), 998); // round(998.001)
    assert.equal(percentile([7], 99.9), 7);
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile(ten, 101), RangeError);
    assert.throws(() => percentile(ten, Number.NaN), RangeError);
  });

  test('summarize sorts, and mean/stddev are the sample figures', () => {
    const s = summarize([4, 2, 8, 6]);
    assert.deepEqual([s.count, s.min, s.max, s.mean, s.p50], [4, 2, 8, 5, 6]);
    assert.ok(Math.abs(s.stddev - Math.sqrt(20 / 3)) < 1e-12);
    assert.equal(stddev([3]), 0);
    assert.ok(Number.isNaN(mean([])));
    assert.ok(Number.isNaN(summarize([]).p99));
  });

  test('spread across repeats: median, min, max, ignoring NaN', () => {
    assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
    assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
    assert.deepEqual(spread([Number.NaN, 5]), { median: 5, min: 5, max: 5 });
    assert.ok(Number.isNaN(spread([Number.NaN]).median));
  });
});

describe('Poisson schedule', () => {
  test('mean inter-arrival ≈ 1/λ and gaps are exponential (CV ≈ 1) for a seeded RNG', () => {
    for (const [rate, seed] of [[1000, 1], [250, 2], [20_000, 3]] as const) {
      const durationMs = (20_000 / rate) * 1000; // about 20,000 arrivals
      const s = poissonSchedule(rate, durationMs, 1e6, seededRng(seed));
      const gaps = Array.from(s, (t, i) => t - (i === 0 ? 0 : (s[i - 1] as number)));
      assert.ok(gaps.every((g) => g >= 0), 'arrivals are non-decreasing');
      assert.ok((s[s.length - 1] as number) < durationMs);
      const expected = 1000 / rate;
      assert.ok(Math.abs(mean(gaps) / expected - 1) < 0.03, `rate ${rate}: mean gap ${mean(gaps)} ms vs ${expected} ms`);
      assert.ok(Math.abs(stddev(gaps) / mean(gaps) - 1) < 0.05, `rate ${rate}: CV ${stddev(gaps) / mean(gaps)}`);
      assert.ok(Math.abs(s.length / 20_000 - 1) < 0.03, `rate ${rate}: ${s.length} arrivals`);
    }
  });

  test('is reproducible from its seed and bounded in count', () => {
    assert.deepEqual(poissonSchedule(500, 1000, 100, seededRng(9)), poissonSchedule(500, 1000, 100, seededRng(9)));
    assert.equal(poissonSchedule(1e6, 1000, 100, seededRng(9)).length, 100);
    assert.throws(() => poissonSchedule(0, 1000, 10, seededRng(1)), RangeError);
  });
});

describe('load generators (fake transport)', () => {
  test('open loop sends every arrival and tallies failures by gRPC code name', async () => {
    let i = 0;
    const send: Send = (done) => { const code = i++ % 4 === 0 ? 14 : 0; setImmediate(() => done(code)); };
    const s = await runOpenLoop(send, poissonSchedule(2000, 50, 1000, seededRng(4)));
    assert.equal(s.sent, i);
    assert.equal(s.okLatencyMs.length + (s.errors['UNAVAILABLE']?.length ?? 0), s.sent);
    assert.equal(s.errors['UNAVAILABLE']?.length, Math.ceil(i / 4));
    assert.equal(s.sendLagMs?.length, s.sent);
  });

  test('closed loop keeps at most N outstanding and stops at its request bound', async () => {
    let outstanding = 0;
    let peak = 0;
    const send: Send = (done) => {
      peak = Math.max(peak, ++outstanding);
      setImmediate(() => { outstanding--; done(0); });
    };
    const s = await runClosedLoop(send, { concurrency: 5, durationMs: 60_000, maxRequests: 200 });
    assert.equal(s.sent, 200);
    assert.equal(s.okLatencyMs.length, 200);
    assert.equal(peak, 5);
    assert.equal(outstanding, 0);
  });
});

describe('latency-vs-throughput SVG', () => {
  const point = (x: number, p50: number, p99: number, label: string) => ({ x, p50, p99, p99Min: p99 * 0.9, p99Max: p99 * 1.2, label });
  const panels: PlotPanel[] = [
    { title: 'Closed loop', series: [
      { name: 'sluice-batching', color: '#0072B2', points: [point(100, 1, 2, 'c=1'), point(900, 3, 9, 'c=32')] },
      { name: 'baseline <&>', color: '#D55E00', points: [point(80, 1.5, 3, 'c=1'), point(200, 20, 80, 'c=32')] },
    ] },
    { title: 'Open loop', series: [{ name: 'sluice-batching', color: '#0072B2', points: [point(50, 0.5, 1.5, '50/s')] }] },
  ];
  const svg = latencyThroughputSvg({ title: 'mlp: latency vs throughput', notes: ['MET: x & y'], panels });

  test('is well-formed XML with an svg root', () => {
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" [^>]*viewBox="0 0 \d+ \d+"/);
    const stack: string[] = [];
    for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)\b[^>]*?(\/?)>/g)) {
      if (m[1] === '/') assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
      else if (m[3] !== '/') stack.push(m[2] as string);
    }
    assert.deepEqual(stack, []);
    assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
    assert.doesNotMatch(svg.replace(/&(amp|lt|gt|quot);/g, ''), /&/, 'every & is escaped');
  });

  test('draws a p99 and a p50 line per series per panel, and a legend entry per configuration', () => {
    const lines = (color: string) => [...svg.matchAll(new RegExp(`<g fill="none" stroke="${color}">\\s*<polyline[^>]*/>\\s*<polyline`, 'g'))].length;
    assert.equal(lines('#0072B2'), 2);
    assert.equal(lines('#D55E00'), 1);
    assert.equal([...svg.matchAll(/stroke-dasharray="6 4"/g)].length, 3 + 1); // three p50 lines + the legend key
    assert.match(svg, />sluice-batching</);
    assert.match(svg, />baseline &lt;&amp;&gt;</);
    assert.match(svg, />c=32</);
    assert.match(svg, /\d+ ms</);
  });

  test('x ticks reach past the largest throughput', () => {
    for (const max of [143, 357, 999, 1, 23_456]) {
      const t = linearTicks(max);
      assert.equal(t[0], 0);
      assert.ok((t[t.length - 1] as number) >= max, `${max}: ${t.join(',')}`);
      assert.ok(t.length >= 3 && t.length <= 12);
    }
  });
});
