/** What every backend does with a model version's file and config, written once. */
import { readFile } from 'node:fs/promises';
import type { ModelConfig } from '../repository/model-config';
import { internal, invalidArgument, notFound } from '../runtime/status';

/** The model file's bytes; NOT_FOUND when it is missing, INTERNAL when it cannot be read. */
export async function readModelBytes(modelFile: string): Promise<Buffer> {
  try {
    return await readFile(modelFile);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw notFound(`model file ${modelFile} does not exist`);
    throw internal(`cannot read model file ${modelFile}: ${String(e)}`, e);
  }
}

/** A positive-integer model parameter (Triton's names), or `fallback` when absent. */
export function intParameter(config: ModelConfig, key: string, fallback: number): number {
  const raw = config.parameters.get(key);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) {
    throw invalidArgument(`model '${config.name}': parameter ${key} must be a positive integer, got '${raw}'`);
  }
  return v;
}
