import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { dataTypeInfo } from '../../src/runtime/datatypes';
import { SluiceServer } from '../../src/server/server';
import { KServeClient } from '../helpers/kserve-client';
import { ALL_TYPES, makeTestRepository } from './repo-fixture';

const Status = grpc.status;
const MAX_MESSAGE = 1024 * 1024;

let server: SluiceServer;
let client: KServeClient;
let repo: string;

before(async () => {
  repo = makeTestRepository();
  server = await SluiceServer.start({ modelRepository: repo, host: '127.0.0.1', grpcPort: 0, httpPort: 0,
    maxMessageBytes: MAX_MESSAGE, logger: () => {} });
  client = new KServeClient(`127.0.0.1:${server.grpcPort}`);
});

after(async () => {
  client.close();
  await server.stop(5_000);
  fs.rmSync(repo, { recursive: true, force: true });
});

const f32 = (...v: number[]): Buffer => Buffer.from(new Float32Array(v).buffer);

function identityRequest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model_name: 'identity', id: 'req-1',
    inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4] }],
    raw_input_contents: [f32(1, 2, 3, 4)], ...extra };
}

async function rejects(p: Promise<unknown>, code: number, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `expected ${Status[code]}, got ${Status[e.code]}: ${e.details}`);
    assert.match(e.details, pattern);
    return true;
  });
}

describe('gRPC server and health RPCs', () => {
  it('ServerLive / ServerReady / health Check', async () => {
    assert.deepEqual(await client.call('ServerLive', {}), { live: true });
    assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
    assert.equal(await client.healthCheck(''), 'SERVING');
    assert.equal(await client.healthCheck('inference.GRPCInferenceService'), 'SERVING');
    await rejects(client.healthCheck('no.such.Service'), Status.NOT_FOUND, /unknown service/);
  });

  it('health Watch streams the current status', async () => {
    assert.equal(await client.healthWatchFirst(''), 'SERVING');
    assert.equal(await client.healthWatchFirst('no.such.Service'), 'SERVICE_UNKNOWN');
  });

  it('ServerMetadata names the server and its real extensions', async () => {
    const md = await client.call('ServerMetadata', {});
    assert.equal(md['name'], 'sluice');
    assert.match(String(md['version']), /^\d+\.\d+\.\d+/);
    assert.ok((md['extensions'] as string[]).includes('model_repository'));
  });

  it('ModelReady per model and version', async () => {
    assert.deepEqual(await client.call('ModelReady', { name: 'identity' }), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'identity', version: '3' }), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'identity', version: '2' }), { ready: false });
    assert.deepEqual(await client.call('ModelReady', { name: 'broken_model' }), { ready: false });
    assert.deepEqual(await client.call('ModelReady', { name: 'nope' }), { ready: false });
  });

  it('ModelMetadata shapes start with -1 when the model batches', async () => {
    const md = await client.call('ModelMetadata', { name: 'identity' });
    assert.equal(md['name'], 'identity');
    assert.deepEqual(md['versions'], ['1', '3']);
    assert.equal(md['platform'], 'onnxruntime_onnx');
    assert.deepEqual(md['inputs'], [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 4] }]);
    assert.deepEqual(md['outputs'], [{ name: 'OUTPUT0', datatype: 'FP32', shape: [-1, 4] }]);
    const add = await client.call('ModelMetadata', { name: 'add' });
    assert.deepEqual((add['inputs'] as unknown[])[0], { name: 'A', datatype: 'FP32', shape: [2, 3] });
  });

  it('ModelConfig answers in Triton model_config terms', async () => {
    const res = await client.call('ModelConfig', { name: 'identity', version: '1' });
    const cfg = res['config'] as Record<string, unknown>;
    assert.equal(cfg['name'], 'identity');
    assert.equal(cfg['max_batch_size'], 8);
    assert.deepEqual(cfg['input'], [{ name: 'INPUT0', data_type: 'TYPE_FP32', dims: [4], optional: false }]);
    assert.ok('all' in (cfg['version_policy'] as Record<string, unknown>));
  });

  it('RepositoryIndex lists every version, the broken ones with path and reason', async () => {
    const res = await client.call('RepositoryIndex', {});
    const models = res['models'] as { name: string; version: string; state: string; reason: string }[];
    const get = (n: string) => models.filter((m) => m.name === n);
    assert.deepEqual(get('identity').map((m) => [m.version, m.state]), [['1', 'READY'], ['3', 'READY']]);
    const bm = get('broken_model')[0];
    assert.equal(bm?.state, 'UNAVAILABLE');
    assert.match(bm?.reason ?? '', /broken_model.1.model\.onnx/);
    const bc = get('broken_config')[0];
    assert.equal(bc?.state, 'UNAVAILABLE');
    assert.match(bc?.reason ?? '', /config\.pbtxt/);
    const readyOnly = (await client.call('RepositoryIndex', { ready: true }))['models'] as { state: string }[];
    assert.ok(readyOnly.length > 0 && readyOnly.every((m) => m.state === 'READY'));
  });

  it('load/unload and unsupported extensions answer UNIMPLEMENTED', async () => {
    await rejects(client.call('RepositoryModelLoad', { model_name: 'identity' }), Status.UNIMPLEMENTED, /not supported/);
    await rejects(client.call('RepositoryModelUnload', { model_name: 'identity' }), Status.UNIMPLEMENTED, /not supported/);
    await rejects(client.call('SystemSharedMemoryStatus', {}), Status.UNIMPLEMENTED, /shared memory/);
  });
});

describe('gRPC ModelInfer', () => {
  it('raw contents: echoes id, model and the version that ran; outputs as raw_output_contents', async () => {
    const res = await client.call('ModelInfer', identityRequest());
    assert.equal(res['model_name'], 'identity');
    assert.equal(res['model_version'], '3');
    assert.equal(res['id'], 'req-1');
    const outputs = res['outputs'] as Record<string, unknown>[];
    assert.deepEqual(outputs.map((o) => [o['name'], o['datatype'], o['shape']]), [['OUTPUT0', 'FP32', [1, 4]]]);
    assert.equal(outputs[0]?.['contents'], null, 'outputs go back as raw_output_contents, never typed contents');
    const raw = (res['raw_output_contents'] as Buffer[])[0] as Buffer;
    assert.deepEqual([...new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length))], [1, 2, 3, 4]);
  });

  it('a specific version runs that version', async () => {
    const res = await client.call('ModelInfer', identityRequest({ model_version: '1' }));
    assert.equal(res['model_version'], '1');
  });

  it('typed contents work and the answer is still raw', async () => {
    const res = await client.call('ModelInfer', { model_name: 'add',
      inputs: [{ name: 'A', datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [1, 2, 3, 4, 5, 6] } },
        { name: 'B', datatype: 'FP32', shape: [2, 3], contents: { fp32_contents: [6, 5, 4, 3, 2, 1] } }],
      outputs: [{ name: 'DIFF' }] });
    assert.deepEqual((res['outputs'] as { name: string }[]).map((o) => o.name), ['DIFF']);
    const raw = (res['raw_output_contents'] as Buffer[])[0] as Buffer;
    assert.deepEqual([...new Float32Array(new Uint8Array(raw).buffer)], [-5, -3, -1, 1, 3, 5]);
  });

  it('every datatype round-trips through raw contents, BYTES included', async () => {
    const inputs: Record<string, unknown>[] = [];
    const raws: Buffer[] = [];
    for (const t of ALL_TYPES) {
      inputs.push({ name: `IN_${t}`, datatype: t, shape: [1, 2] });
      if (t === 'BYTES') {
        // Valid UTF-8 only: onnxruntime-node carries strings as JS strings (see README, BYTES).
        const a = Buffer.from('héllo'); const b = Buffer.from('');
        const len = (n: number) => { const x = Buffer.alloc(4); x.writeUInt32LE(n); return x; };
        raws.push(Buffer.concat([len(a.length), a, len(b.length), b]));
      } else {
        const size = dataTypeInfo(t).size;
        const buf = Buffer.alloc(2 * size);
        for (let i = 0; i < buf.length; i++) buf[i] = t === 'BOOL' ? i % 2 : (i * 37 + 11) & 0xff;
        raws.push(buf);
      }
    }
    const res = await client.call('ModelInfer', { model_name: 'all_types', inputs, raw_input_contents: raws });
    const outs = res['outputs'] as { name: string; datatype: string; shape: number[] }[];
    const raw = res['raw_output_contents'] as Buffer[];
    ALL_TYPES.forEach((t, i) => {
      assert.equal(outs[i]?.name, `OUT_${t}`);
      assert.equal(outs[i]?.datatype, t);
      assert.deepEqual(outs[i]?.shape, [1, 2]);
      assert.ok(Buffer.from(raw[i] as Buffer).equals(raws[i] as Buffer), `${t} bytes differ`);
    });
  });

  it('BYTES that ONNX Runtime would alter (a NUL, invalid UTF-8) are refused, not corrupted', async () => {
    const inputs = ALL_TYPES.map((t) => ({ name: `IN_${t}`, datatype: t, shape: [1, 2] }));
    const raws = (bad: Buffer): Buffer[] => ALL_TYPES.map((t) => (t === 'BYTES'
      ? Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.from('a'), Buffer.from([bad.length, 0, 0, 0]), bad])
      : Buffer.alloc(2 * dataTypeInfo(t).size)));
    await rejects(client.call('ModelInfer', { model_name: 'all_types', inputs, raw_input_contents: raws(Buffer.from('a\u0000b')) }),
      Status.INVALID_ARGUMENT, /IN_BYTES.*element 1 contains a NUL byte/);
    await rejects(client.call('ModelInfer', { model_name: 'all_types', inputs, raw_input_contents: raws(Buffer.from([0xff, 0xfe])) }),
      Status.INVALID_ARGUMENT, /IN_BYTES.*element 1 is not valid UTF-8/);
  });

  it('ModelStreamInfer answers in request order, errors in-band, and the stream stays open', { timeout: 30_000 }, async () => {
    const s = client.stream();
    // The first request takes the slow model: the later, faster answers wait for it.
    s.write({ model_name: 'slow', id: 'a', inputs: [{ name: 'x', datatype: 'FP32', shape: [64, 1024] }],
      raw_input_contents: [Buffer.alloc(64 * 1024 * 4)] });
    s.write({ ...identityRequest({ id: 'b' }), model_name: 'no_such_model' });
    s.writeRaw(Buffer.from([0xff, 0xff, 0xff]));
    s.write(identityRequest({ id: 'c' }));
    s.end();
    const responses = await s.responses;
    const id = (r: Record<string, unknown> | undefined): unknown => (r?.['infer_response'] as Record<string, unknown>)['id'];
    assert.equal(responses.length, 4);
    assert.equal(id(responses[0]), 'a');
    assert.equal(responses[0]?.['error_message'], '');
    assert.match(String(responses[1]?.['error_message']), /unknown model 'no_such_model'/);
    assert.equal(id(responses[1]), 'b', 'an error answer echoes the id of a request that decoded');
    assert.match(String(responses[2]?.['error_message']), /malformed/);
    assert.equal(id(responses[2]), '');
    assert.equal(id(responses[3]), 'c');
  });

  it('ModelStatistics counts what ran', async () => {
    const before = await client.call('ModelStatistics', { name: 'add', version: '1' });
    const count = (r: Record<string, unknown>): number =>
      Number(((r['model_stats'] as Record<string, unknown>[])[0]?.['inference_stats'] as Record<string, Record<string, number>>)['success']?.['count']);
    await client.call('ModelInfer', { model_name: 'add',
      inputs: [{ name: 'A', datatype: 'FP32', shape: [2, 3] }, { name: 'B', datatype: 'FP32', shape: [2, 3] }],
      raw_input_contents: [f32(1, 2, 3, 4, 5, 6), f32(1, 1, 1, 1, 1, 1)] });
    const afterStats = await client.call('ModelStatistics', { name: 'add', version: '1' });
    assert.equal(count(afterStats), count(before) + 1);
    const s = (afterStats['model_stats'] as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.equal(s['name'], 'add');
    assert.equal(s['version'], '1');
    assert.ok(Number(s['execution_count']) >= 1);
    assert.ok(Number(s['last_inference']) > Date.now() - 60_000);
    const all = await client.call('ModelStatistics', {});
    assert.ok((all['model_stats'] as unknown[]).length >= 4);
    await rejects(client.call('ModelStatistics', { name: 'nope' }), Status.NOT_FOUND, /unknown model/);
  });
});

describe('gRPC bad input: a clear error with the right code, and the server keeps serving', () => {
  const raw4 = f32(1, 2, 3, 4);
  const cases: [string, Record<string, unknown>, number, RegExp][] = [
    ['unknown model', identityRequest({ model_name: 'nope' }), Status.NOT_FOUND, /unknown model 'nope'/],
    ['unknown version', identityRequest({ model_version: '2' }), Status.NOT_FOUND, /no version 2/],
    ['non-integer version', identityRequest({ model_version: 'v1' }), Status.INVALID_ARGUMENT, /version must be a non-negative integer/],
    ['negative version', identityRequest({ model_version: '-1' }), Status.INVALID_ARGUMENT, /version must be a non-negative integer/],
    ['version not ready', identityRequest({ model_name: 'broken_model', model_version: '1' }), Status.UNAVAILABLE, /broken_model/],
    ['missing input', { model_name: 'add', inputs: [{ name: 'A', datatype: 'FP32', shape: [2, 3] }],
      raw_input_contents: [Buffer.alloc(24)] }, Status.INVALID_ARGUMENT, /missing input 'B'/],
    ['extra input', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4] },
      { name: 'EXTRA', datatype: 'FP32', shape: [1] }], raw_input_contents: [raw4, f32(1)] }),
    Status.INVALID_ARGUMENT, /unexpected input 'EXTRA'/],
    ['duplicate input', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4] },
      { name: 'INPUT0', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [raw4, raw4] }),
    Status.INVALID_ARGUMENT, /INPUT0.*(duplicate|more than once)|(duplicate|more than once).*INPUT0/],
    ['wrong datatype', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'INT32', shape: [1, 4] }] }),
      Status.INVALID_ARGUMENT, /datatype INT32 does not match the model's FP32/],
    ['unknown datatype', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FLOAT', shape: [1, 4] }] }),
      Status.INVALID_ARGUMENT, /FLOAT/],
    ['shape mismatch', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2, 2] }] }),
      Status.INVALID_ARGUMENT, /shape \[2,2\] does not match the model's \[-1,4\]/],
    ['batch over max_batch_size', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [9, 4] }],
      raw_input_contents: [Buffer.alloc(9 * 16)] }), Status.INVALID_ARGUMENT, /batch size 9 is outside 1\.\.8/],
    ['negative dim', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [-1, 4] }] }),
      Status.INVALID_ARGUMENT, /negative/],
    ['overflowing shape', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [2 ** 40, 2 ** 40] }] }),
      Status.INVALID_ARGUMENT, /INPUT0/],
    ['raw size mismatch', identityRequest({ raw_input_contents: [f32(1, 2, 3)] }), Status.INVALID_ARGUMENT, /12.*16|16.*12/],
    ['raw and typed mixed', identityRequest({ inputs: [{ name: 'INPUT0', datatype: 'FP32', shape: [1, 4],
      contents: { fp32_contents: [1, 2, 3, 4] } }] }), Status.INVALID_ARGUMENT, /INPUT0/],
    ['BYTES length prefix past the end', { model_name: 'all_types', inputs: [{ name: 'IN_BYTES', datatype: 'BYTES', shape: [1, 2] }],
      raw_input_contents: [Buffer.from([5, 0, 0, 0, 104, 105])] }, Status.INVALID_ARGUMENT, /IN_BYTES/],
    ['unknown requested output', identityRequest({ outputs: [{ name: 'NOPE' }] }), Status.INVALID_ARGUMENT, /unknown output 'NOPE'/],
    ['triton_ parameter', identityRequest({ parameters: { triton_enable_empty_final_response: { bool_param: true } } }),
      Status.INVALID_ARGUMENT, /triton_/],
  ];
  for (const [name, request, code, pattern] of cases) {
    it(name, async () => rejects(client.call('ModelInfer', request), code, pattern));
  }

  it('malformed protobuf', async () => {
    await rejects(client.unaryRaw('ModelInfer', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01])),
      Status.INVALID_ARGUMENT, /malformed/);
    await rejects(client.unaryRaw('ModelMetadata', Buffer.from([0x0a, 0x05, 0x61])), Status.INVALID_ARGUMENT, /malformed/);
  });

  it('a request over the message-size limit gets RESOURCE_EXHAUSTED', async () => {
    const big = identityRequest({ raw_input_contents: [Buffer.alloc(MAX_MESSAGE + 1024)] });
    await rejects(client.call('ModelInfer', big), Status.RESOURCE_EXHAUSTED, /./);
  });

  it('after all of that, a good request still works', async () => {
    const res = await client.call('ModelInfer', identityRequest());
    assert.equal(res['id'], 'req-1');
    assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
  });
});

describe('gRPC deadlines and cancellation', () => {
  const slowRequest = (): Record<string, unknown> => ({ model_name: 'slow',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [64, 1024] }], raw_input_contents: [Buffer.alloc(64 * 1024 * 4)] });

  it('a deadline that passes during the request gives DEADLINE_EXCEEDED', async () => {
    await rejects(client.call('ModelInfer', slowRequest(), { deadline: Date.now() + 20 }), Status.DEADLINE_EXCEEDED, /./);
  });

  it('the server keeps serving the slow model afterwards', async () => {
    const res = await client.call('ModelInfer', slowRequest());
    assert.deepEqual((res['outputs'] as { shape: number[] }[])[0]?.shape, [64, 1024]);
  });
});
