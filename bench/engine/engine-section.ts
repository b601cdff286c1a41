/**
 * The bench's `engine` section: every model × precision × thread count × batch size, native
 * engine against onnxruntime-node in the same process and run, then the targets.
 */
import { native } from '../../src/native';
import type { TargetLine } from '../targets';
import { buildModelPair, ENGINE_MODELS, type EngineModelKey, type Precision } from './engine-models';
import { engineTargets } from './engine-report';
import { measureModel, type CellResult, type MeasurePlan } from './measure';

export interface EnginePlan extends MeasurePlan {
  readonly models: readonly EngineModelKey[];
}

/**
 * 4 models × 2 precisions × 2 thread counts × 4 batches = 64 cells of 5 repeats of ~0.25 s a
 * side: ~3 minutes when both sides are fast. A cell whose single run is long (the encoder at
 * sequence 128, batch 256, is ~56 GFLOP a run) gets fewer repeats, so slow reference kernels
 * cost minutes, not hours.
 */
export const ENGINE_FULL: EnginePlan = {
  models: ['mlp-784', 'mlp-2048', 'encoder-s32', 'encoder-s128'],
  batches: [1, 8, 32, 256], threads: [1, 2], repeats: 5, repeatMs: 250, cellBudgetMs: 8_000,
};
/** CI-sized: each model kind once at sequence 32, batches 1 and 32, one short repeat. */
export const ENGINE_QUICK: EnginePlan = {
  models: ['mlp-784', 'mlp-2048', 'encoder-s32'],
  batches: [1, 32], threads: [1, 2], repeats: 1, repeatMs: 100, cellBudgetMs: 1_500,
};

export interface EngineModelInfo {
  readonly key: EngineModelKey;
  readonly precision: Precision;
  readonly description: string;
  readonly bytes: number;
  /** The engine's optimized plan (fused ops named), when it loaded the model. */
  readonly plan?: string;
}

export interface EngineReport {
  readonly plan: EnginePlan;
  readonly models: EngineModelInfo[];
  readonly cells: CellResult[];
  readonly targets: TargetLine[];
  /** Set when the section could not run (no addon) or stopped early (the engine hung). */
  readonly error?: string;
}

const cellId = (c: Pick<CellResult, 'model' | 'precision' | 'threads' | 'batch'>): string =>
  `${c.model}/${c.precision}/${c.threads}/${c.batch}`;

export async function runEngineSection(plan: EnginePlan, progress: (m: string) => void): Promise<EngineReport> {
  try {
    native();
  } catch (e) {
    const error = `native addon not loadable: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`;
    return { plan, models: [], cells: [], targets: [], error };
  }
  const models: EngineModelInfo[] = [];
  const cells: CellResult[] = [];
  let hung: string | undefined;
  for (const key of plan.models) {
    const spec = ENGINE_MODELS[key];
    if (hung === undefined) progress(`engine: building ${key} (FP32, then INT8 QDQ calibrated on 64 samples)`);
    for (const built of hung === undefined ? await buildModelPair(spec) : []) {
      const measured = await measureModel(built, plan, progress);
      cells.push(...measured.cells);
      models.push({ key, precision: built.precision, description: spec.description, bytes: built.bytes.length,
        ...(measured.plan === undefined ? {} : { plan: measured.plan }) });
      if (measured.hung !== undefined) {
        hung = measured.hung;
        break;
      }
    }
  }
  if (hung !== undefined) {
    // Every cell not measured is listed as such, so no target reads as met for want of cells.
    const seen = new Set(cells.map(cellId));
    for (const model of plan.models) {
      for (const precision of ['fp32', 'int8'] as const) {
        for (const threads of plan.threads) {
          for (const batch of plan.batches) {
            const cell = { model, precision, threads, batch, error: 'not measured: the engine hung earlier' };
            if (!seen.has(cellId(cell))) cells.push(cell);
          }
        }
      }
    }
  }
  return { plan, models, cells, targets: engineTargets(cells), ...(hung === undefined ? {} : { error: `stopped: ${hung}` }) };
}
