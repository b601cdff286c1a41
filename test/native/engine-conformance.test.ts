/**
 * The ONNX backend conformance cases of every op the native engine claims, run through the whole
 * engine path: model.onnx → src/onnx/graph-import.ts → the addon's engine (folding, fusion, plan,
 * kernels) → outputs compared with the case's expected outputs. Cases live in
 * test/fixtures/onnx-conformance (copied with attribution; manifest.json lists them by op), the
 * `_expanded` variants included: those are multi-node graphs of the same computation.
 *
 * A case whose graph the engine refuses (engineUnsupported, e.g. float16 or int4 types) is
 * skipped with the engine's reason; every case it accepts must match, and the per-op tally is
 * printed. Tolerances are ONNX's own backend-test defaults (rtol 1e-3, atol 1e-7), with atol
 * 1e-5 for float results, as onnxruntime's runner uses.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { native } from '../../src/native';
import { importOnnxGraph } from '../../src/onnx/graph-import';
import { readTensorProto, type OnnxTensor } from '../../src/onnx/reader';
import { dataTypeInfo } from '../../src/runtime/datatypes';

const ROOT = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'onnx-conformance');

interface Tally { passed: number; failed: string[]; skipped: Map<string, number> }

function tensors(dir: string, prefix: 'input' | 'output'): OnnxTensor[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(`${prefix}_`))
    .sort((a, b) => Number(/\d+/.exec(a)?.[0]) - Number(/\d+/.exec(b)?.[0]))
    .map((f) => readTensorProto(fs.readFileSync(path.join(dir, f)), f));
}

function asNumbers(dtype: number, bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  const read: Record<number, [number, (o: number) => number]> = {
    1: [4, (o) => view.getFloat32(o, true)], 2: [1, (o) => view.getUint8(o)], 3: [1, (o) => view.getInt8(o)],
    6: [4, (o) => view.getInt32(o, true)], 7: [8, (o) => Number(view.getBigInt64(o, true))],
    9: [1, (o) => view.getUint8(o)], 11: [8, (o) => view.getFloat64(o, true)],
  };
  const r = read[dtype];
  if (r === undefined) throw new Error(`no reader for dtype ${dtype}`);
  for (let o = 0; o < bytes.byteLength; o += r[0]) out.push(r[1](o));
  return out;
}

async function runCase(dir: string): Promise<{ skipped?: string; mismatch?: string }> {
  let imported;
  try {
    imported = importOnnxGraph(fs.readFileSync(path.join(dir, 'model.onnx')), path.basename(dir));
  } catch (e) {
    // Valid ONNX that Sluice cannot carry at all (optional or sequence inputs): not the engine's.
    if ((e as { code?: unknown }).code === 'UNIMPLEMENTED') return { skipped: (e as Error).message };
    throw e;
  }
  const { graph, problems } = imported;
  const refused = [...problems, ...native().engineUnsupported(graph)];
  if (refused.length > 0) return { skipped: refused[0] ?? '' };
  const set = path.join(dir, 'test_data_set_0');
  const inputs = tensors(set, 'input');
  const expected = tensors(set, 'output');
  const engine = await native().loadEngine(graph, { threads: 1 });
  try {
    const outputs = await engine.run(inputs.map((t) => ({ dtype: dataTypeInfo(t.datatype).onnx, shape: t.dims,
      data: t.data as ArrayBufferView })));
    for (const [i, want] of expected.entries()) {
      const got = outputs[i];
      if (got === undefined) return { mismatch: `output ${i} missing` };
      if (got.shape.join() !== want.dims.join()) return { mismatch: `output ${i} shape [${got.shape}] vs [${want.dims}]` };
      const w = want.data as ArrayBufferView;
      const a = asNumbers(got.dtype, got.data);
      const b = asNumbers(dataTypeInfo(want.datatype).onnx, new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      const atol = got.dtype === 1 ? 1e-5 : 0;
      for (let k = 0; k < b.length; k++) {
        const x = a[k] as number, y = b[k] as number;
        const same = Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)) || Math.abs(x - y) <= atol + 1e-3 * Math.abs(y);
        if (!same) return { mismatch: `output ${i}[${k}] = ${x}, expected ${y}` };
      }
    }
    return {};
  } finally {
    await engine.close();
  }
}

test('ONNX conformance cases of the engine\'s ops pass through the whole engine', async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as
    { cases_by_op: Record<string, string[]> };
  const byOp = new Map<string, Tally>();
  for (const [op, cases] of Object.entries(manifest.cases_by_op)) {
    const tally: Tally = { passed: 0, failed: [], skipped: new Map() };
    byOp.set(op, tally);
    const dirs = cases.flatMap((c) => fs.readdirSync(ROOT).filter((d) => d === c || d.startsWith(`${c}_expanded`)));
    for (const d of dirs) {
      let r: { skipped?: string; mismatch?: string };
      try {
        r = await runCase(path.join(ROOT, d));
      } catch (e) {
        r = { mismatch: `threw ${(e as Error).message}` };
      }
      if (r.skipped !== undefined) {
        const reason = r.skipped.replace(/^.*?: /, '');
        tally.skipped.set(reason, (tally.skipped.get(reason) ?? 0) + 1);
      } else if (r.mismatch !== undefined) {
        tally.failed.push(`${d}: ${r.mismatch}`);
      } else {
        tally.passed += 1;
      }
    }
  }
  const lines = [...byOp].map(([op, t]) => {
    const skipped = [...t.skipped.values()].reduce((a, b) => a + b, 0);
    const reasons = [...t.skipped].map(([r, n]) => `${n}× ${r.slice(0, 70)}`).join('; ');
    return `${op.padEnd(22)} passed ${String(t.passed).padStart(3)}  failed ${t.failed.length}  skipped ${skipped}` +
      `${reasons === '' ? '' : ` (${reasons})`}`;
  });
  console.log(lines.join('\n'));
  const failures = [...byOp.values()].flatMap((t) => t.failed);
  assert.deepEqual(failures, [], 'every case the engine accepts must match the expected outputs');
  const passed = [...byOp.values()].reduce((a, t) => a + t.passed, 0);
  assert.ok(passed >= 121, `only ${passed} cases ran (121 at the last count): a regression in what the engine accepts`);
});
