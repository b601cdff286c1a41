import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KServeClient } from '../helpers/kserve-client';
import { slowModel, writeModelRepository } from '../helpers/model-factory';
import { startServerProcess } from '../helpers/server-process';

let repo: string;

before(() => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-shutdown-'));
  writeModelRepository(repo, [{ name: 'slow', versions: { '1': slowModel({ size: 1024, repeats: 40 }) } }]);
});
after(() => fs.rmSync(repo, { recursive: true, force: true }));

const slowRequest = { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [64, 1024] }],
  raw_input_contents: [Buffer.alloc(64 * 1024 * 4)] };

describe('graceful shutdown (sluice serve in a child process)', () => {
  it('SIGTERM: in-flight requests finish, new ones are refused, exit code 0', async () => {
    const srv = await startServerProcess(repo, ['--exit-timeout-secs', '60']);
    const client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
    try {
      await client.call('ServerReady', {}); // connected
      const inFlight = Promise.allSettled([0, 1, 2].map(() => client.call('ModelInfer', slowRequest)));
      await new Promise((r) => setTimeout(r, 150));
      const signalledAt = Date.now();
      srv.child.kill('SIGTERM');
      const results = await inFlight;
      assert.equal(results.length, 3);
      for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.equal(await srv.exited, 0);
      assert.ok(Date.now() - signalledAt < 60_000);
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

  it('a request that outlives the grace period is cut, and the process still exits 0 on time', async () => {
    const srv = await startServerProcess(repo, ['--exit-timeout-secs', '1']);
    const client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
    try {
      await client.call('ServerReady', {});
      const queued = Promise.allSettled(Array.from({ length: 30 }, () => client.call('ModelInfer', slowRequest)));
      await new Promise((r) => setTimeout(r, 150));
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
