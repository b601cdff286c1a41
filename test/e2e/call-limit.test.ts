import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { protoType } from '../../src/codec/proto';
import { frameMessage } from '../../src/server/grpc-wire';
import { KServeClient } from '../helpers/kserve-client';
import { addModel, writeModelRepository } from '../helpers/model-factory';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

/**
 * --max-infer-requests: a bound on inference requests in progress, gRPC and HTTP together, that
 * refuses the excess before reading its body. The held requests here are raw HTTP/2 ModelInfer
 * streams whose body never ends: admitted, and in progress until the client resets them.
 */

const INFER = '/inference.GRPCInferenceService/ModelInfer';
const LIMIT = 2;

const addRequest = {
  model_name: 'add',
  inputs: [
    { name: 'A', datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [1, 2, 3, 4, 5, 6] } },
    { name: 'B', datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [1, 1, 1, 1, 1, 1] } },
  ],
};

/** The same request over HTTP/REST (JSON). */
function httpInfer(srv: ServerProcess): Promise<Response> {
  return fetch(`http://127.0.0.1:${srv.httpPort}/v2/models/add/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: addRequest.inputs.map(({ name, datatype, shape, contents }) =>
      ({ name, datatype, shape, data: contents.fp32_contents })) }),
  });
}

function encodedAddRequest(): Buffer {
  const Req = protoType('inference.ModelInferRequest');
  return Buffer.from(Req.encode(Req.fromObject(addRequest)).finish());
}

/** A ModelInfer stream that sends its headers and half of its message, and never ends. */
function heldStream(session: http2.ClientHttp2Session): http2.ClientHttp2Stream {
  const stream = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  const framed = frameMessage(encodedAddRequest());
  stream.write(framed.subarray(0, framed.length >> 1));
  return stream;
}

/** The grpc-status (and message) a stream ends with, from trailers or a trailers-only response. */
function streamStatus(stream: http2.ClientHttp2Stream): Promise<{ status: string | undefined; message: string | undefined }> {
  return new Promise((resolve) => {
    let status: string | undefined;
    let message: string | undefined;
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (typeof h['grpc-status'] === 'string') status = h['grpc-status'];
      if (typeof h['grpc-message'] === 'string') message = decodeURIComponent(h['grpc-message']);
    };
    stream.on('response', read);
    stream.on('trailers', read);
    stream.resume();
    stream.on('close', () => resolve({ status, message }));
  });
}

async function metric(srv: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

async function waitForMetric(srv: ServerProcess, name: string, value: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (await metric(srv, name) !== value) {
    if (Date.now() > deadline) throw new Error(`${name} never reached ${value} (now ${await metric(srv, name)})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe(`--max-infer-requests ${LIMIT} (sluice serve in a child process)`, () => {
  let repo: string;
  let srv: ServerProcess;
  let client: KServeClient;
  let session: http2.ClientHttp2Session;

  before(async () => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-limit-'));
    writeModelRepository(repo, [{ name: 'add', versions: { '1': addModel([2, 3]) } }]);
    srv = await startServerProcess(repo, ['--max-infer-requests', String(LIMIT)]);
    client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
    session = http2.connect(`http://127.0.0.1:${srv.grpcPort}`);
    session.on('error', () => undefined);
  });

  after(async () => {
    client.close();
    session.destroy();
    srv.child.kill('SIGKILL');
    await srv.exited;
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('answers within the bound, refuses beyond it before reading the body, and frees slots as calls end', { timeout: 30_000 }, async () => {
    // Within the bound: a normal request, and its slot is free again afterwards.
    const ok = await client.call('ModelInfer', addRequest);
    assert.equal((ok['outputs'] as unknown[]).length, 2);
    await waitForMetric(srv, 'sluice_infer_requests_in_progress', 0);

    const held = [heldStream(session), heldStream(session)];
    await waitForMetric(srv, 'sluice_infer_requests_in_progress', LIMIT);

    // gRPC beyond the bound: UNAVAILABLE, saying why.
    await assert.rejects(client.call('ModelInfer', addRequest), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE, e.details);
      assert.match(e.details, /server busy: 2 inference requests in progress \(--max-infer-requests 2\)/);
      return true;
    });
    // A stream that never finishes its body is refused all the same: nothing waits for the body.
    const unfinished = heldStream(session);
    const refused = await streamStatus(unfinished);
    assert.equal(refused.status, String(grpc.status.UNAVAILABLE));
    assert.match(refused.message ?? '', /server busy/);
    // ...and reset with NO_ERROR, so the client stops sending a body nobody reads.
    assert.equal(unfinished.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    // HTTP shares the bound: 503 with the KServe error body.
    const res = await httpInfer(srv);
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { error: string }).error, /server busy/);
    // Other RPCs are not bounded.
    assert.deepEqual(await client.call('ServerLive', {}), { live: true });
    assert.equal(await metric(srv, 'sluice_infer_requests_refused_busy'), 3);

    // A held call that goes away frees its slot: the next request is served.
    held[0]?.close(http2.constants.NGHTTP2_CANCEL);
    await waitForMetric(srv, 'sluice_infer_requests_in_progress', 1);
    const again = await client.call('ModelInfer', addRequest);
    assert.deepEqual((again['outputs'] as { name: string }[]).map((o) => o.name).sort(), ['DIFF', 'SUM']);
    held[1]?.close(http2.constants.NGHTTP2_CANCEL);
    await waitForMetric(srv, 'sluice_infer_requests_in_progress', 0);
    assert.equal(await metric(srv, 'sluice_infer_requests_refused_busy'), 3);
  });

  it('an answer waiting for a client that opens no window frees its slot: answered is no longer in progress', { timeout: 30_000 }, async () => {
    const successes = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${srv.httpPort}/metrics`)).text();
      const m = /^nv_inference_request_success\{model="add",version="1"\} (\S+)$/m.exec(text);
      return m === null ? 0 : Number(m[1]);
    };
    const before = await successes();
    const stalled = http2.connect(`http://127.0.0.1:${srv.grpcPort}`, { settings: { initialWindowSize: 0 } });
    stalled.on('error', () => undefined);
    try {
      for (let i = 0; i < LIMIT; i++) {
        const stream = stalled.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', te: 'trailers' });
        stream.on('error', () => undefined);
        stream.end(frameMessage(encodedAddRequest()));
      }
      const deadline = Date.now() + 10_000;
      while (await successes() < before + LIMIT) {
        assert.ok(Date.now() < deadline, 'the stalled client\'s requests were never run');
        await new Promise((r) => setTimeout(r, 10));
      }
      await waitForMetric(srv, 'sluice_infer_requests_in_progress', 0);
      // Their answers still wait for a window, yet other clients are served.
      const ok = await client.call('ModelInfer', addRequest);
      assert.equal((ok['outputs'] as unknown[]).length, 2);
    } finally {
      stalled.destroy();
    }
  });

  it('a refused HTTP request leaves its keep-alive connection usable', { timeout: 30_000 }, async () => {
    const held = [heldStream(session), heldStream(session)];
    try {
      await waitForMetric(srv, 'sluice_infer_requests_in_progress', LIMIT);
      const first = await httpInfer(srv);
      assert.equal(first.status, 503);
      await first.text();
      for (const s of held) s.close(http2.constants.NGHTTP2_CANCEL);
      await waitForMetric(srv, 'sluice_infer_requests_in_progress', 0);
      const second = await httpInfer(srv);
      assert.equal(second.status, 200);
      const out = (await second.json()) as { outputs: { name: string; data: number[] }[] };
      assert.deepEqual(out.outputs.find((o) => o.name === 'SUM')?.data, [2, 3, 4, 5, 6, 7]);
    } finally {
      for (const s of held) if (!s.closed) s.close(http2.constants.NGHTTP2_CANCEL);
    }
  });
});
