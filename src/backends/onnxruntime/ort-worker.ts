/**
 * worker_threads entry: one ONNX Runtime InferenceSession per thread, pulling batches from a
 * native batcher.
 *
 * onnxruntime-node's `session.run` blocks the thread that calls it (it only defers the call with
 * setImmediate), so it runs here and never on the main thread. Batches come straight from the
 * batcher (NativeBatchSource.next blocks this thread, never the main one) and results go straight
 * back to it; the main thread only sends control messages (ort-messages.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { native } from '../../native';
import type { NativeBatch, NativeBatchSource } from '../../native/binding';
import { batchFeeds, BatchInputError, batchOutputs } from './ort-batch';
import type { MainMessage, WorkerInit, WorkerMessage } from './ort-messages';

if (parentPort === null) throw new Error('ort-worker must run in a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;
const outputNames = init.outputs.map((o) => o.name);
// This thread computes batches (ONNX Runtime runs on the caller with one intra-op thread): it
// yields to the main thread's event loop, which reads and refuses requests (thread-priority.h).
native().lowerThreadPriorityForCompute();

/**
 * How long one next() may block, ms. Between calls the thread returns to its event loop, where
 * a 'stop' message arrives, so this bounds how long an idle worker takes to stop.
 */
const NEXT_TIMEOUT_MS = 20;

/** ORT's phrasing for problems with what the caller sent (rank, dims, type, names). */
const INPUT_PROBLEM =
  /invalid rank for input|invalid dimensions for input|unexpected input data type|missing in 'feeds'|invalid output name/i;

const post = (message: WorkerMessage): void => port.postMessage(message);
const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const nsSince = (start: bigint): number => Number(process.hrtime.bigint() - start);
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs one batch and hands its outcome to the batcher; never throws. True when ORT ran it to
 * completion (and so went through the event loop on the way).
 */
async function execute(session: ort.InferenceSession, source: NativeBatchSource, batch: NativeBatch): Promise<boolean> {
  const fail = (code: 'INVALID_ARGUMENT' | 'INTERNAL', e: unknown): void =>
    source.fail(batch.id, code, `onnxruntime run failed for ${init.modelPath}: ${errorMessage(e)}`);
  try {
    const t0 = process.hrtime.bigint();
    let feeds: Record<string, ort.Tensor>;
    try {
      feeds = batchFeeds(batch, init.inputs);
    } catch (e) {
      fail(e instanceof BatchInputError ? 'INVALID_ARGUMENT' : 'INTERNAL', e);
      return false;
    }
    const computeInputNs = nsSince(t0);
    const t1 = process.hrtime.bigint();
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session.run(feeds, outputNames);
    } catch (e) {
      fail(INPUT_PROBLEM.test(errorMessage(e)) ? 'INVALID_ARGUMENT' : 'INTERNAL', e);
      return false;
    }
    const computeInferNs = nsSince(t1);
    const t2 = process.hrtime.bigint();
    const outputs = batchOutputs(results, init.outputs);
    source.complete(batch.id, outputs, { computeInputNs, computeInferNs, computeOutputNs: nsSince(t2) });
    return true;
  } catch (e) {
    // A malformed output, or complete() refusing it: the batch fails, the worker serves on.
    try {
      fail('INTERNAL', e);
    } catch {
      // The batch was already handed back; nothing is left to fail.
    }
    return false;
  }
}

/** A loop is taking batches. */
let pulling = false;
/** The main thread asked for a stop: take no batch after the current one. */
let stopAsked = false;

/** Takes batches until the batcher closes or a stop is asked for; finishes the batch it holds. */
async function pull(session: ort.InferenceSession, source: NativeBatchSource): Promise<void> {
  pulling = true;
  while (!stopAsked) {
    const batch = source.next(NEXT_TIMEOUT_MS);
    if (batch === 'closed') break;
    // The event loop must turn between batches: a 'stop' message arrives there. session.run
    // already defers through setImmediate, so only idle polls and batches that never reached it
    // need an extra turn (which costs a few µs per batch).
    if (batch === null || !(await execute(session, source, batch))) await nextTurn();
  }
  pulling = false;
  if (stopAsked) post({ kind: 'stopped' });
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    // The native binding rejects a SharedArrayBuffer, so this thread takes one private copy,
    // garbage once ORT has parsed it.
    const bytes = new Uint8Array(init.model.byteLength);
    bytes.set(new Uint8Array(init.model));
    session = await ort.InferenceSession.create(bytes, { ...init.options });
  } catch (e) {
    post({ kind: 'load-failed', message: errorMessage(e) });
    return;
  }
  port.on('message', (m: MainMessage) => {
    if (m.kind === 'stop') {
      if (stopAsked) return;
      stopAsked = true;
      if (!pulling) post({ kind: 'stopped' });
      return;
    }
    if (pulling || stopAsked) return;
    let source: NativeBatchSource;
    try {
      source = native().attachBatchSource(m.batcherId);
    } catch (e) {
      post({ kind: 'attach-failed', message: errorMessage(e) });
      return;
    }
    void pull(session, source);
  });
  post({ kind: 'ready' });
}

void main();
