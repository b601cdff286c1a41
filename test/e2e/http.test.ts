import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { SluiceServer } from '../../src/server/server';
import { makeTestRepository } from './repo-fixture';

const MAX_BODY = 1024 * 1024;
let server: SluiceServer;
let repo: string;
let base: string;

before(async () => {
  repo = makeTestRepository();
  server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
    maxMessageBytes: MAX_BODY, logger: () => {} });
  base = `http://127.0.0.1:${server.httpPort}`;
});

after(async () => {
  await server.stop(5_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

async function json(path: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : JSON.parse(text) as Record<string, unknown> };
}

const post = (body: unknown, headers: Record<string, string> = {}): RequestInit =>
  ({ method: 'POST', body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers } });

const identityBody = (extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ id: 'h1', inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }], ...extra });

describe('HTTP health, metadata, config, stats and repository routes', () => {
  it('GET /v2/health/live and /v2/health/ready', async () => {
    assert.equal((await fetch(`${base}/v2/health/live`)).status, 200);
    assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
  });

  it('GET /v2 is the server metadata', async () => {
    const { status, body } = await json('/v2');
    assert.equal(status, 200);
    assert.equal(body['name'], 'sluice');
    assert.ok(Array.isArray(body['extensions']));
  });

  it('GET /v2/models/{m}[/versions/{v}] is the model metadata', async () => {
    const { body } = await json('/v2/models/identity');
    assert.deepEqual(body['versions'], ['1', '3']);
    assert.deepEqual(body['inputs'], [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 4] }]);
    assert.equal((await json('/v2/models/identity/versions/1')).status, 200);
    assert.equal((await json('/v2/models/identity/versions/2')).status, 404);
  });

  it('GET .../ready per model and version', async () => {
    assert.equal((await fetch(`${base}/v2/models/identity/ready`)).status, 200);
    assert.equal((await fetch(`${base}/v2/models/identity/versions/3/ready`)).status, 200);
    assert.equal((await fetch(`${base}/v2/models/broken_model/ready`)).status, 503);
    assert.equal((await fetch(`${base}/v2/models/nope/ready`)).status, 404);
  });

  it('GET .../config', async () => {
    const { status, body } = await json('/v2/models/identity/config');
    assert.equal(status, 200);
    assert.equal(body['max_batch_size'], 8);
    assert.deepEqual(body['input'], [{ name: 'INPUT0', data_type: 'TYPE_FP32', dims: [4] }]);
  });

  it('POST /v2/repository/index, with and without the ready filter', async () => {
    const all = await json('/v2/repository/index', post({}));
    assert.equal(all.status, 200);
    const list = all.body as unknown as { name: string; state: string; reason: string }[];
    assert.ok(list.some((m) => m.name === 'broken_config' && m.state === 'UNAVAILABLE' && /config\.pbtxt/.test(m.reason)));
    const ready = (await json('/v2/repository/index', post({ ready: true }))).body as unknown as { state: string }[];
    assert.ok(ready.every((m) => m.state === 'READY'));
    assert.equal((await json('/v2/repository/index', post('{"ready": 3}'))).status, 400);
    const deep = await json('/v2/repository/index', post('['.repeat(2 ** 18 + 1)));
    assert.equal(deep.status, 400);
    assert.match(String(deep.body['error']), /^JSON body holds more than 262144 objects and arrays/);
  });

  it('POST /v2/repository/models/{m}/load|unload answer 501 until the admin API exists', async () => {
    assert.equal((await json('/v2/repository/models/identity/load', post({}))).status, 501);
    assert.equal((await json('/v2/repository/models/identity/unload', post({}))).status, 501);
  });

  it('GET stats for all, one model, one version', async () => {
    await json('/v2/models/identity/versions/1/infer', post(identityBody()));
    const one = await json('/v2/models/identity/versions/1/stats');
    const s = (one.body['model_stats'] as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(s['version'], '1');
    assert.ok(Number(s['inference_count']) >= 1);
    assert.ok(((await json('/v2/models/stats')).body['model_stats'] as unknown[]).length >= 4);
    assert.equal(((await json('/v2/models/identity/stats')).body['model_stats'] as unknown[]).length, 2);
  });

  it('unknown routes get 404 and wrong methods 405, both with a JSON error', async () => {
    const r = await json('/v2/nothing');
    assert.equal(r.status, 404);
    assert.match(String(r.body['error']), /no route/);
    const m = await json('/v2/models/identity/infer');
    assert.equal(m.status, 405);
    assert.match(String(m.body['error']), /POST/);
  });
});

describe('HTTP inference', () => {
  it('JSON in, JSON out, id and version echoed', async () => {
    const { status, body } = await json('/v2/models/identity/infer', post(identityBody()));
    assert.equal(status, 200);
    assert.equal(body['model_name'], 'identity');
    assert.equal(body['model_version'], '3');
    assert.equal(body['id'], 'h1');
    assert.deepEqual(body['outputs'], [{ name: 'OUTPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }]);
  });

  it('nested JSON data, BYTES as strings, INT64 and BOOL, beside a binary FP16 input', async () => {
    const inputs: Record<string, unknown>[] = [
      { name: 'IN_BYTES', datatype: 'BYTES', shape: [1, 2], data: [['hello', '']] },
      { name: 'IN_INT64', datatype: 'INT64', shape: [1, 2], data: [[-5, 9007199254740991]] },
      { name: 'IN_BOOL', datatype: 'BOOL', shape: [1, 2], data: [true, false] },
      { name: 'IN_FP16', datatype: 'FP16', shape: [1, 2], parameters: { binary_data_size: 4 } },
    ];
    for (const t of ['UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'FP32', 'FP64']) {
      inputs.push({ name: `IN_${t}`, datatype: t, shape: [1, 2], data: [0, 1] });
    }
    const header = Buffer.from(JSON.stringify({ inputs,
      outputs: [{ name: 'OUT_BYTES' }, { name: 'OUT_INT64' }, { name: 'OUT_BOOL' }] }));
    const fp16 = Buffer.from([0x00, 0x3c, 0x00, 0xc0]); // 1.0, -2.0
    const res = await fetch(`${base}/v2/models/all_types/infer`, { method: 'POST', body: Buffer.concat([header, fp16]),
      headers: { 'inference-header-content-length': String(header.length) } });
    const body = await res.json() as { outputs: { name: string; data: unknown[] }[] };
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.outputs.map((o) => [o.name, o.data]), [
      ['OUT_BYTES', ['hello', '']], ['OUT_INT64', [-5, 9007199254740991]], ['OUT_BOOL', [true, false]]]);

    const short = await fetch(`${base}/v2/models/all_types/infer`, { method: 'POST', body: header,
      headers: { 'inference-header-content-length': String(header.length) } });
    assert.equal(short.status, 400, 'binary data missing from the body must be refused');
    assert.match(String(((await short.json()) as Record<string, unknown>)['error']), /IN_FP16/);
  });

  it('gzip and deflate request bodies (tritonclient request_compression_algorithm), binary extension included', async () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4],
      parameters: { binary_data_size: 16 } }], outputs: [{ name: 'OUTPUT0' }] }));
    const plain = Buffer.concat([header, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
    for (const [encoding, compress] of [['gzip', zlib.gzipSync], ['deflate', zlib.deflateSync], ['GZip', zlib.gzipSync]] as const) {
      const res = await fetch(`${base}/v2/models/identity/infer`, { method: 'POST', body: compress(plain),
        headers: { 'content-encoding': encoding, 'inference-header-content-length': String(header.length) } });
      const body = await res.json() as { outputs: { data: unknown[] }[]; error?: string };
      assert.equal(res.status, 200, `${encoding}: ${body.error ?? ''}`);
      assert.deepEqual(body.outputs[0]?.data, [1, 2, 3, 4]);
    }
  });
});

describe('HTTP compressed bodies that are refused', () => {
  it('an unsupported Content-Encoding gets 415 naming what is accepted, before the body is read', async () => {
    const res = await fetch(`${base}/v2/models/identity/infer`, { method: 'POST', body: JSON.stringify(identityBody()),
      headers: { 'content-encoding': 'br' } });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('accept-encoding'), 'gzip, deflate');
    assert.match(String(((await res.json()) as Record<string, unknown>)['error']),
      /^unsupported Content-Encoding 'br' \(accepted: gzip, deflate, or none\)$/);
  });

  it('a body that is not what its Content-Encoding says gets 400', async () => {
    const r = await json('/v2/models/identity/infer', post(JSON.stringify(identityBody()), { 'content-encoding': 'gzip' }));
    assert.equal(r.status, 400);
    assert.match(String(r.body['error']), /^cannot decompress the gzip request body: /);
  });

  it('a small gzip body that inflates past the size limit gets 413', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(8 * MAX_BODY, 0x20)); // ~8 KiB that inflates to 8 MiB
    assert.ok(bomb.length < MAX_BODY / 100);
    const r = await json('/v2/models/identity/infer', post(bomb, { 'content-encoding': 'gzip' }));
    assert.equal(r.status, 413);
    assert.match(String(r.body['error']), new RegExp(`decompresses to more than the ${MAX_BODY}-byte limit`));
    assert.equal((await json('/v2/models/identity/infer', post(identityBody()))).status, 200);
  });
});

describe('HTTP binary extension', () => {
  it('binary tensor extension: binary input and binary output', async () => {
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2, 4],
      parameters: { binary_data_size: 32 } }], outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }] }));
    const data = Buffer.from(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
    const res = await fetch(`${base}/v2/models/identity/infer`, { method: 'POST', body: Buffer.concat([header, data]),
      headers: { 'inference-header-content-length': String(header.length), 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    const n = Number(res.headers.get('inference-header-content-length'));
    const bytes = Buffer.from(await res.arrayBuffer());
    const head = JSON.parse(bytes.subarray(0, n).toString()) as { outputs: { name: string; shape: number[]; parameters: Record<string, number> }[] };
    assert.deepEqual(head.outputs[0]?.shape, [2, 4]);
    assert.equal(head.outputs[0]?.parameters['binary_data_size'], 32);
    assert.ok(bytes.subarray(n).equals(data));
  });
});

describe('HTTP bad input: right status, JSON error, server keeps serving', () => {
  const cases: [string, string, unknown, number, RegExp][] = [
    ['unknown model', '/v2/models/nope/infer', identityBody(), 404, /unknown model 'nope'/],
    ['unknown version', '/v2/models/identity/versions/2/infer', identityBody(), 404, /no version 2/],
    ['non-integer version', '/v2/models/identity/versions/abc/infer', identityBody(), 400, /non-negative integer/],
    ['missing input', '/v2/models/add/infer', { inputs: [{ name: 'A', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] }, 400, /missing input 'B'/],
    ['extra input', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
      { name: 'X', datatype: 'FP32', shape: [1], data: [1] }] }), 400, /unexpected input 'X'/],
    ['duplicate input', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
      { name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /INPUT0/],
    ['wrong datatype', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 4], data: [1, 2, 3, 4] }] }), 400, /does not match/],
    ['shape mismatch', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] }), 400, /does not match/],
    ['negative dim', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 4], data: [1, 2, 3, 4] }] }), 400, /negative/],
    ['overflowing shape', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2 ** 40, 2 ** 40], data: [] }] }), 400, /INPUT0/],
    ['data count mismatch', '/v2/models/identity/infer', identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3] }] }), 400, /INPUT0/],
    ['unknown requested output', '/v2/models/identity/infer', identityBody({ outputs: [{ name: 'NOPE' }] }), 400, /unknown output 'NOPE'/],
    ['malformed JSON', '/v2/models/identity/infer', '{"inputs": [', 400, /malformed JSON/],
  ];
  for (const [name, path, body, status, pattern] of cases) {
    it(name, async () => {
      const r = await json(path, post(body));
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(String(r.body['error']), pattern);
    });
  }

  it('client-chosen names are quoted cut short in errors, not echoed whole', async () => {
    const long = 'n'.repeat(100_000);
    for (const body of [
      identityBody({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] },
        { name: long, datatype: 'FP32', shape: [1], data: [1] }] }),
      identityBody({ outputs: [{ name: long }] }),
      identityBody({ inputs: [{ name: long, datatype: 'FP32', shape: [1], data: ['x'] }] }),
      identityBody({ parameters: { [`triton_${long}`]: 1 } }),
    ]) {
      const r = await json('/v2/models/identity/infer', post(body));
      assert.equal(r.status, 400);
      const error = String(r.body['error']);
      assert.match(error, /n{100}\.\.\.'/);
      assert.ok(error.length < 400, `${error.length}-character error`);
    }
  });

  it('binary header length past the end of the body', async () => {
    const r = await json('/v2/models/identity/infer', post(JSON.stringify(identityBody()), { 'inference-header-content-length': '100000' }));
    assert.equal(r.status, 400);
  });

  it('a body over the size limit gets 413', async () => {
    const r = await json('/v2/models/identity/infer', post(Buffer.alloc(MAX_BODY + 10, 0x20)));
    assert.equal(r.status, 413);
    assert.match(String(r.body['error']), /limit/);
  });

  it('still serving afterwards', async () => {
    assert.equal((await json('/v2/models/identity/infer', post(identityBody()))).status, 200);
  });
});

describe('GET /metrics', () => {
  it('exposes Triton counter names and Sluice histograms per model and version', async () => {
    await json('/v2/models/add/infer', post({ inputs: [{ name: 'A', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      { name: 'B', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] }));
    await json('/v2/models/add/infer', post({ inputs: [] }));
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /nv_inference_request_success\{model="add",version="1"\} [1-9]/);
    assert.match(text, /nv_inference_request_failure\{model="add",version="1",reason="INVALID_ARGUMENT"\} [1-9]/);
    assert.match(text, /nv_inference_count\{model="add",version="1"\} [1-9]/);
    assert.match(text, /sluice_request_duration_seconds_bucket\{le="0\.001",model="add",version="1"\} \d+/);
    assert.doesNotMatch(text, /model="nope"/, 'unknown model names must not become label values');
  });

  it('prints each histogram\'s buckets once, in increasing order, from 10 µs to 30 s and +Inf', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const series = new Map<string, string[]>(); // metric + labels other than le -> its le values in order
    for (const m of text.matchAll(/^(sluice_\w+_bucket)\{le="([^"]+)",([^}]*)\} \d+$/gm)) {
      const key = `${m[1]}{${m[3]}}`;
      series.set(key, [...(series.get(key) ?? []), m[2]!]);
    }
    const durations = [...series.keys()].filter((k) => k.startsWith('sluice_request_duration_seconds_bucket'));
    assert.ok(durations.length > 0, 'no sluice_request_duration_seconds series in /metrics');
    for (const [key, les] of series) {
      const bounds = les.map((le) => (le === '+Inf' ? Infinity : Number(le)));
      assert.equal(bounds.at(-1), Infinity, `${key}: last bucket ${les.at(-1)}`);
      for (let i = 1; i < bounds.length; i++) {
        assert.ok(bounds[i]! > bounds[i - 1]!, `${key}: bucket le="${les[i]}" after le="${les[i - 1]}"`);
      }
    }
    for (const key of durations) {
      const les = series.get(key)!;
      assert.equal(les[0], '0.00001', key);
      assert.equal(les.at(-2), '30', key);
    }
  });
});
