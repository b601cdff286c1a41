/**
 * A batch source for the batcher micro-benchmark: attaches to the batcher whose id it is given
 * and completes every batch at once with its inputs as outputs, so what the benchmark times is
 * the batcher itself (queue, policy, gather, split, completion) and no model.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../src/native';

const source = native().attachBatchSource((workerData as { batcherId: number }).batcherId);
const NO_TIMINGS = { computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0 };
parentPort?.postMessage('attached');
for (;;) {
  const batch = source.next(100);
  if (batch === 'closed') break;
  if (batch === null) continue;
  // Copied: the batch's input memory is detached when the batch completes.
  source.complete(batch.id, batch.inputs.map((t) => ({ data: new Uint8Array(t.data), shape: t.shape })), NO_TIMINGS);
}
