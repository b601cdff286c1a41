/**
 * The bench's engine section without its timings: every model builds in FP32 and INT8, ONNX
 * Runtime loads it, the engine either accepts it or says why, and one tiny measurement of the
 * smallest model produces a well-formed cell and table. Nothing here asserts a speed.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { buildModelPair, ENGINE_MODEL_KEYS, ENGINE_MODELS } from '../../bench/engine/engine-models';
import { engineTargets, formatEngineTable } from '../../bench/engine/engine-report';
import { engineRefusal, measureModel } from '../../bench/engine/measure';

describe('bench engine section', () => {
  for (const key of ENGINE_MODEL_KEYS) {
    it(`${key}: builds FP32 and INT8 models that ONNX Runtime loads and the engine judges`, async () => {
      const spec = ENGINE_MODELS[key];
      const pair = await buildModelPair(spec);
      assert.deepEqual(pair.map((m) => m.precision), ['fp32', 'int8']);
      for (const model of pair) {
        const session = await ort.InferenceSession.create(model.bytes, { logSeverityLevel: 3 });
        try {
          assert.deepEqual(session.inputNames, [spec.inputName]);
        } finally {
          await session.release();
        }
        const reasons = engineRefusal(model.bytes, `${key} ${model.precision}`);
        for (const r of reasons) assert.ok(typeof r === 'string' && r.length > 0, `empty refusal reason for ${key}`);
      }
    });
  }

  it('builds the same bytes on every call (seeded weights)', () => {
    assert.deepEqual(ENGINE_MODELS['encoder-s32'].build(), ENGINE_MODELS['encoder-s32'].build());
  });

  it('measures the smallest model with a tiny budget and reports the cell', async () => {
    const [fp32] = await buildModelPair(ENGINE_MODELS['mlp-784']);
    const { cells } = await measureModel(fp32, { batches: [2], threads: [1], repeats: 1, repeatMs: 2, cellBudgetMs: 20 });
    assert.equal(cells.length, 1);
    const cell = cells[0];
    assert.ok(cell !== undefined);
    assert.equal(cell.error, undefined);
    if (cell.unsupported === undefined) {
      for (const v of [cell.ort?.median, cell.native?.median, cell.ratio]) assert.ok(v !== undefined && Number.isFinite(v) && v > 0);
      assert.ok(cell.maxAbsDiff !== undefined && Number.isFinite(cell.maxAbsDiff));
    } else {
      assert.ok(cell.unsupported.length > 0);
    }
    assert.match(formatEngineTable(cells), /mlp-784\s+fp32\s+1\s+2/);
    // Batch 2 is covered by no target: all four say n/a rather than met.
    assert.deepEqual(engineTargets(cells).map((t) => t.verdict), ['n/a', 'n/a', 'n/a', 'n/a']);
  });
});
