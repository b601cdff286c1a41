/**
 * Finds and loads sluice.node. Candidates, in order: $SLUICE_ADDON_PATH, then the cmake-js
 * outputs build/Release and build/Debug under the package root. A failure lists every path
 * tried and why each one failed, since "module not found" alone does not say what to fix.
 * Candidates go through require(), so a path not ending in .node loads as a JS module: a fake
 * binding for tests works the same way.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';

import { SluiceError } from '../runtime/status';
import { NATIVE_EXPORTS, type NativeBinding } from './binding';

/** This file runs from <root>/dist/src/native/. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

export function defaultCandidates(): string[] {
  const fromEnv = process.env['SLUICE_ADDON_PATH'];
  return [
    ...(fromEnv !== undefined && fromEnv !== '' ? [path.resolve(fromEnv)] : []),
    path.join(PACKAGE_ROOT, 'build', 'Release', 'sluice.node'),
    path.join(PACKAGE_ROOT, 'build', 'Debug', 'sluice.node'),
  ];
}

/** Loads the first candidate that exists, loads, and has the full export table. */
export function loadNative(candidates: readonly string[] = defaultCandidates()): NativeBinding {
  const failures: string[] = [];
  let lastError: unknown;
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      failures.push(`${candidate}: not found`);
      continue;
    }
    let mod: Record<string, unknown>;
    try {
      // require() rather than process.dlopen: it caches per path and per thread, so every
      // caller in a thread shares one module instance.
      mod = require(candidate) as Record<string, unknown>;
    } catch (e) {
      lastError = e;
      failures.push(`${candidate}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    const missing = NATIVE_EXPORTS.filter((name) => !(name in mod));
    if (missing.length > 0) {
      failures.push(`${candidate}: loaded, but lacks ${missing.join(', ')} (stale build?)`);
      continue;
    }
    return mod as unknown as NativeBinding;
  }
  const tried = failures.length > 0 ? failures.map((f) => `  - ${f}`).join('\n') : '  (no candidates)';
  throw new SluiceError(
    'UNAVAILABLE',
    `Sluice native addon could not be loaded. Tried:\n${tried}\n` +
      'Hint: run `npm install` (needs cmake and a C++ compiler) to build it, ' +
      'or set SLUICE_ADDON_PATH to a built sluice.node.',
    lastError === undefined ? undefined : { cause: lastError },
  );
}

let cached: NativeBinding | undefined;

/** The addon for this thread, loaded on first use. A failed load is retried on the next call. */
export function native(): NativeBinding {
  cached ??= loadNative();
  return cached;
}
