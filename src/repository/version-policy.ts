import type { VersionPolicy } from './model-config';

/** Triton's default when a config names no policy: serve the newest version only. */
export const DEFAULT_VERSION_POLICY: VersionPolicy = { kind: 'latest', numVersions: 1 };

export interface VersionSelection {
  /** Versions to serve, ascending. */
  readonly selected: readonly number[];
  /** Versions a `specific` policy lists that are not on disk, ascending (always empty otherwise). */
  readonly missing: readonly number[];
}

/** Which of the versions on disk a policy serves. Pure; duplicates in either list count once. */
export function selectVersions(policy: VersionPolicy, available: readonly number[]): VersionSelection {
  const onDisk = ascendingUnique(available);
  switch (policy.kind) {
    case 'latest':
      return { selected: onDisk.slice(Math.max(0, onDisk.length - policy.numVersions)), missing: [] };
    case 'all':
      return { selected: onDisk, missing: [] };
    case 'specific': {
      const have = new Set(onDisk);
      const wanted = ascendingUnique(policy.versions);
      return { selected: wanted.filter((v) => have.has(v)), missing: wanted.filter((v) => !have.has(v)) };
    }
  }
}

function ascendingUnique(versions: readonly number[]): number[] {
  return [...new Set(versions)].sort((a, b) => a - b);
}
