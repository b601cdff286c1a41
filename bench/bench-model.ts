/**
 * Benchmarks one model: starts its three servers, warms them, then runs the closed-loop sweep,
 * the open-loop sweep (rates derived from the baseline's measured saturation) and, where asked,
 * the overload level. Repeats are interleaved across configurations (A B C A B C …) so that
 * the shared machine's slow moments fall on all of them alike rather than on one.
 */
import * as path from 'node:path';
import { BenchClient, checkInferResponse, encodeInferRequest } from './client';
import { fmtFixed, fmtInt, fmtSig } from './format';
import { runLevel, type LevelLoad, type LevelResult } from './level';
import { poissonSchedule, runClosedLoop, type Send } from './load';
import { maxInferRequests, writeBenchRepositories, type BenchModel } from './models';
import { seededRng } from './rng';
import { startBaseline, startSluice, type BenchServer } from './server-process';
import { isSustained, summarizeLevels } from './summary';
import { saturation } from './targets';

export const CONFIGS = ['sluice-batching', 'sluice-no-batching', 'baseline'] as const;
export type ConfigName = (typeof CONFIGS)[number];

export interface Plan {
  readonly repeats: number;
  /** Sending time per level and repeat, ms. */
  readonly levelMs: number;
  readonly warmupMs: number;
  readonly concurrency: readonly number[];
  /** Open-loop rates as multiples of the baseline's saturation throughput. */
  readonly rateFractions: readonly number[];
  /**
   * Above the reference's saturation, a configuration skips rates over this multiple of its own
   * saturation (overload is measured apart).
   */
  readonly skipAbove: number;
  readonly overloadMs: number;
  /** How long into an overload level RSS may still rise before "memory stays flat" is judged. */
  readonly overloadSettleMs: number;
  /** Overload rate as a multiple of the best throughput measured for the model (any configuration, any level). */
  readonly overloadFactor: number;
  /** How many times the overload rate may double while the first configuration still sustains it. */
  readonly overloadRaises: number;
  /** gRPC deadline of every request: bounds how long a level can run past its sending time. */
  readonly deadlineMs: number;
  readonly maxRequests: number;
}

interface ServerUnderTest {
  readonly config: ConfigName;
  readonly server: BenchServer;
  readonly client: BenchClient;
  readonly send: Send;
}

export type Progress = (message: string) => void;

/** Two significant digits: offered rates read as round numbers. */
function roundRate(r: number): number {
  const pow = 10 ** Math.max(0, Math.floor(Math.log10(r)) - 1);
  return Math.max(1, Math.round(r / pow) * pow);
}

async function startServerUnderTest(config: ConfigName, model: BenchModel, repos: ReturnType<typeof writeBenchRepositories>,
  request: Buffer, deadlineMs: number): Promise<ServerUnderTest> {
  const server = config === 'baseline' ? await startBaseline(repos.modelFile, model.name)
    : config === 'sluice-batching'
      ? await startSluice(repos.batching, ['--max-infer-requests', String(maxInferRequests(model.key))])
      : await startSluice(repos.noBatching);
  const client = new BenchClient(server.address);
  checkInferResponse(model, await client.inferOnce(request));
  return { config, server, client, send: (done) => client.infer(request, deadlineMs, (code, details) => done(code, details)) };
}

/** Rows in every request the bench sends. */
export const REQUEST_ROWS = 1;

export async function benchModel(o: { model: BenchModel; configs: readonly ConfigName[]; plan: Plan; workDir: string;
  overload: boolean; progress: Progress }): Promise<LevelResult[]> {
  const { model, plan, progress } = o;
  const repos = writeBenchRepositories(path.join(o.workDir, 'repos', model.key), model);
  const request = encodeInferRequest(model, REQUEST_ROWS);
  const results: LevelResult[] = [];
  const servers: ServerUnderTest[] = [];
  try {
    for (const config of o.configs) {
      progress(`${model.key}: starting ${config}`);
      servers.push(await startServerUnderTest(config, model, repos, request, plan.deadlineMs));
    }
    for (const t of servers) {
      await runClosedLoop(t.send, { concurrency: 8, durationMs: plan.warmupMs, maxRequests: plan.maxRequests });
    }
    progress(`${model.key}: warmed up (${fmtFixed(plan.warmupMs / 1e3, 1)} s each); RSS ` +
      servers.map((t) => `${t.config} ${fmtInt(t.server.rssBytes() / 2 ** 20)} MiB`).join(', '));

    const run = async (t: ServerUnderTest, load: LevelLoad, repeat: number, label: string): Promise<LevelResult> => {
      const r = await runLevel({ model: model.name, config: t.config, repeat, server: t.server, client: t.client, send: t.send, load });
      results.push(r);
      const failed = Object.entries(r.errors).map(([c, n]) => `${c} ${n}`).join(', ');
      progress(`${model.key} ${label} rep ${repeat + 1}/${plan.repeats} ${t.config}: ${fmtInt(r.throughput)} req/s, ` +
        `p50 ${fmtSig(r.latency.p50)} ms, p99 ${fmtSig(r.latency.p99)} ms` +
        (r.server !== undefined ? `, batch ${fmtFixed(r.server.batchSize, 1)}` : '') +
        `; CPU client ${fmtFixed(r.cpu.clientCores, 2)} / server ${fmtFixed(r.cpu.serverCores, 2)} cores, ` +
        `client ${fmtInt(r.cpu.clientUsPerRequest)} µs/req` + (failed !== '' ? `, errors ${failed}` : ''));
      return r;
    };

    for (const concurrency of plan.concurrency) {
      for (let rep = 0; rep < plan.repeats; rep++) {
        for (const t of servers) {
          await run(t, { kind: 'closed', concurrency, durationMs: plan.levelMs, maxRequests: plan.maxRequests }, rep, `closed c=${concurrency}`);
        }
      }
    }

    const closed = summarizeLevels(results);
    const sat = new Map(servers.map((t) => [t.config, saturation(closed, model.name, t.config)?.throughput.median ?? 0]));
    const reference = sat.get('baseline') ?? Math.min(...sat.values());
    const rates = [...new Set(plan.rateFractions.map((f) => roundRate(f * reference)))];
    progress(`${model.key}: saturation ${[...sat].map(([c, s]) => `${c} ${fmtInt(s)}`).join(', ')} req/s; ` +
      `open-loop rates ${rates.map(fmtInt).join(', ')} req/s`);
    for (const [i, rate] of rates.entries()) {
      for (let rep = 0; rep < plan.repeats; rep++) {
        // One schedule per rate and repeat, shared by the configurations: they face the same arrivals.
        const schedule = poissonSchedule(rate, plan.levelMs, plan.maxRequests, seededRng(1000 * rep + i + 1));
        for (const t of servers) {
          // Every configuration runs the rates the reference sustains (that is where p99s are
          // compared); above it, one that cannot keep up would only measure its own backlog.
          if (rate > reference && rate > plan.skipAbove * (sat.get(t.config) ?? 0)) {
            if (rep === 0) progress(`${model.key} open ${fmtInt(rate)}/s ${t.config}: skipped, above ${plan.skipAbove}× its saturation`);
            continue;
          }
          await run(t, { kind: 'open', ratePerS: rate, schedule }, rep, `open ${fmtInt(rate)}/s`);
        }
      }
    }

    if (o.overload) {
      // Relative to the best saturation, open loop included: an open loop can outrun the
      // closed-loop sweep, whose top concurrency may not saturate batching.
      const all = summarizeLevels(results);
      let rate = roundRate(plan.overloadFactor *
        Math.max(...servers.map((t) => saturation(all, model.name, t.config)?.throughput.median ?? 0)));
      // Last phase: each server is stopped right after its overload level, so the backlog an
      // unbounded server is still working through cannot steal CPU from the next one. Against an
      // unbounded queue the requests' deadlines expire by the thousand, and the server's HTTP/2
      // stack (nghttp2's rapid-reset limit) may then drop the connection: every call still on it
      // fails INTERNAL. That is what a client with deadlines would see, so it is reported as is.
      for (const [i, t] of servers.entries()) {
        // The first configuration (batching, unless --configs says otherwise) sets the rate: while
        // it still sustains it, the rate doubles (at most overloadRaises times), so the level
        // really overloads it; the others then face that same rate.
        for (let raises = 0; ; raises++) {
          const schedule = poissonSchedule(rate, plan.overloadMs, plan.maxRequests, seededRng(7));
          const r = await run(t, { kind: 'overload', ratePerS: rate, schedule, rssSettleMs: plan.overloadSettleMs }, 0, `overload ${fmtInt(rate)}/s`);
          if (i > 0 || raises === plan.overloadRaises || !isSustained(r.level, r.throughput, r.errors)) break;
          rate = roundRate(2 * rate);
        }
        t.client.close();
        await t.server.stop(3_000);
      }
    }
  } finally {
    for (const t of servers) {
      t.client.close();
      await t.server.stop(3_000);
    }
  }
  return results;
}
