/**
 * The built addon (build/Release/sluice.node, or $SLUICE_ADDON_PATH): hardware reports agree with
 * what Linux says, it loads in worker threads, and the loader explains a failure.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import { defaultCandidates, loadNative, native } from '../../src/native';

/** dist/test/native → repository root. */
const ROOT = path.resolve(__dirname, '..', '..', '..');
const LOADER_JS = path.join(ROOT, 'dist', 'src', 'native', 'loader.js');

function cpuinfoFlags(): Set<string> | undefined {
  if (process.platform !== 'linux' || !['x64', 'ia32'].includes(process.arch)) return undefined;
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  return line === undefined ? undefined : new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
}

/** SLUICE_CUDA_COMPILED from the cmake-js build that made build/Release, when that is what loaded. */
function cudaCompiledByBuild(): boolean | undefined {
  const cache = path.join(ROOT, 'build', 'CMakeCache.txt');
  if (process.env['SLUICE_ADDON_PATH'] !== undefined || !existsSync(cache)) return undefined;
  const m = /^SLUICE_CUDA_COMPILED:INTERNAL=(\w+)$/m.exec(readFileSync(cache, 'utf8'));
  return m?.[1] === undefined ? undefined : m[1] === 'ON';
}

function hasNvidiaDriver(): boolean {
  return existsSync('/proc/driver/nvidia') || existsSync('/dev/nvidia0');
}

describe('native addon', () => {
  it('reports its version from package.json', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(native().version, pkg.version);
  });

  it('reports CPU features as booleans that agree with /proc/cpuinfo', (t) => {
    const f = native().cpuFeatures();
    for (const [name, value] of Object.entries(f)) assert.equal(typeof value, 'boolean', name);
    assert.deepEqual(Object.keys(f).sort(),
      ['avx2', 'avx512bw', 'avx512f', 'avx512vl', 'avx512vnni', 'avxvnni', 'fma']);
    if (f.avx512vnni) assert.ok(f.avx512f, 'AVX-512 VNNI implies AVX-512F');
    assert.ok(Object.isFrozen(f));
    assert.equal(native().cpuFeatures(), f, 'one cached object per thread');

    const flags = cpuinfoFlags();
    if (flags === undefined) return t.skip('not x86 Linux');
    assert.equal(f.avx2, flags.has('avx2'));
    assert.equal(f.fma, flags.has('fma'));
    assert.equal(f.avx512f, flags.has('avx512f'));
    assert.equal(f.avx512bw, flags.has('avx512bw'));
    assert.equal(f.avx512vl, flags.has('avx512vl'));
    assert.equal(f.avx512vnni, flags.has('avx512_vnni'));
    assert.equal(f.avxvnni, flags.has('avx_vnni'));
  });

  it('answers cuda() cleanly, with a reason when there is no device', () => {
    const c = native().cuda();
    assert.equal(typeof c.compiledIn, 'boolean');
    assert.equal(c.deviceCount, c.devices.length);
    assert.equal(c.deviceCount === 0, c.error !== '', `error: ${JSON.stringify(c.error)}`);
    for (const d of c.devices) {
      assert.ok(d.name.length > 0);
      assert.match(d.computeCapability, /^\d+\.\d+$/);
      assert.ok(Number.isInteger(d.totalMemoryBytes) && d.totalMemoryBytes > 0);
    }
    const built = cudaCompiledByBuild();
    if (built !== undefined) assert.equal(c.compiledIn, built, 'compiledIn matches the CMake build');
    if (!hasNvidiaDriver()) assert.equal(c.deviceCount, 0);
  });

  it('exitImmediately ends the process with the given code, skipping exit handlers', () => {
    const addon = defaultCandidates().find((c) => existsSync(c));
    assert.ok(addon !== undefined, 'the addon must be built');
    const script = `process.on('exit', () => process.stdout.write('exit handler ran'));` +
      `require(${JSON.stringify(addon)}).exitImmediately(7);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 7);
    assert.equal(r.stdout, '');
  });

  it('loads in worker threads and gives the same answers', async () => {
    // Two at once: each environment gets its own addon instance.
    const code = `
      const { parentPort } = require('node:worker_threads');
      const n = require(${JSON.stringify(LOADER_JS)}).native();
      parentPort.postMessage({ version: n.version, cpu: n.cpuFeatures(), cuda: n.cuda() });`;
    const run = (): Promise<unknown> => new Promise((resolve, reject) => {
      const w = new Worker(code, { eval: true });
      let answer: unknown;
      w.once('message', (m: unknown) => { answer = m; });
      w.once('error', reject);
      w.once('exit', (exitCode) => {
        if (exitCode === 0) resolve(answer);
        else reject(new Error(`worker exited with ${exitCode}`));
      });
    });
    const answers = await Promise.all([run(), run()]);
    const n = native();
    for (const a of answers) assert.deepEqual(a, { version: n.version, cpu: n.cpuFeatures(), cuda: n.cuda() });
  });

  describe('loader', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-loader-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('lists every path it tried and why, with a hint', () => {
      const junk = path.join(dir, 'junk.node');
      writeFileSync(junk, 'not an ELF file');
      const missing = path.join(dir, 'missing', 'sluice.node');
      assert.throws(() => loadNative([missing, junk]), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(e.message, new RegExp(`${escape(missing)}: not found`));
        assert.match(e.message, new RegExp(`${escape(junk)}: .+`));
        assert.match(e.message, /run `npm install` \(needs cmake and a C\+\+ compiler\)/);
        return true;
      });
    });

    it('rejects a module without the native exports (a stale build)', () => {
      const stale = path.join(dir, 'stale.js');
      writeFileSync(stale, 'module.exports = { version: "0.0.0" };');
      assert.throws(() => loadNative([stale]), /stale\.js: loaded, but lacks cpuFeatures, cuda/);
    });

    it('skips bad candidates and loads the first good one', () => {
      const good = defaultCandidates().find((c) => existsSync(c));
      assert.ok(good !== undefined, 'a built addon');
      const n = loadNative([path.join(dir, 'nope.node'), good]);
      assert.equal(n.version, native().version);
    });
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
