/**
 * Mutated ONNX models through graph import, the native engine's load and a run, in this process:
 * a model that crashes the addon takes the test runner down with it. Seeded, so a failure
 * reproduces. Mutations are structural (dims, element types, attributes, op types, input names,
 * node order, shape tensors' values, cut data), on the example digits models (FP32 and QDQ) and
 * the engine bench's transformer encoder layer (LayerNorm, attention, Gelu), so they reach shape
 * inference, constant folding and the fusion passes. Every model must load and run, or be
 * refused with an error; none may crash. (Fuzzing like this found a DequantizeLinear with no
 * inputs crashing the optimizing load.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ENGINE_MODELS, buildModelPair } from '../../bench/engine/engine-models';
import { native } from '../../src/native';
import { importOnnxGraph } from '../../src/onnx/graph-import';
import { onnxType } from '../../src/onnx/onnx-proto';
import { fuzzRng as rng, type FuzzRng as Rng } from '../helpers/fuzz-rng';

const EXAMPLES = path.resolve(__dirname, '..', '..', '..', 'examples', 'models', 'digits');
const ModelProto = onnxType('ModelProto');

type Obj = any;


const OPS = ['Gemm', 'MatMul', 'Add', 'Relu', 'Softmax', 'Reshape', 'Transpose', 'Gather', 'Concat', 'QuantizeLinear',
  'DequantizeLinear', 'LayerNormalization', 'ReduceMean', 'Flatten', 'ArgMax', 'Erf', 'Div', 'MatMulInteger',
  'QLinearMatMul', 'DynamicQuantizeLinear', 'Cast', 'Identity'];
const VALUES = [0, 1, -1, -2, 2, 3, 7, 64, 1e6, 2 ** 31 - 1, -(2 ** 31), 2 ** 40];
const INT64 = 7;

function mutate(r: Rng, model: Obj): void {
  const g = model.graph;
  const inits: Obj[] = g.initializer ?? [];
  const nodes: Obj[] = g.node ?? [];
  for (let i = 0, n = 1 + r.int(4); i < n; i++) {
    switch (r.pick([0, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 9, 9])) {
      case 0: { // an initializer's dims
        const t = r.pick(inits);
        if (t?.dims?.length > 0 && r.next() < 0.7) t.dims[r.int(t.dims.length)] = r.pick(VALUES);
        else if (t !== undefined) t.dims = Array.from({ length: r.int(4) }, () => r.pick(VALUES));
        break;
      }
      case 1: { const t = r.pick(inits); if (t !== undefined) t.data_type = r.pick([0, 1, 2, 3, 6, 7, 9, 10, 11, 16, 99]); break; }
      case 2: { // an attribute's value
        const a = r.pick<Obj>(r.pick(nodes)?.attribute ?? []);
        if (a !== undefined) {
          a.i = r.pick(VALUES);
          if (a.ints !== undefined) a.ints = a.ints.map(() => r.pick(VALUES));
          a.f = r.pick([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e30]);
        }
        break;
      }
      case 3: { const nd = r.pick(nodes); if (nd !== undefined) nd.op_type = r.pick(OPS); break; }
      case 4: { // an input renamed: to another value, an omitted one, or one that does not exist
        const nd = r.pick(nodes);
        if (nd?.input?.length > 0) {
          nd.input[r.int(nd.input.length)] = r.pick([...inits.map((t) => t.name), ...nodes.flatMap((x) => x.output ?? []), '', 'nope']);
        }
        break;
      }
      case 5: { // two nodes swapped (order, and maybe a cycle)
        const a = r.int(nodes.length);
        const b = r.int(nodes.length);
        [nodes[a], nodes[b]] = [nodes[b], nodes[a]];
        break;
      }
      case 6: { // the graph input's dims
        const dims: Obj[] | undefined = g.input?.[0]?.type?.tensor_type?.shape?.dim;
        if (dims !== undefined && dims.length > 0) dims[r.int(dims.length)] = r.next() < 0.5 ? { dim_value: r.pick(VALUES) } : { dim_param: 'N' };
        break;
      }
      case 7: { const nd = r.pick(nodes); if (nd !== undefined) nd.input = (nd.input ?? []).slice(0, r.int((nd.input?.length ?? 0) + 1)); break; }
      case 8: { const t = r.pick(inits); if (t?.raw_data !== undefined) t.raw_data = t.raw_data.subarray(0, r.int(t.raw_data.length + 1)); break; }
      default: { // a value in a small int64 tensor (Reshape shapes, Gather indices, axes)
        const t = r.pick(inits.filter((x) => x.data_type === INT64 && x.raw_data?.length >= 8 && x.raw_data.length <= 64));
        if (t !== undefined) {
          const b = Buffer.from(t.raw_data);
          b.writeBigInt64LE(BigInt(r.pick(VALUES)), 8 * r.int(Math.floor(b.length / 8)));
          t.raw_data = b;
        }
      }
    }
  }
}

test('mutated ONNX models load and run or are refused with an error; none crashes the process', async () => {
  const [encoder] = await buildModelPair(ENGINE_MODELS['encoder-s32']);
  const bases: Uint8Array[] = [1, 2, 3].map((v) => fs.readFileSync(path.join(EXAMPLES, String(v), 'model.onnx')));
  bases.push(encoder.bytes);
  const decoded = bases.map((b) => ModelProto.toObject(ModelProto.decode(b), { longs: Number, bytes: Buffer }));
  const r = rng(20261122);
  const outcome = { refusedByImport: 0, refusedByEngine: 0, ran: 0, runErrors: 0 };
  for (let i = 0; i < 1500; i++) {
    const model = structuredClone(r.pick(decoded));
    mutate(r, model);
    let bytes: Uint8Array;
    try {
      bytes = ModelProto.encode(ModelProto.fromObject(model)).finish();
    } catch {
      continue; // protobufjs cannot write it (e.g. a value out of a field's range): nothing to load
    }
    let graph;
    try {
      graph = importOnnxGraph(bytes, `mutant ${i}`).graph;
    } catch (e) {
      assert.ok(e instanceof Error && e.message.length > 0);
      outcome.refusedByImport++;
      continue;
    }
    let engine;
    try {
      engine = await native().loadEngine(graph, { threads: 1 + r.int(2), optimize: r.next() < 0.8 });
    } catch (e) {
      assert.match((e as Error).message, /\S/, `mutant ${i}: an error with a message`);
      outcome.refusedByEngine++;
      continue;
    }
    const dims = ((model.graph.input?.[0]?.type?.tensor_type?.shape?.dim ?? []) as Obj[])
      .map((d) => (Number(d.dim_value) > 0 && Number(d.dim_value) < 5000 ? Number(d.dim_value) : 0));
    for (const rows of [1, 3]) {
      const shape = dims.map((d) => d || rows);
      const n = shape.reduce((a, b) => a * b, 1);
      if (n > 1e6) continue;
      try {
        await engine.run([{ dtype: 1, shape, data: new Float32Array(n).fill(0.5) }]);
        outcome.ran++;
      } catch {
        outcome.runErrors++;
      }
    }
    await engine.close();
  }
  // The mutations reach every stage: some models fail import, some the engine's checks, some run.
  assert.ok(outcome.refusedByImport > 0 && outcome.refusedByEngine > 0 && outcome.ran > 0, JSON.stringify(outcome));
});
