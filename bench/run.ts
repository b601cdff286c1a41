/**
 * `npm run bench`, in three sections:
 * - serve: Sluice with batching, Sluice without, and a plain grpc-js + onnxruntime-node baseline,
 *   side by side on the example model and a compute-heavy MLP, over gRPC on loopback;
 * - engine: the native CPU engine against onnxruntime-node in-process (FP32 and INT8, 1 and 2
 *   threads, batch 1–256; bench/engine/);
 * - micro: tinybench micro-benchmarks of the codec and the native batcher.
 *
 *   node dist/bench/run.js [--quick] [--out DIR] [--sections serve,engine,micro]
 *                          [--models mlp,digits] [--configs batching,no-batching,baseline] [--repeats N]
 *                          [--engine-models mlp-784,mlp-2048,encoder-s32,encoder-s128] [--engine-threads 1,2]
 *
 * --models, --configs and --repeats shape the serve section; --repeats also sets the engine's.
 * Prints progress to stderr and the tables, target ratios and micro-benchmarks to stdout;
 * writes DIR/results.json and DIR/<model>.svg. The client shares the machine's cores with the
 * server under test (nothing is pinned), so client CPU is part of every figure.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { missingServeFlags } from '../src/cli/node-flags';
import { benchModel, CONFIGS, type ConfigName, type Plan, REQUEST_ROWS } from './bench-model';
import { ENGINE_MODEL_KEYS } from './engine/engine-models';
import { formatEngineTable } from './engine/engine-report';
import { ENGINE_FULL, ENGINE_QUICK, runEngineSection, type EngineReport } from './engine/engine-section';
import { fmtSig, textTable } from './format';
import type { LevelResult } from './level';
import { runMicro, type MicroReport } from './micro';
import { BENCH_MODELS, maxBatchSize, maxQueueSize, MODEL_KEYS, type ModelKey } from './models';
import { formatTables, modelSvg, writeJson } from './report';
import { summarizeLevels } from './summary';
import { countsTarget, overloadTargets, p99Target, saturationTarget, type TargetLine } from './targets';

/**
 * Sized for ~8 minutes on 2 cores with every section (473 s on 2026-11-23): 3 repeats of 1.5 s per
 * level, 8 levels per model and configuration. Open-loop rates: 0.3× and 0.6× the baseline's
 * saturation (rates it should sustain even on a busy machine, where p99s are compared) and 1.5× and
 * 3× (only a server that out-scales it can serve those). Overload starts at 2× the best throughput
 * measured and doubles while batching still keeps up (an open loop can outrun the closed-loop
 * estimate). It lasts 13 s: "memory stays flat" compares the RSS peaks of the two 4 s halves after
 * the first 5 s, in which RSS still rises to the overload's working set. In a 30 s scratch overload
 * of the bench MLP at 21,000 req/s (the server logging process.memoryUsage() every 250 ms), V8's
 * young generation doubled (16 -> 32 MiB) ~1 s in, and old space and the request buffers
 * saw-toothed with a full collection every ~3 s; the first cycle peaked at 255 MiB RSS, every later
 * one at 265-268 MiB, through 30 s. Judged over whole 8 s levels, the check missed in 3 of 6 runs
 * (+12.8% to +14.9%), as a rise that ends on either side of the middle would. With the 5 s settling
 * time it held in 5 of 7 runs (-0.5% to +2.8%); in the other two RSS peaked within 8 MiB of its
 * level before in the first half (5-9 s) and 36-37 MiB higher in the second (+15.1%, +16.0%), and a
 * third such step came in 1 of 3 runs on 2026-11-23. Since the server runs with
 * --min-semi-space-size=16 (src/cli/node-flags.ts), its young generation is at full size from the
 * start, and the halves were within +1.8% to +2.3% in 4 of 4 runs. On 2 shared cores the client and
 * the server's gRPC thread may saturate too; the client's send lag says when they do.
 */
const FULL: Plan = {
  repeats: 3, levelMs: 1_500, warmupMs: 1_500, concurrency: [1, 8, 32, 128], rateFractions: [0.3, 0.6, 1.5, 3],
  skipAbove: 1.2, overloadMs: 13_000, overloadSettleMs: 5_000, overloadFactor: 2, overloadRaises: 2, deadlineMs: 5_000, maxRequests: 400_000,
};
/** CI-sized: every code path once, in well under a minute. */
const QUICK: Plan = {
  repeats: 1, levelMs: 400, warmupMs: 300, concurrency: [1, 16], rateFractions: [0.5, 2],
  skipAbove: 1.2, overloadMs: 600, overloadSettleMs: 200, overloadFactor: 2, overloadRaises: 1, deadlineMs: 3_000, maxRequests: 50_000,
};
/** Overload is measured on the compute-heavy model, where a queue actually builds. */
const OVERLOAD_MODELS: readonly ModelKey[] = ['mlp'];
const NAMES = { batching: 'sluice-batching', noBatching: 'sluice-no-batching', baseline: 'baseline' } as const;
const SECTIONS = ['serve', 'engine', 'micro'] as const;
type Section = (typeof SECTIONS)[number];

/** A command-line mistake: printed with the usage, without a stack trace. */
class UsageError extends Error {}

function parseList<T extends string>(flag: string, raw: string | undefined, all: readonly T[], alias: (s: string) => string): T[] {
  if (raw === undefined) return [...all];
  const picked = raw.split(',').map((s) => alias(s.trim()));
  const bad = picked.filter((s) => !(all as readonly string[]).includes(s));
  if (bad.length > 0) throw new UsageError(`--${flag}: unknown ${bad.join(', ')} (choose from ${all.join(', ')})`);
  return picked as T[];
}

function parseCounts(flag: string, raw: string): number[] {
  const counts = raw.split(',').map((s) => Number(s.trim()));
  const bad = counts.filter((n) => !Number.isInteger(n) || n < 1);
  if (bad.length > 0 || counts.length === 0) throw new UsageError(`--${flag}: expected positive integers, got ${raw}`);
  return counts;
}

interface ServeReport {
  readonly summaries: ReturnType<typeof summarizeLevels>;
  readonly targets: TargetLine[];
  readonly levels: LevelResult[];
}

async function runServe(models: readonly ModelKey[], configs: readonly ConfigName[], plan: Plan, outDir: string,
  progress: (m: string) => void): Promise<ServeReport> {
  const levels: LevelResult[] = [];
  for (const key of models) {
    levels.push(...await benchModel({ model: BENCH_MODELS[key], configs, plan, workDir: outDir,
      overload: OVERLOAD_MODELS.includes(key), progress }));
  }
  const summaries = summarizeLevels(levels);
  const targets: TargetLine[] = models.flatMap((key) => {
    const name = BENCH_MODELS[key].name;
    return [saturationTarget(summaries, name, NAMES, key === 'mlp'), p99Target(summaries, name, NAMES),
      ...overloadTargets(levels.filter((r) => r.kind === 'overload'), summaries, name, maxQueueSize(key), NAMES),
      countsTarget(levels, name, REQUEST_ROWS, maxBatchSize(key))];
  });
  return { summaries, targets, levels };
}

/** Writes DIR/<model>.svg per served model; returns the paths. */
function writeServeSvgs(serve: ServeReport, models: readonly ModelKey[], configs: readonly ConfigName[], outDir: string,
  sharedNote: string): string[] {
  return models.map((key) => {
    const m = BENCH_MODELS[key];
    const file = path.join(outDir, `${key}.svg`);
    const ratios = serve.targets.filter((t) => t.target.startsWith(`${m.name}:`) && t.verdict !== 'n/a')
      .map((t) => `${t.verdict.toUpperCase()}: ${t.target.slice(m.name.length + 2)} (${t.headline})`);
    fs.writeFileSync(file, modelSvg(serve.summaries, m.name, configs, `${m.name}: latency vs throughput`,
      [m.description, sharedNote, ...ratios]));
    return file;
  });
}

function printTargets(targets: readonly TargetLine[]): void {
  for (const t of targets) {
    console.log(`  [${t.verdict}] ${t.target}${t.headline === '' ? '' : ` — ${t.headline}`}`);
    for (const line of t.detail.split('\n')) console.log(`         ${line}`);
  }
}

function printEngine(engine: EngineReport, machine: string): void {
  const p = engine.plan;
  console.log(`\nNative engine vs onnxruntime-node — ${machine}; in-process, same run; rows/s = samples/s ` +
    `(encoder: sequences/s); medians of up to ${p.repeats} interleaved repeat(s) of ~${p.repeatMs / 1e3} s a side ` +
    '(fewer when one run is long: see reps); spread = half the min–max range; ORT timed around session.run on the ' +
    'main thread, native by engine.time() (its own loop on a libuv thread)');
  if (engine.error !== undefined) console.log(`  ${engine.cells.length === 0 ? 'skipped' : 'INCOMPLETE'}: ${engine.error}`);
  if (engine.cells.length === 0) return;
  for (const m of engine.models.filter((x) => x.precision === 'fp32')) console.log(`  ${m.key}: ${m.description}`);
  console.log(formatEngineTable(engine.cells));
  console.log('\nEngine targets (every covered cell listed)');
  printTargets(engine.targets);
}

const USAGE = `usage: npm run bench -- [--quick] [--out DIR] [--sections ${SECTIONS.join(',')}]
         [--models ${MODEL_KEYS.join(',')}] [--configs batching,no-batching,baseline] [--repeats N]
         [--engine-models ${ENGINE_MODEL_KEYS.join(',')}] [--engine-threads 1,2]`;

function parseCommandLine() {
  try {
    return parseArgs({ options: {
      quick: { type: 'boolean', default: false }, out: { type: 'string', default: '.bench-results' },
      sections: { type: 'string' }, models: { type: 'string' }, configs: { type: 'string' }, repeats: { type: 'string' },
      'engine-models': { type: 'string' }, 'engine-threads': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    } });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

async function main(): Promise<void> {
  const { values } = parseCommandLine();
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const sections = parseList<Section>('sections', values.sections, SECTIONS, (s) => s);
  const base = values.quick ? QUICK : FULL;
  const repeats = values.repeats === undefined ? base.repeats : Number(values.repeats);
  if (!Number.isInteger(repeats) || repeats < 1) throw new UsageError(`--repeats must be a positive integer, got ${values.repeats}`);
  const plan: Plan = { ...base, repeats };
  const models = parseList('models', values.models, MODEL_KEYS, (s) => s);
  const configs = parseList<ConfigName>('configs', values.configs, CONFIGS, (s) => (s === 'baseline' ? s : s.startsWith('sluice-') ? s : `sluice-${s}`));
  const engineBase = values.quick ? ENGINE_QUICK : ENGINE_FULL;
  const enginePlan = { ...engineBase,
    models: values['engine-models'] === undefined ? engineBase.models : parseList('engine-models', values['engine-models'], ENGINE_MODEL_KEYS, (s) => s),
    ...(values['engine-threads'] === undefined ? {} : { threads: parseCounts('engine-threads', values['engine-threads']) }),
    ...(values.repeats === undefined ? {} : { repeats }) };
  const outDir = path.resolve(values.out);
  fs.mkdirSync(outDir, { recursive: true });

  const t0 = performance.now();
  const progress = (m: string): void => { process.stderr.write(`[${((performance.now() - t0) / 1e3).toFixed(1).padStart(6)}s] ${m}\n`); };
  const missing = missingServeFlags();
  if (missing.length > 0) {
    progress(`note: this process (the load generator) runs without ${missing.join(' ')}, which \`npm run bench\` ` +
      'passes; its garbage collections then take more of the cores the servers share with it');
  }
  const cpus = os.cpus();
  const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
  progress(`${values.quick ? 'quick' : 'full'} run on ${machine}: sections ${sections.join(', ')}` +
    (sections.includes('serve') ? `; serve: models ${models.join(', ')}, configs ${configs.join(', ')}, ` +
      `${plan.repeats} repeat(s) of ${plan.levelMs / 1e3} s per level` : '') +
    (sections.includes('engine') ? `; engine: models ${enginePlan.models.join(', ')}, batches ${enginePlan.batches.join('/')}, ` +
      `threads ${enginePlan.threads.join('/')}, ${enginePlan.repeats} repeat(s)` : ''));

  const serve = sections.includes('serve') ? await runServe(models, configs, plan, outDir, progress) : undefined;
  const engine = sections.includes('engine') ? await runEngineSection(enginePlan, progress) : undefined;
  let micro: MicroReport | { error: string } | undefined;
  if (sections.includes('micro')) {
    progress('micro-benchmarks (tinybench)');
    try {
      micro = await runMicro(values.quick ? 100 : 500);
    } catch (e) {
      micro = { error: e instanceof Error ? e.message : String(e) };
    }
  }

  const runtimeS = (performance.now() - t0) / 1e3;
  const sharedNote = `${machine}; client and server share the cores (nothing pinned); gRPC on loopback; ` +
    `1-row FP32 requests; medians of ${plan.repeats} repeat(s)`;
  const svgs = serve === undefined ? [] : writeServeSvgs(serve, models, configs, outDir, sharedNote);
  writeJson(path.join(outDir, 'results.json'), { machine, date: new Date().toISOString(), runtimeS, sections,
    ...(serve === undefined ? {} : { plan, configs, models: models.map((k) => BENCH_MODELS[k]), summaries: serve.summaries,
      targets: serve.targets, levels: serve.levels }),
    ...(engine === undefined ? {} : { engine }),
    ...(micro === undefined ? {} : { micro }) });

  if (serve !== undefined) {
    console.log(`Sluice bench — ${sharedNote}`);
    console.log('req/s = inferences/s; latency ms (client, send → answer); queue/comp µs and batch from ModelStatistics; ' +
      'spread = half the min–max range over repeats; lag p99 = how late the open-loop client sent (ms)');
    console.log(formatTables(serve.summaries, configs));
    console.log('\nTargets');
    for (const t of serve.targets) console.log(`  [${t.verdict}] ${t.target}\n         ${t.detail}`);
  }
  if (engine !== undefined) printEngine(engine, machine);
  if (micro !== undefined) {
    console.log('\nMicro-benchmarks (tinybench, µs per operation)');
    if ('error' in micro) console.log(`  failed: ${micro.error}`);
    else {
      console.log(textTable(['task', 'mean', 'p50', 'p99', 'samples', 'note'],
        micro.results.map((r) => [r.name, fmtSig(r.meanUs), fmtSig(r.p50Us), fmtSig(r.p99Us), String(r.samples), r.note])));
      for (const s of micro.skipped) console.log(`  ${s}`);
      printTargets(micro.targets);
    }
  }
  console.log(`\nWrote ${[path.join(outDir, 'results.json'), ...svgs].join(', ')} in ${runtimeS.toFixed(0)} s`);
  // A hung engine leaves work on a libuv thread that keeps the process alive: fail the run.
  if (engine?.error !== undefined && engine.cells.length > 0) process.exitCode = 1;
}

// Exit explicitly: a hung native call (reported above) would otherwise keep the process alive.
main().then(() => process.exit(), (e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
