import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_VERSION_POLICY, selectVersions } from '../../src/repository/version-policy';

describe('selectVersions', () => {
  test('latest N serves the N highest versions, ascending', () => {
    assert.deepEqual(selectVersions({ kind: 'latest', numVersions: 2 }, [3, 10, 1, 2]),
      { selected: [3, 10], missing: [] });
    assert.deepEqual(selectVersions({ kind: 'latest', numVersions: 5 }, [2, 1]), { selected: [1, 2], missing: [] });
  });

  test('the default is latest 1', () => {
    assert.deepEqual(DEFAULT_VERSION_POLICY, { kind: 'latest', numVersions: 1 });
    assert.deepEqual(selectVersions(DEFAULT_VERSION_POLICY, [9, 10, 2]), { selected: [10], missing: [] });
  });

  test('versions compare as numbers, not strings', () => {
    assert.deepEqual(selectVersions({ kind: 'latest', numVersions: 1 }, [9, 10]).selected, [10]);
  });

  test('all serves every version', () => {
    assert.deepEqual(selectVersions({ kind: 'all' }, [5, 1, 3, 3]), { selected: [1, 3, 5], missing: [] });
  });

  test('specific serves the listed versions on disk and reports the others', () => {
    assert.deepEqual(selectVersions({ kind: 'specific', versions: [4, 1, 7, 4] }, [1, 2, 3, 4]),
      { selected: [1, 4], missing: [7] });
    assert.deepEqual(selectVersions({ kind: 'specific', versions: [8] }, [1]), { selected: [], missing: [8] });
  });

  test('nothing on disk selects nothing', () => {
    assert.deepEqual(selectVersions({ kind: 'latest', numVersions: 1 }, []), { selected: [], missing: [] });
    assert.deepEqual(selectVersions({ kind: 'all' }, []), { selected: [], missing: [] });
  });

  test('randomized: agrees with a direct reading of each policy', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const list = (): number[] => Array.from({ length: rand(8) }, () => 1 + rand(12));
    for (let i = 0; i < 500; i++) {
      const available = list();
      const unique = [...new Set(available)].sort((a, b) => a - b);
      const n = 1 + rand(6);
      const latest = selectVersions({ kind: 'latest', numVersions: n }, available);
      assert.deepEqual(latest.selected, unique.filter((v) => unique.filter((w) => w > v).length < n));
      const wanted = list();
      const specific = selectVersions({ kind: 'specific', versions: wanted }, available);
      assert.deepEqual(specific.selected, unique.filter((v) => wanted.includes(v)));
      const absent = [...new Set(wanted)].filter((v) => !available.includes(v));
      assert.deepEqual(specific.missing, absent.sort((a, b) => a - b));
    }
  });
});
