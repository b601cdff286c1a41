import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { SERVE_NODE_FLAGS } from '../../src/cli/node-flags';

export const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
}

/**
 * Starts `sluice serve` in a child process on ephemeral loopback ports and waits for it to listen;
 * node gets `nodeFlags` (by default those the CLI's shebang gives it).
 */
export function startServerProcess(repo: string, extraArgs: string[] = [], timeoutMs = 30_000,
  nodeFlags: readonly string[] = SERVE_NODE_FLAGS): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...nodeFlags, CLI, 'serve', '--model-repository', repo, '--host', '127.0.0.1',
    '--grpc-port', '0', '--http-port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start:\n${stderr}`)); }, timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const g = /gRPC listening on port (\d+)/.exec(stderr);
      const h = /HTTP listening on port (\d+)/.exec(stderr);
      if (g !== null && h !== null && /server (READY|NOT READY)/.test(stderr)) {
        clearTimeout(timer);
        resolve({ child, grpcPort: Number(g[1]), httpPort: Number(h[1]), log: () => stderr, exited });
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before starting:\n${stderr}`)); });
  });
}
