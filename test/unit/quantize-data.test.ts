import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { OnnxValueInfo } from '../../src/onnx/signature';
import { loadLabels, loadSampleSet, sampleSetFromArrays } from '../../src/quantize/calibration-data';
import { SluiceError } from '../../src/runtime/status';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-quantize-data-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const X: OnnxValueInfo = { name: 'x', datatype: 'FP32', onnxElemType: 1, shape: [-1, 3] };
const IDS: OnnxValueInfo = { name: 'ids', datatype: 'INT64', onnxElemType: 7, shape: [-1, 2] };
const FIXED: OnnxValueInfo = { name: 'x', datatype: 'FP32', onnxElemType: 1, shape: [2, 3] };

/** A version 1.0 .npy of little-endian elements (header padded as numpy.save pads it). */
function npy(descr: string, shape: readonly number[], data: ArrayBufferView): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const bytes = new Uint8Array(10 + header.length + data.byteLength);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return bytes;
}

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof SluiceError && e.code === code && re.test(e.message));
}

describe('loadSampleSet', () => {
  it('reads a .npy for a one-input model, converting to the input type', async () => {
    const file = write('x.npy', npy('<f8', [2, 3], Float64Array.of(1, 2, 3, 4, 5, 6.5)));
    const set = await loadSampleSet(file, [X]);
    assert.equal(set.count, 2);
    const x = set.inputs.get('x');
    assert.deepEqual([x?.datatype, x?.dims, Array.from(x?.data as Float32Array)], ['FP32', [2, 3], [1, 2, 3, 4, 5, 6.5]]);
  });

  it('reads a directory of <input>.npy for a multi-input model', async () => {
    write('multi/x.npy', npy('<f4', [2, 3], Float32Array.of(1, 2, 3, 4, 5, 6)));
    write('multi/ids.npy', npy('<i4', [2, 2], Int32Array.of(7, 8, 9, -1)));
    const set = await loadSampleSet(path.join(dir, 'multi'), [X, IDS]);
    assert.deepEqual([...set.inputs.keys()], ['x', 'ids']);
    assert.deepEqual(Array.from(set.inputs.get('ids')?.data as BigInt64Array), [7n, 8n, 9n, -1n]);
    await rejectsWith(loadSampleSet(path.join(dir, 'multi'), [X, IDS, { ...X, name: 'y' }]), 'INVALID_ARGUMENT', /missing y\.npy/);
    await rejectsWith(loadSampleSet(write('lone.npy', npy('<f4', [1, 3], Float32Array.of(1, 2, 3))), [X, IDS]),
      'INVALID_ARGUMENT', /the model has 2 inputs \(x, ids\)/);
  });

  it('reads JSON as one object of batches, or a list of objects (single samples gain a batch axis)', async () => {
    const batch = await loadSampleSet(write('a.json', JSON.stringify({ x: [[1, 2, 3], [4, 5, 6]], ids: [[1, 2], [3, 4]] })), [X, IDS]);
    assert.equal(batch.count, 2);
    const list = await loadSampleSet(write('b.json', JSON.stringify([
      { x: [1, 2, 3], ids: [1, 2] }, // one sample, no batch axis
      { x: [[4, 5, 6], [7, 8, 9]], ids: [[3, 4], [5, 6]] },
    ])), [X, IDS]);
    assert.equal(list.count, 3);
    assert.deepEqual(list.inputs.get('x')?.dims, [3, 3]);
    assert.deepEqual(Array.from(list.inputs.get('x')?.data as Float32Array), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(Array.from(list.inputs.get('ids')?.data as BigInt64Array), [1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it('says what is wrong with data that does not fit the model', async () => {
    const json = (name: string, doc: unknown): string => write(name, JSON.stringify(doc));
    await rejectsWith(loadSampleSet(json('c1.json', { y: [[1, 2, 3]] }), [X]), 'INVALID_ARGUMENT', /no input 'y' \(its inputs: x\)/);
    await rejectsWith(loadSampleSet(json('c2.json', { x: [[1, 2]] }), [X]), 'INVALID_ARGUMENT',
      /input 'x': data has shape \[1, 2\], the model takes \[\?, 3\]/);
    await rejectsWith(loadSampleSet(json('c3.json', { x: [[1, 2, 3], [4, 5]] }), [X]), 'INVALID_ARGUMENT', /ragged/);
    await rejectsWith(loadSampleSet(json('c4.json', { x: [[1, 2, 'a']] }), [X]), 'INVALID_ARGUMENT', /x\[0\]\[2\]: expected a finite number/);
    await rejectsWith(loadSampleSet(json('c5.json', { x: [[1, 2, 3]], ids: [[1, 2], [3, 4]] }), [X, IDS]),
      'INVALID_ARGUMENT', /disagree on the number of samples \(1 vs 2/);
    await rejectsWith(loadSampleSet(json('c6.json', { x: [[1, 2, 3]], ids: [[1.5, 2]] }), [X, IDS]),
      'INVALID_ARGUMENT', /element 0 \(1\.5\) is not a valid INT64 value/);
    await rejectsWith(loadSampleSet(json('c7.json', { x: [[1, 2, 3]] }), [X, IDS]), 'INVALID_ARGUMENT', /no data for input 'ids'/);
    await rejectsWith(loadSampleSet(write('c8.json', '{"x": [1, 2,'), [X]), 'INVALID_ARGUMENT', /not valid JSON/);
    await rejectsWith(loadSampleSet(write('c9.csv', '1,2,3'), [X]), 'INVALID_ARGUMENT', /unknown data format/);
    await rejectsWith(loadSampleSet(path.join(dir, 'absent.npy'), [X], undefined, '--calibration'),
      'NOT_FOUND', /--calibration .*absent\.npy: no such file/);
    await rejectsWith(loadSampleSet(json('c10.json', { x: [[1, 2, 3], [4, 5, 6], [7, 8, 9]] }), [FIXED]),
      'INVALID_ARGUMENT', /batch axis is fixed at 2, so the sample count \(3\) must be a multiple of it/);
  });

  it('keeps the first --max-samples samples (whole batches when the batch axis is fixed)', () => {
    const rows = { shape: [4, 3], values: Float32Array.from({ length: 12 }, (_, i) => i) };
    const set = sampleSetFromArrays('mem', new Map([['x', [rows]]]), [X], 3);
    assert.equal(set.count, 3);
    assert.deepEqual(Array.from(set.inputs.get('x')?.data as Float32Array), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(sampleSetFromArrays('mem', new Map([['x', [rows]]]), [FIXED], 3).count, 2);
    assert.throws(() => sampleSetFromArrays('mem', new Map([['x', [rows]]]), [FIXED], 1), /less than the model's fixed batch/);
  });
});

describe('loadLabels', () => {
  it('reads integer class indices from .npy or a JSON array', async () => {
    assert.deepEqual(Array.from(await loadLabels(write('l.npy', npy('<i8', [3], BigInt64Array.of(0n, 9n, 3n))))), [0, 9, 3]);
    assert.deepEqual(Array.from(await loadLabels(write('l.json', '[1, 2, 3]'))), [1, 2, 3]);
    await rejectsWith(loadLabels(write('l2.json', '[1, -2]')), 'INVALID_ARGUMENT', /label 1 is -2, not a class index/);
    await rejectsWith(loadLabels(write('l3.json', '{"labels": [1]}')), 'INVALID_ARGUMENT', /expected a JSON array/);
  });
});
