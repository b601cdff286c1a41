import * as grpc from '@grpc/grpc-js';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { readOnnxSignature } from '../../src/onnx/reader';
import { CLASSES, PIXELS, SEED, loadDigits, prng, stratifiedSplit } from '../../scripts/digits-data';
import { KServeClient } from '../helpers/kserve-client';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');

let srv: ServerProcess;
let client: KServeClient;

// What `npm start` runs (sluice serve --model-repository examples/models), on ephemeral ports.
before(async () => {
  srv = await startServerProcess(path.join(EXAMPLES, 'models'));
  client = new KServeClient(`127.0.0.1:${srv.grpcPort}`);
});
after(async () => {
  client.close();
  srv.child.kill('SIGTERM');
  assert.equal(await srv.exited, 0);
});

describe('the bundled example repository', () => {
  it('serves all three versions of the digits model', async () => {
    const md = await client.call('ModelMetadata', { name: 'digits' });
    assert.deepEqual(md['versions'], ['1', '2', '3']);
  });

  it('version 3 is version 2 in INT8 QDQ form, within 0.5 points of its held-out accuracy', () => {
    const expected = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'data', 'accuracy.json'), 'utf8')) as
      { versions: Record<string, { accuracy: number }> };
    const v2 = expected.versions['2']?.accuracy ?? NaN;
    const v3 = expected.versions['3']?.accuracy ?? NaN;
    assert.ok(Math.abs(v3 - v2) <= 0.005, `v2 ${v2}, v3 ${v3}`);
    const sig = readOnnxSignature(fs.readFileSync(path.join(EXAMPLES, 'models', 'digits', '3', 'model.onnx')));
    for (const op of ['QuantizeLinear', 'DequantizeLinear', 'Gemm']) assert.ok(sig.opTypes.includes(op), op);
  });

  it('the README\'s gRPC client classifies the real held-out sample correctly', async () => {
    const sample = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'data', 'digits-sample.json'), 'utf8')) as { label: number };
    const script = path.join(ROOT, 'dist', 'scripts', 'classify-digit.js');
    const { stdout } = await promisify(execFile)(process.execPath, [script, '--address', `127.0.0.1:${srv.grpcPort}`]);
    // No version in the request: the server answers with the newest, the INT8 version 3.
    assert.match(stdout, new RegExp(`version 3: predicted ${sample.label} .*true label ${sample.label}`));
  });

  it('held-out accuracy over gRPC equals examples/data/accuracy.json for each version', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(EXAMPLES, 'data', 'accuracy.json'), 'utf8')) as
      { heldOut: number; versions: Record<string, { correct: number }> };
    const { heldOut } = stratifiedSplit(loadDigits(path.join(EXAMPLES, 'data', 'digits.csv.gz')), prng(SEED));
    assert.equal(heldOut.length, expected.heldOut);
    for (const [version, { correct }] of Object.entries(expected.versions)) {
      let right = 0;
      for (let start = 0; start < heldOut.length; start += 64) {
        const rows = heldOut.slice(start, start + 64);
        const pixels = new Float32Array(rows.length * PIXELS);
        rows.forEach((s, i) => pixels.set(s.pixels, i * PIXELS));
        const res = await client.call('ModelInfer', { model_name: 'digits', model_version: version,
          inputs: [{ name: 'pixels', datatype: 'FP32', shape: [rows.length, PIXELS] }],
          raw_input_contents: [Buffer.from(pixels.buffer)] });
        const outs = res['outputs'] as { name: string; shape: number[] }[];
        const raws = res['raw_output_contents'] as Buffer[];
        const li = outs.findIndex((o) => o.name === 'label');
        const pi = outs.findIndex((o) => o.name === 'probabilities');
        assert.deepEqual(outs[pi]?.shape, [rows.length, CLASSES]);
        const labels = Buffer.from(raws[li] as Buffer);
        rows.forEach((s, i) => { if (Number(labels.readBigInt64LE(8 * i)) === s.label) right += 1; });
      }
      assert.equal(right, correct, `version ${version}`);
      assert.ok(right / heldOut.length > 0.95);
    }
  });

  it('a batch over max_batch_size (64) is refused with INVALID_ARGUMENT', async () => {
    await assert.rejects(client.call('ModelInfer', { model_name: 'digits',
      inputs: [{ name: 'pixels', datatype: 'FP32', shape: [65, PIXELS] }],
      raw_input_contents: [Buffer.alloc(65 * PIXELS * 4)] }),
    (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /max_batch_size/.test(e.details));
  });
});
