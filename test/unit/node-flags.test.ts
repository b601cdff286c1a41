import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { missingServeFlags, SERVE_NODE_FLAGS } from '../../src/cli/node-flags';
import { CLI, startServerProcess } from '../helpers/server-process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'models');
const FLAGS = SERVE_NODE_FLAGS.join(' ');

describe('the V8 flags sluice serve runs with', () => {
  it('npm start passes them to node', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['start'] ?? '', new RegExp(`^node ${FLAGS} dist/src/cli/main\\.js serve `));
  });

  it('npm run bench gives them to the bench\'s load generator', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['bench'] ?? '', new RegExp(`&& node ${FLAGS} dist/bench/run\\.js$`));
  });

  it('the CLI\'s shebang passes them, and node accepts them', () => {
    const shebang = readFileSync(CLI, 'utf8').split('\n', 1)[0] ?? '';
    assert.equal(shebang, `#!/usr/bin/env -S node ${FLAGS}`);
    // What the kernel runs for `sluice …`: env splits the line and starts node with the flags.
    const r = spawnSync('/usr/bin/env', ['-S', `${process.execPath} ${FLAGS}`, '-p', 'JSON.stringify(process.execArgv)'],
      { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const execArgv = JSON.parse(r.stdout) as string[];
    assert.deepEqual(execArgv.slice(0, SERVE_NODE_FLAGS.length), SERVE_NODE_FLAGS);
    assert.deepEqual(missingServeFlags(execArgv), []);
    assert.deepEqual(missingServeFlags([]), SERVE_NODE_FLAGS);
  });

  it('a server started without them says which are missing; with them it says nothing', async () => {
    for (const flags of [[], SERVE_NODE_FLAGS]) {
      const server = await startServerProcess(EXAMPLES, [], 30_000, flags);
      server.child.kill('SIGTERM');
      await server.exited;
      const note = /node was started without (.*) \(as `sluice serve`/.exec(server.log());
      assert.equal(note?.[1], flags.length === 0 ? FLAGS : undefined, server.log());
    }
  });
});
