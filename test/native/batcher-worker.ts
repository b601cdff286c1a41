/**
 * worker_threads entry for test/native/batcher.test.ts: attaches to a native batcher by id and
 * serves its batches. FP32 inputs come back doubled, BYTES inputs unchanged, one output per
 * input. Reports every batch to the parent. Does nothing outside a worker started by that test
 * (so a test runner that loads every file under test/ finds nothing to run here).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

import { native } from '../../src/native';

export type WorkerMode = 'echo' | 'take-and-exit' | 'block-forever';

export interface BatcherWorkerData {
  readonly kind: 'sluice-batcher-test';
  readonly batcherId: number;
  readonly mode: WorkerMode;
  /** Bytes per element of each input, as in the batcher config (0 = BYTES). */
  readonly elementSizes: readonly number[];
  /** When set, the worker waits until gate[0] becomes non-zero before it serves. */
  readonly gate?: SharedArrayBuffer;
}

export type WorkerReport =
  | { readonly type: 'batch'; readonly rows: number; readonly requests: number; readonly detached: boolean }
  | { readonly type: 'took'; readonly rows: number }
  | { readonly type: 'waiting' }
  | { readonly type: 'closed'; readonly batches: number };

function serve(port: MessagePort, opts: BatcherWorkerData): void {
  const source = native().attachBatchSource(opts.batcherId);
  if (opts.gate !== undefined) Atomics.wait(new Int32Array(opts.gate), 0, 0);
  let batches = 0;
  for (;;) {
    if (opts.mode === 'block-forever') port.postMessage({ type: 'waiting' } satisfies WorkerReport);
    const batch = source.next(opts.mode === 'block-forever' ? Infinity : 200);
    if (batch === null) continue;
    if (batch === 'closed') break;
    if (opts.mode === 'take-and-exit') {
      // Leaves without completing: the addon must fail the batch when this thread exits.
      port.postMessage({ type: 'took', rows: batch.rows } satisfies WorkerReport);
      return;
    }
    const outputs = batch.inputs.map((input, i) => {
      if (opts.elementSizes[i] !== 4) return { data: input.data.slice(), shape: input.shape };
      const x = new Float32Array(input.data.buffer, input.data.byteOffset, input.data.byteLength / 4);
      return { data: new Uint8Array(Float32Array.from(x, (v) => v * 2).buffer), shape: input.shape };
    });
    const first = batch.inputs[0];
    source.complete(batch.id, outputs, { computeInputNs: 10, computeInferNs: 20, computeOutputNs: 30 });
    batches += 1;
    port.postMessage({
      type: 'batch', rows: batch.rows, requests: batch.requests,
      detached: first !== undefined && first.data.byteLength === 0,
    } satisfies WorkerReport);
  }
  port.postMessage({ type: 'closed', batches } satisfies WorkerReport);
}

const data = workerData as Partial<BatcherWorkerData> | null;
if (parentPort !== null && data?.kind === 'sluice-batcher-test') serve(parentPort, data as BatcherWorkerData);
