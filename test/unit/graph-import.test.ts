/**
 * ONNX → the native engine's compact graph (src/onnx/graph-import.ts), and `sluice inspect`, which
 * reports what the engine makes of a model. Real ONNX bytes from the project's writer, the real
 * addon, and the built CLI in a child process.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { native } from '../../src/native';
import { importOnnxGraph } from '../../src/onnx/graph-import';
import { onnxType } from '../../src/onnx/onnx-proto';
import { attr, buildModel } from '../../src/onnx/writer';
import { CLI } from '../helpers/server-process';

const linear = (extra: Parameters<typeof buildModel>[0]['nodes'] = []): Uint8Array => buildModel({
  inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', 3] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', 2] }],
  initializers: [
    { name: 'W', datatype: 'FP32', dims: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'B', datatype: 'FP32', dims: [2], data: Float32Array.from([0.5, -0.5]) },
  ],
  nodes: [
    { opType: 'Gemm', inputs: ['x', 'W', 'B'], outputs: ['g'], name: 'dense',
      attributes: { alpha: attr.float(1), transB: attr.int(0) } },
    { opType: 'LeakyRelu', inputs: ['g'], outputs: ['y'], attributes: { alpha: attr.float(0.25) } },
    ...extra,
  ],
});

describe('importOnnxGraph', () => {
  test('carries inputs, outputs, initializers as raw bytes and typed attributes', () => {
    const { graph, problems } = importOnnxGraph(linear());
    assert.deepEqual(problems, []);
    assert.equal(graph.opset, 17);
    assert.deepEqual(graph.inputs, [{ name: 'x', dtype: 1, dims: [-1, 3] }]);
    assert.deepEqual(graph.outputs, [{ name: 'y', dtype: 1, dims: [-1, 2] }]);
    const w = graph.initializers.find((t) => t.name === 'W');
    assert.deepEqual(w && [...new Float32Array(w.data.buffer, w.data.byteOffset, 6)], [1, 2, 3, 4, 5, 6]);
    const gemm = graph.nodes[0];
    assert.equal(gemm?.opType, 'Gemm');
    assert.deepEqual(gemm?.attributes.find((a) => a.name === 'transB'), { name: 'transB', kind: 'int', value: 0n });
    assert.deepEqual(graph.nodes[1]?.attributes, [{ name: 'alpha', kind: 'float', value: 0.25 }]);
  });

  test('the engine runs the imported graph and agrees with a hand computation', async () => {
    const engine = await native().loadEngine(importOnnxGraph(linear()).graph, { threads: 1 });
    try {
      const [y] = await engine.run([{ dtype: 1, shape: [1, 3], data: Float32Array.from([1, 0, -1]) }]);
      // [1,0,-1]·W = [1-5, 2-6] = [-4, -4], + B = [-3.5, -4.5], LeakyRelu 0.25 → [-0.875, -1.125]
      assert.deepEqual(y && [...new Float32Array(y.data.buffer, y.data.byteOffset, 2)], [-0.875, -1.125]);
      assert.deepEqual(y?.shape, [1, 2]);
    } finally {
      await engine.close();
    }
  });

  test('what the compact graph cannot carry is a problem with a reason, not an error', () => {
    // An If node: its branches are GRAPH attributes, which the engine does not take.
    const Model = onnxType('ModelProto');
    const model = Model.toObject(Model.decode(linear())) as { graph: { node: unknown[] } };
    model.graph.node.push({ op_type: 'If', input: ['c'], output: ['z'], attribute: [
      { name: 'then_branch', type: 5, g: { name: 'then' } }] });
    const { problems } = importOnnxGraph(Model.encode(Model.fromObject(model)).finish());
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /node #2 \(If\) attribute 'then_branch' has type GRAPH \(not supported\)/);
  });

  test('malformed bytes throw INVALID_ARGUMENT', () => {
    assert.throws(() => importOnnxGraph(new Uint8Array([1, 2, 3]), 'junk.onnx'),
      (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /junk\.onnx/.test(e.message));
  });
});

describe('sluice inspect', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-inspect-'));
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'inspect', ...args], { encoding: 'utf8' });

  test('a supported model: signature, backend native, and the fused plan', () => {
    const file = path.join(dir, 'linear.onnx');
    fs.writeFileSync(file, linear());
    const r = run(file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /input {2}x: FP32 \[\?, 3\]/);
    assert.match(r.stdout, /backend \(auto\): native/);
    assert.match(r.stdout, /FusedLinear\[act=LeakyRelu/);
    assert.match(r.stdout, /row chunks: a batch of more than \d+ rows runs in chunks/);
  });

  test('an unsupported op: backend onnxruntime with the reason', () => {
    const file = path.join(dir, 'cos.onnx');
    fs.writeFileSync(file, linear([{ opType: 'Cos', inputs: ['y'], outputs: ['z'] }]));
    const r = run(file);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /backend \(auto\): onnxruntime/);
    assert.match(r.stdout, /unsupported op Cos/);
  });

  test('usage errors exit 2; a missing file exits 1 naming it', () => {
    assert.equal(run().status, 2);
    const missing = run(path.join(dir, 'nope.onnx'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /nope\.onnx does not exist/);
  });
});
