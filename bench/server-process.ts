/**
 * The servers under test, each in its own child process so the bench's client and the server
 * never share an event loop (they do share the machine's cores: nothing is pinned).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SERVE_NODE_FLAGS } from '../src/cli/node-flags';

/** dist/ root; this file runs from dist/bench/. */
const DIST = path.resolve(__dirname, '..');
export const SLUICE_CLI = path.join(DIST, 'src', 'cli', 'main.js');
export const BASELINE_SERVER = path.join(DIST, 'bench', 'baseline-server.js');

export interface BenchServer {
  readonly pid: number;
  readonly address: string;
  /** The server's Prometheus endpoint; undefined for the baseline, which has none. */
  readonly metricsUrl: string | undefined;
  /** Resident set size now, bytes (Linux /proc); NaN where unavailable. */
  rssBytes(): number;
  /** SIGTERM, then SIGKILL after `graceMs` (an overloaded server may still be draining). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * `sluice serve` on loopback with ephemeral ports, and `flags` (e.g. --max-infer-requests N); node
 * gets the V8 flags the CLI's shebang and `npm start` give it.
 */
export function startSluice(repo: string, flags: readonly string[] = []): Promise<BenchServer> {
  return startServer([...SERVE_NODE_FLAGS, SLUICE_CLI, 'serve', '--model-repository', repo, '--host', '127.0.0.1',
    '--grpc-port', '0', '--http-port', '0', ...flags]);
}

export function startBaseline(modelFile: string, modelName: string): Promise<BenchServer> {
  return startServer([BASELINE_SERVER, '--model', modelFile, '--name', modelName, '--host', '127.0.0.1', '--port', '0']);
}

/** Starts `node args…` and resolves once it logs its gRPC port and "server READY". */
function startServer(args: string[], timeoutMs = 60_000): Promise<BenchServer> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start:\n${stderr}`)); }, timeoutMs);
    const onData = (d: Buffer): void => {
      stderr += d.toString();
      const port = /gRPC listening on port (\d+)/.exec(stderr);
      if (port === null || !/server READY/.test(stderr)) return;
      clearTimeout(timer);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.off('data', onData).on('data', () => undefined);
      const http = /HTTP listening on port (\d+)/.exec(stderr);
      resolve(handle(child, `127.0.0.1:${port[1]}`, http === null ? undefined : `http://127.0.0.1:${http[1]}/metrics`, exited));
    };
    child.stderr?.on('data', onData);
    void exited.then(() => { clearTimeout(timer); reject(new Error(`server exited before it was ready:\n${stderr}`)); });
  });
}

function handle(child: ChildProcess, address: string, metricsUrl: string | undefined, exited: Promise<void>): BenchServer {
  const pid = child.pid ?? -1;
  return {
    pid,
    address,
    metricsUrl,
    rssBytes: () => rssOf(pid),
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}
