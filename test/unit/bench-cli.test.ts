import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';

const RUN = path.resolve(__dirname, '..', '..', 'bench', 'run.js');
const bench = (...args: string[]) => spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('npm run bench: command line', () => {
  it('--help prints the usage and runs nothing', () => {
    const r = bench('--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^usage: npm run bench -- \[--quick\]/);
    assert.equal(r.stderr, '');
  });

  it('a mistake exits 2 with its reason and the usage, without a stack trace', () => {
    for (const [args, reason] of [
      [['--bogus'], /^Unknown option '--bogus'/],
      [['--models', 'foo'], /^--models: unknown foo \(choose from mlp, digits\)/],
      [['--repeats', '0'], /^--repeats must be a positive integer, got 0/],
      [['--engine-threads', 'x'], /^--engine-threads: expected positive integers, got x/],
    ] as const) {
      const r = bench(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, reason);
      assert.match(r.stderr, /\nusage: npm run bench/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
