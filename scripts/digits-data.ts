/**
 * The digits data set as the example model uses it: loading examples/data/digits.csv.gz and the
 * fixed, seeded, stratified train / held-out split. Shared by scripts/train-example.ts and the
 * tests that check the served model's held-out accuracy.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

export const PIXELS = 64;
export const CLASSES = 10;
export const HELD_OUT_FRACTION = 0.2;
/** The split is the first use of prng(SEED), so anyone can recompute it. */
export const SEED = 20240611;

export interface Sample { readonly row: number; readonly pixels: Float64Array; readonly label: number }

/** mulberry32: a small, fast, seedable PRNG; uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], rand: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export function loadDigits(file: string): Sample[] {
  const lines = zlib.gunzipSync(fs.readFileSync(file)).toString('utf8').trim().split('\n');
  return lines.map((line, row) => {
    const v = line.split(',').map(Number);
    if (v.length !== PIXELS + 1 || v.some((x) => !Number.isInteger(x))) throw new Error(`${file}:${row + 1}: bad row`);
    return { row, pixels: Float64Array.from(v.slice(0, PIXELS)), label: v[PIXELS] as number };
  });
}

/** Per class, a fixed random HELD_OUT_FRACTION goes to held-out; both halves keep CSV order. */
export function stratifiedSplit(samples: Sample[], rand: () => number): { train: Sample[]; heldOut: Sample[] } {
  const heldOutRows = new Set<number>();
  for (let c = 0; c < CLASSES; c++) {
    const rows = shuffle(samples.filter((s) => s.label === c).map((s) => s.row), rand);
    for (const r of rows.slice(0, Math.round(rows.length * HELD_OUT_FRACTION))) heldOutRows.add(r);
  }
  return { train: samples.filter((s) => !heldOutRows.has(s.row)), heldOut: samples.filter((s) => heldOutRows.has(s.row)) };
}

