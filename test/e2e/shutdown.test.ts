import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KServeClient } from '../helpers/kserve-client';
import { slowModel, writeModelRepository } from '../helpers/model-factory';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

let repo: string;
const ROWS = 256;
const SIZE = 1024;

before(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-shutdown-'));
  writeModelRepository(repo, [{ name: 'slow', versions: { '1': slowModel({ size: SIZE, repeats: 80 }) },
    config: { file: 'config.pbtxt', text: `max_batch_size: ${ROWS}\n` } }]);
});
after(() => fs.rmSync(repo, { recursive: true, force: true }));

// ~43 GFLOP per request: ~0.2 s or more on 2 cores.
const slowRequest = { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [ROWS, SIZE] }],
  raw_input_contents: [Buffer.alloc(ROWS * SIZE * 4)] };

/** Polls /metrics until the server has at least `n` requests for the slow model in flight. */
async function waitForPending(srv: ServerProcess, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
    const m = /nv_inference_pending_request_count\{model="slow",version="1"\} (\d+)/.exec(text);
    if (m !== null && Number(m[1]) >= n) return;
    if (Date.now() > deadline) throw new Error(`never saw ${n} pending requests:\n${text}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('graceful shutdown (sluice serve in a child process)', () => {
  it('SIGTERM: in-flight requests finish, new ones are refused, exit code 0', async () => {
    const srv = await startServerProcess(repo, ['--exit-timeout-secs', '60']);
    const client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
    try {
      const inFlight = Promise.allSettled([0, 1, 2].map(() => client.call('ModelInfer', slowRequest)));
      await waitForPending(srv, 3);
      srv.child.kill('SIGTERM');
      const results = await inFlight;
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.equal(await srv.exited, 0);
      assert.match(srv.log(), /SIGTERM: no longer accepting requests/);
      assert.match(srv.log(), /all in-flight requests finished/);
      const late = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
      await assert.rejects(late.call('ServerLive', {}, { deadline: Date.now() + 2000 }),
        (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED);
      late.close();
    } finally {
      client.close();
      srv.child.kill('SIGKILL');
    }
  });

  it('requests that outlive the grace period are cut, and the process still exits 0 on time', async () => {
    const srv = await startServerProcess(repo, ['--exit-timeout-secs', '1']);
    const client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
    try {
      // Far more work than one second holds, so the grace period must run out. Waiting for all
      // 60 to be pending at once raced the server working through them as they arrived; 20
      // pending is already ~4 s of work.
      const queued = Promise.allSettled(Array.from({ length: 60 }, () => client.call('ModelInfer', slowRequest)));
      await waitForPending(srv, 20);
      const signalledAt = Date.now();
      srv.child.kill('SIGINT');
      assert.equal(await srv.exited, 0);
      const took = Date.now() - signalledAt;
      assert.ok(took < 5_000, `exit took ${took} ms with a 1 s grace period`);
      const results = await queued;
      assert.ok(results.some((r) => r.status === 'rejected'), 'some queued requests must have been cut');
      assert.match(srv.log(), /grace period over/);
    } finally {
      client.close();
      srv.child.kill('SIGKILL');
    }
  });
});
