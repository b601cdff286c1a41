import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { argmaxRows, compareOutputs, formatReport, type OutputValues } from '../../src/quantize/report';

const out = (name: string, type: string, dims: number[], values: number[]): OutputValues =>
  ({ name, type, dims, values: Float64Array.from(values) });

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('compareOutputs', () => {
  it('class scores: top-1 agreement, errors, cosine and accuracy against labels', () => {
    // 3 rows × 3 classes; row 2's top class flips from 1 to 2.
    const f = out('p', 'float32', [3, 3], [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.45, 0.35]);
    const q = out('p', 'float32', [3, 3], [0.68, 0.22, 0.1, 0.1, 0.8, 0.1, 0.2, 0.38, 0.42]);
    const m = compareOutputs(f, q, [0, 1, 1]);
    close(m.agreement ?? NaN, 2 / 3, 'agreement');
    assert.equal(m.agreementKind, 'top-1');
    close(m.maxAbsError, 0.07, 'max abs');
    // Largest |Δ|/|f|: 0.07 / 0.35 = 0.2 (floor is 1e-3 × 0.8, far below every |f| here).
    close(m.maxRelError, 0.2, 'max rel');
    let dot = 0; let nf = 0; let nq = 0;
    f.values.forEach((a, i) => { const b = q.values[i] as number; dot += a * b; nf += a * a; nq += b * b; });
    close(m.cosine, dot / Math.sqrt(nf * nq), 'cosine');
    close(m.accuracyReference ?? NaN, 1, 'FP32 accuracy');
    close(m.accuracyQuantized ?? NaN, 2 / 3, 'INT8 accuracy');
    assert.equal(m.elements, 9);
  });

  it('relative error ignores elements far below the output scale', () => {
    const m = compareOutputs(out('p', 'float32', [1, 3], [1e-9, 0.5, 1]), out('p', 'float32', [1, 3], [2e-9, 0.5, 1]));
    close(m.maxRelError, 1e-9 / 1e-3, 'floored at 1e-3 × max |f|'); // not 1e-9 / 1e-9 = 1
    const zeros = compareOutputs(out('z', 'float32', [2], [0, 0]), out('z', 'float32', [2], [0, 0]));
    assert.deepEqual([zeros.maxAbsError, zeros.maxRelError, zeros.cosine], [0, 0, 1]);
    assert.equal(compareOutputs(out('z', 'float32', [2], [0, 0]), out('z', 'float32', [2], [0, 1])).cosine, 0);
  });

  it('integer outputs: exact agreement and accuracy; other float outputs: no agreement', () => {
    const m = compareOutputs(out('label', 'int64', [4], [1, 2, 3, 4]), out('label', 'int64', [4], [1, 2, 0, 4]), [1, 2, 3, 3]);
    assert.deepEqual([m.agreement, m.agreementKind, m.accuracyReference, m.accuracyQuantized], [0.75, 'exact', 0.75, 0.5]);
    const v = compareOutputs(out('v', 'float32', [4], [1, 2, 3, 4]), out('v', 'float32', [4], [1, 2, 3, 5]), [0, 0, 0, 0]);
    assert.deepEqual([v.agreement, v.agreementKind, v.accuracyReference], [null, null, null]);
    // Labels that do not match the row count are not used.
    assert.equal(compareOutputs(out('p', 'float32', [2, 2], [1, 0, 0, 1]), out('p', 'float32', [2, 2], [1, 0, 0, 1]), [0]).accuracyReference, null);
    assert.throws(() => compareOutputs(out('p', 'float32', [2], [1, 2]), out('p', 'float32', [1, 2], [1, 2])), /shapes differ/);
  });

  it('argmaxRows takes the first of equal maxima', () => {
    assert.deepEqual(Array.from(argmaxRows([1, 3, 3, 5, 5, 0], 3)), [1, 0]);
  });
});

describe('formatReport', () => {
  it('prints one aligned row per output', () => {
    const p = compareOutputs(out('probabilities', 'float32', [1, 2], [0.9, 0.1]), out('probabilities', 'float32', [1, 2], [0.8, 0.2]), [0]);
    const l = compareOutputs(out('label', 'int64', [1], [0]), out('label', 'int64', [1], [0]), [0]);
    const text = formatReport({ samples: 1, outputs: [p, l] });
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'accuracy vs FP32 on 1 held-out samples:');
    assert.match(lines[1] ?? '', /^output\s+agreement\s+max abs err\s+max rel err\s+cosine\s+acc FP32\s+acc INT8$/);
    assert.match(lines[2] ?? '', /^probabilities\s+100\.00% top-1\s+1\.00e-1\s+1\.00e\+0\s+0\.99\d+\s+100\.00%\s+100\.00%$/);
    assert.match(lines[3] ?? '', /^label\s+100\.00% exact\s+0\s+0\s+1\.000000\s+100\.00%\s+100\.00%$/);
    assert.equal(lines[2]?.indexOf('100.00% top-1'), lines[3]?.indexOf('100.00% exact'));
  });
});
