/**
 * The ONNX Runtime backend (onnxruntime-node, CPU). Every InferenceSession lives in a worker
 * thread, so inference never blocks the event loop (see ort-worker.ts for why); the workers pull
 * batches from the version's native batcher.
 */
import * as os from 'node:os';
import type { ModelConfig } from '../../repository/model-config';
import { internal, invalidArgument, SluiceError } from '../../runtime/status';
import type { Backend, BackendSession } from '../backend';
import { intParameter, readModelBytes } from '../model-file';
import type { OrtSessionOptions, WorkerInit } from './ort-messages';
import { OrtSession } from './ort-session';
import { startOrtWorker } from './ort-worker-handle';
import type { OrtWorkerHandle } from './ort-worker-handle';

/** Workers = the sum of the instance_group counts (Triton's instances), 1 when none is given. */
export function workerCount(config: ModelConfig): number {
  if (config.instanceGroup.length === 0) return 1;
  let n = 0;
  for (const g of config.instanceGroup) {
    if (!Number.isInteger(g.count) || g.count < 1) {
      throw invalidArgument(`model '${config.name}': instance_group count must be a positive integer, got ${g.count}`);
    }
    n += g.count;
  }
  return n;
}

/**
 * Intra-op threads default to an even share of the cores, so N workers computing at once do not
 * oversubscribe the machine. Inter-op stays at 1: these models run sequentially, and parallel
 * branches would only add threads.
 *
 * ORT's pool threads do not spin while they wait for work: between batches the worker's batch
 * source already spins for the next batch (native/include/sluice/source-wait.h), and a spinning
 * pool beside it takes the core the JS thread needs to deliver completions. Measured on the
 * 2-core reference machine: a 1-row identity request in-process took ~330 µs end to end with
 * spinning and ~100 µs without; slowModel runs were also ~2x faster without it there.
 */
export function sessionOptions(config: ModelConfig, workers: number): OrtSessionOptions {
  const cores = os.availableParallelism();
  return {
    intraOpNumThreads: intParameter(config, 'intra_op_thread_count', Math.max(1, Math.floor(cores / workers))),
    interOpNumThreads: intParameter(config, 'inter_op_thread_count', 1),
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

async function readModel(modelFile: string): Promise<SharedArrayBuffer> {
  const bytes = await readModelBytes(modelFile);
  // Read once; every worker maps this same memory instead of receiving its own clone.
  const shared = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(shared).set(bytes);
  return shared;
}

/** onnxruntime-node has no bfloat16 tensor, so a model that declares one cannot be served. */
function refuseUncarriedTypes(config: ModelConfig): void {
  for (const t of [...config.input, ...config.output]) {
    if (t.dataType === 'BF16') {
      throw invalidArgument(`model '${config.name}': '${t.name}' is BF16, which onnxruntime-node cannot carry (no bfloat16 tensor)`);
    }
  }
}

export class OrtBackend implements Backend {
  readonly name = 'onnxruntime';

  async load(modelFile: string, config: ModelConfig): Promise<BackendSession> {
    refuseUncarriedTypes(config);
    const workers = workerCount(config);
    // The shared model bytes stay referenced by the session (through `spawn`) so a crashed worker
    // is replaced from the same version even if the file on disk has changed since.
    const init: WorkerInit = {
      modelPath: modelFile,
      model: await readModel(modelFile),
      options: sessionOptions(config, workers),
      inputs: config.input.map((t) => ({ name: t.name, datatype: t.dataType })),
      outputs: config.output.map((t) => ({ name: t.name, datatype: t.dataType })),
    };
    const spawn = (): OrtWorkerHandle => startOrtWorker(init);
    const handles = Array.from({ length: workers }, spawn);
    const loaded = await Promise.allSettled(handles.map((h) => h.ready));
    const failure = loaded.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(handles.map((h) => h.terminate()));
      throw failure.reason instanceof SluiceError ? failure.reason : internal(String(failure.reason), failure.reason);
    }
    return new OrtSession(handles, spawn, config.input.filter((t) => t.dataType === 'BYTES').map((t) => t.name));
  }
}
