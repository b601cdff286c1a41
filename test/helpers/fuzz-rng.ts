import { seededRng } from '../../bench/rng';

/** Draws for the seeded fuzz tests, on the bench's PRNG: a seed gives the same inputs everywhere. */
export function fuzzRng(seed: number) {
  const next = seededRng(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next, int,
    pick: <T>(a: readonly T[]): T => a[int(a.length)] as T,
    bytes: (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256))),
  };
}
export type FuzzRng = ReturnType<typeof fuzzRng>;
