import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readOnnxSignature } from '../../src/onnx/reader';
import { buildModel } from '../../src/onnx/writer';
import { progressBar } from '../../src/quantize/progress';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-quantize-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const at = (name: string): string => path.join(dir, name);

function sluice(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A version 1.0 float32 .npy. */
function npyF4(shape: readonly number[], data: Float32Array): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const bytes = new Uint8Array(10 + header.length + data.byteLength);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return bytes;
}

// x [batch, 4] → Gemm(W [4, 3], b) → scores [batch, 3]: class c wins when feature c is largest.
const W = Float32Array.of(1, -0.2, -0.2, -0.2, 1, -0.2, -0.2, -0.2, 1, 0.1, 0.1, 0.1);
fs.writeFileSync(at('tiny.onnx'), buildModel({
  inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', 4] }],
  outputs: [{ name: 'scores', datatype: 'FP32', shape: ['batch', 3] }],
  initializers: [
    { name: 'W', datatype: 'FP32', dims: [4, 3], data: W },
    { name: 'b', datatype: 'FP32', dims: [3], data: Float32Array.of(0.01, 0, -0.01) },
  ],
  nodes: [{ opType: 'Gemm', name: 'fc', inputs: ['x', 'W', 'b'], outputs: ['scores'] }],
}));
fs.writeFileSync(at('relu.onnx'), buildModel({
  inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', 4] }],
  nodes: [{ opType: 'Relu', inputs: ['x'], outputs: ['y'] }],
}));
const rows = (n: number, seed: number): number[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: 4 }, (_, j) => ((i * 7 + j * 13 + seed) % 17) / 4 - 1));
const heldOut = rows(30, 5);
fs.writeFileSync(at('calib.npy'), npyF4([40, 4], Float32Array.from(rows(40, 1).flat())));
fs.writeFileSync(at('held-out.json'), JSON.stringify({ x: heldOut }));
fs.writeFileSync(at('labels.json'), JSON.stringify(heldOut.map((r) => r.slice(0, 3).indexOf(Math.max(...r.slice(0, 3))))));

describe('sluice quantize', () => {
  it('writes a QDQ model that ONNX Runtime loads, and prints the summary and report (no progress noise off a TTY)', async () => {
    const r = sluice('quantize', at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('out/tiny-int8.onnx'),
      '--held-out', at('held-out.json'), '--labels', at('labels.json'), '--report', at('report.json'));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^quantized .*tiny\.onnx \(\d+ bytes\) → .*tiny-int8\.onnx \(\d+ bytes\)/);
    assert.match(r.stdout, /calibrated on 40 samples from .*calib\.npy/);
    assert.match(r.stdout, /fc \(Gemm\): weight W int8 per-channel \(3, axis 1\), input x uint8/);
    assert.match(r.stdout, /accuracy vs FP32 on 30 held-out samples:\noutput +agreement/);
    assert.match(r.stdout, /\nscores +\d+\.\d\d% top-1 .* \d+\.\d\d% +\d+\.\d\d%\n$/);

    const model = fs.readFileSync(at('out/tiny-int8.onnx'));
    const sig = readOnnxSignature(model);
    assert.deepEqual(sig.opTypes, ['QuantizeLinear', 'DequantizeLinear', 'Gemm']);
    const session = await ort.InferenceSession.create(model);
    const y = await session.run({ x: new ort.Tensor('float32', Float32Array.of(2, 0, 0, 1), [1, 4]) });
    await session.release();
    const scores = Array.from(y['scores']?.data as Float32Array);
    [2.11, -0.3, -0.31].forEach((v, i) => assert.ok(Math.abs((scores[i] as number) - v) < 0.05, `scores ${scores.join(', ')}`));

    const report = JSON.parse(fs.readFileSync(at('report.json'), 'utf8')) as {
      calibrationSamples: number; summary: { nodes: { node: string }[] }; ranges: Record<string, { min: number; max: number }>;
      report: { samples: number; outputs: { name: string; cosine: number; accuracyReference: number }[] } };
    assert.equal(report.calibrationSamples, 40);
    assert.deepEqual(report.summary.nodes.map((n) => n.node), ['fc']);
    assert.deepEqual(Object.keys(report.ranges), ['x']);
    assert.equal(report.report.samples, 30);
    assert.equal(report.report.outputs[0]?.name, 'scores');
    assert.ok((report.report.outputs[0]?.cosine ?? 0) > 0.999);
    assert.equal(report.report.outputs[0]?.accuracyReference, 1);
  });

  it('--max-samples calibrates on fewer samples', () => {
    const r = sluice('quantize', at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('few.onnx'), '--max-samples', '5');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /calibrated on 5 samples/);
    assert.doesNotMatch(r.stdout, /accuracy vs FP32/);
  });

  it('explains usage mistakes with exit status 2', () => {
    const cases: [string[], RegExp][] = [
      [[], /MODEL is required/],
      [[at('tiny.onnx'), '--out', at('x.onnx')], /--calibration is required/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy')], /--out is required/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx'), '--labels', at('labels.json')], /--labels needs --held-out/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('tiny.onnx')], /--out must not overwrite MODEL/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx'), '--max-samples', 'lots'], /--max-samples must be an integer/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx'), '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, re] of cases) {
      const r = sluice('quantize', ...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, re);
      assert.match(r.stderr, /usage: sluice quantize MODEL --calibration DATA --out MODEL_INT8/);
    }
    const help = sluice('quantize', '--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--held-out DATA/);
    assert.match(sluice('--help').stdout, /quantize +quantize an ONNX model/);
  });

  it('explains bad files and models with exit status 1', () => {
    fs.writeFileSync(at('wrong-name.json'), JSON.stringify({ z: [[1, 2, 3, 4]] }));
    fs.writeFileSync(at('wrong-shape.json'), JSON.stringify({ x: [[1, 2, 3]] }));
    fs.writeFileSync(at('short-labels.json'), '[0, 1]');
    const cases: [string[], RegExp][] = [
      [[at('absent.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx')], /ONNX model .*absent\.onnx: file not found/],
      [[at('tiny.onnx'), '--calibration', at('absent.npy'), '--out', at('x.onnx')], /--calibration .*absent\.npy: no such file or directory/],
      [[at('tiny.onnx'), '--calibration', at('wrong-name.json'), '--out', at('x.onnx')], /the model has no input 'z' \(its inputs: x\)/],
      [[at('tiny.onnx'), '--calibration', at('wrong-shape.json'), '--out', at('x.onnx')], /input 'x': data has shape \[1, 3\], the model takes \[\?, 4\]/],
      [[at('tiny.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx'), '--held-out', at('held-out.json'), '--labels', at('short-labels.json')],
        /2 labels for 30 held-out samples/],
      [[at('relu.onnx'), '--calibration', at('calib.npy'), '--out', at('x.onnx')], /nothing to quantize in .*relu\.onnx: it has no MatMul or Gemm nodes/],
      [[at('labels.json'), '--calibration', at('calib.npy'), '--out', at('x.onnx')], /labels\.json: /],
    ];
    for (const [args, re] of cases) {
      const r = sluice('quantize', ...args);
      assert.equal(r.status, 1, `${args.join(' ')}\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^sluice: .*${re.source}`));
      assert.doesNotMatch(r.stderr, /usage:|\n\s+at /, 'no usage text or stack trace');
    }
    assert.ok(!fs.existsSync(at('x.onnx')), 'nothing written on failure');
  });
});

describe('progressBar', () => {
  const stream = (isTTY: boolean): { writes: string[]; s: NodeJS.WriteStream } => {
    const writes: string[] = [];
    return { writes, s: { isTTY, write: (c: string) => { writes.push(c); return true; } } as unknown as NodeJS.WriteStream };
  };

  it('redraws in place with \\r on a TTY and ends its line', () => {
    const t = stream(true);
    const bar = progressBar('calibrate', t.s);
    bar.update(1, 4); // drawn: the first update
    bar.update(2, 4); // skipped: within 100 ms of the last redraw
    bar.update(4, 4); // drawn: the last one always is
    bar.finish();
    assert.deepEqual(t.writes, [
      `\rcalibrate [${'#'.repeat(8)}${'.'.repeat(22)}]  25% 1/4`,
      `\rcalibrate [${'#'.repeat(30)}] 100% 4/4`,
      '\n',
    ]);
  });

  it('writes nothing when the stream is not a TTY (CI logs, redirected stderr)', () => {
    const t = stream(false);
    const bar = progressBar('calibrate', t.s);
    bar.update(1, 2);
    bar.update(2, 2);
    bar.finish();
    assert.deepEqual(t.writes, []);
  });
});
