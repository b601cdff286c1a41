import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { SluiceServer } from '../../src/server/server';
import { KServeClient } from '../helpers/kserve-client';
import { slowModel, writeModelRepository } from '../helpers/model-factory';

let repo: string;
let server: SluiceServer;
let client: KServeClient;

before(async () => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-eld-'));
  writeModelRepository(repo, [{ name: 'slow', versions: { '1': slowModel({ size: 1024, repeats: 40 }) } }]);
  server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
    maxMessageBytes: 64 << 20, logger: () => {} });
  client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
});
after(async () => {
  client.close();
  await server.stop(5_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

describe('the server never blocks its event loop', () => {
  it('while a slow model computes, event-loop delay stays small and health checks answer', async () => {
    const request = { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [64, 1024] }],
      raw_input_contents: [Buffer.alloc(64 * 1024 * 4)] };
    await client.call('ModelInfer', request); // warm up
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    const started = Date.now();
    let computing = true;
    const work = (async () => {
      let runs = 0;
      while (Date.now() - started < 2_000) { await client.call('ModelInfer', request); runs += 1; }
      computing = false;
      return runs;
    })();
    const healthLatencies: number[] = [];
    while (computing) {
      const t0 = performance.now();
      assert.equal(await client.healthCheck(), 'SERVING');
      healthLatencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    const runs = await work;
    histogram.disable();
    const p99ms = histogram.percentile(99) / 1e6;
    const maxMs = histogram.max / 1e6;
    healthLatencies.sort((a, b) => a - b);
    const healthP99 = healthLatencies[Math.round(0.99 * (healthLatencies.length - 1))] ?? Infinity;
    console.log(`event-loop delay while the slow model ran (${runs} runs, ${Date.now() - started} ms): ` +
      `p99 ${p99ms.toFixed(2)} ms, max ${maxMs.toFixed(2)} ms; ${healthLatencies.length} health checks, ` +
      `p99 ${healthP99.toFixed(2)} ms`);
    assert.ok(runs >= 2, 'the slow model must have been computing throughout');
    assert.ok(p99ms < 50, `event-loop delay p99 ${p99ms} ms`);
    assert.ok(healthLatencies.length >= 20, `only ${healthLatencies.length} health checks answered`);
    assert.ok(healthP99 < 100, `health check p99 ${healthP99} ms`);
  });
});
