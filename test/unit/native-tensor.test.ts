import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataTypeInfo } from '../../src/runtime/datatypes';
import { fromNativeTensor, toNativeTensor } from '../../src/runtime/native-tensor';
import { SluiceError } from '../../src/runtime/status';
import type { Tensor } from '../../src/runtime/tensor';

const code = (c: string) => (e: unknown): boolean => e instanceof SluiceError && e.code === c;

describe('Tensor → NativeTensor (inputs)', () => {
  it('numeric data is a view of the caller\'s memory: no copy', () => {
    const backing = new Float32Array(8).map((_, i) => i);
    const t: Tensor = { datatype: 'FP32', shape: [2, 3], data: backing.subarray(1, 7) };
    const n = toNativeTensor('x', t, dataTypeInfo('FP32'));
    assert.equal(n.data.buffer, backing.buffer);
    assert.equal(n.data.byteOffset, 4);
    assert.equal(n.data.byteLength, 24);
    assert.deepEqual(n.shape, [2, 3]);
  });

  it('BYTES elements are joined into the length-prefixed raw form', () => {
    const t: Tensor = { datatype: 'BYTES', shape: [3], data: [Buffer.from('ab'), new Uint8Array(0), Buffer.from('xyz')] };
    const n = toNativeTensor('s', t, dataTypeInfo('BYTES'));
    assert.deepEqual([...n.data], [2, 0, 0, 0, 97, 98, 0, 0, 0, 0, 3, 0, 0, 0, 120, 121, 122]);
  });

  it('data that does not fill the shape never crosses into native code (INTERNAL: validation let it through)', () => {
    assert.throws(() => toNativeTensor('x', { datatype: 'FP32', shape: [2, 3], data: new Float32Array(5) }, dataTypeInfo('FP32')),
      (e: unknown) => code('INTERNAL')(e) && /input 'x'/.test((e as Error).message));
    assert.throws(() => toNativeTensor('x', { datatype: 'INT64', shape: [2], data: new Int32Array(2) }, dataTypeInfo('INT64')),
      code('INTERNAL'));
    assert.throws(() => toNativeTensor('s', { datatype: 'BYTES', shape: [2], data: [Buffer.from('a')] }, dataTypeInfo('BYTES')),
      code('INTERNAL'));
  });
});

describe('NativeTensor → Tensor (outputs)', () => {
  it('aligned numeric bytes become a view; misaligned ones are copied once', () => {
    const buf = new ArrayBuffer(20);
    new Float32Array(buf, 4, 4).set([1, 2, 3, 4]);
    const aligned = fromNativeTensor('y', { data: new Uint8Array(buf, 4, 16), shape: [2, 2] }, dataTypeInfo('FP32'));
    assert.equal((aligned.data as Float32Array).buffer, buf);
    assert.deepEqual([...(aligned.data as Float32Array)], [1, 2, 3, 4]);
    const odd = new Uint8Array(17);
    odd.set(new Uint8Array(new Float32Array([5, 6, 7, 8]).buffer), 1);
    const copied = fromNativeTensor('y', { data: odd.subarray(1), shape: [4] }, dataTypeInfo('FP32'));
    assert.notEqual((copied.data as Float32Array).buffer, odd.buffer);
    assert.deepEqual([...(copied.data as Float32Array)], [5, 6, 7, 8]);
  });

  it('BYTES are split at their length prefixes, as views', () => {
    const raw = new Uint8Array([1, 0, 0, 0, 65, 2, 0, 0, 0, 66, 67]);
    const t = fromNativeTensor('s', { data: raw, shape: [2] }, dataTypeInfo('BYTES'));
    assert.deepEqual((t.data as Uint8Array[]).map((b) => Buffer.from(b).toString()), ['A', 'BC']);
    assert.equal((t.data as Uint8Array[])[0]?.buffer, raw.buffer);
  });

  it('bytes that do not match the shape are INTERNAL (a batcher bug, not the client\'s)', () => {
    assert.throws(() => fromNativeTensor('y', { data: new Uint8Array(12), shape: [2, 2] }, dataTypeInfo('FP32')),
      (e: unknown) => code('INTERNAL')(e) && /output 'y'/.test((e as Error).message));
    assert.throws(() => fromNativeTensor('s', { data: new Uint8Array([9, 0, 0, 0, 65]), shape: [1] }, dataTypeInfo('BYTES')),
      code('INTERNAL'));
  });
});
