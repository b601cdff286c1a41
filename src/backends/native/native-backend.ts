/**
 * The native engine backend: the model's ONNX graph is imported in TS (src/onnx/graph-import.ts),
 * loaded into the addon's C++ engine, and executed by native executor threads that pull batches
 * straight from the version's batcher — no JS thread touches a batch.
 */
import * as os from 'node:os';
import { native } from '../../native';
import type { NativeEngine, NativeGraph } from '../../native/binding';
import { importOnnxGraph } from '../../onnx/graph-import';
import type { ModelConfig } from '../../repository/model-config';
import { fromNativeError, invalidArgument, unimplemented } from '../../runtime/status';
import type { Backend, BackendSession } from '../backend';
import { intParameter, readModelBytes } from '../model-file';
import { workerCount } from '../onnxruntime/ort-backend';


/** A model imported for the native engine, with every reason the engine cannot run it. */
export interface NativeCandidate {
  readonly graph: NativeGraph;
  /** Empty when the engine supports the whole graph. */
  readonly unsupported: readonly string[];
}

/** Imports `bytes` and asks the engine what it cannot run. Malformed ONNX throws. */
export function nativeCandidate(bytes: Uint8Array, source: string): NativeCandidate {
  const { graph, problems } = importOnnxGraph(bytes, source);
  let unsupported: string[];
  try {
    unsupported = native().engineUnsupported(graph);
  } catch (e) {
    throw fromNativeError(e);
  }
  return { graph, unsupported: [...problems, ...unsupported] };
}

/** Kernel threads of one engine: the config's intra_op_thread_count, else every core. */
const engineThreads = (config: ModelConfig): number =>
  intParameter(config, 'intra_op_thread_count', os.availableParallelism());

/**
 * The config's `sluice.dynamic_quantization`: how the engine's fused dynamically quantized layers
 * quantize activations (see NativeEngineOptions). per_tensor (the default) or per_row.
 */
export function dynamicQuantization(config: ModelConfig): 'per-tensor' | 'per-row' {
  const key = 'sluice.dynamic_quantization';
  const raw = config.parameters.get(key);
  switch (raw) {
    case undefined:
    case 'per_tensor':
      return 'per-tensor';
    case 'per_row':
      return 'per-row';
    default:
      throw invalidArgument(`model '${config.name}': parameter ${key} must be per_tensor or per_row, got '${raw}'`);
  }
}

class NativeSession implements BackendSession {
  readonly backend = 'native';
  #closed: Promise<void> | undefined;

  constructor(private readonly engine: NativeEngine, private readonly config: ModelConfig,
    private readonly executors: number) {}

  // The engine checks dtypes and shapes per batch; the config validation already matched them.
  checkInputs(): void {}

  attach(batcherId: number): void {
    try {
      this.engine.attach(batcherId, this.config.input.map((t) => t.name), this.config.output.map((t) => t.name),
        this.executors);
    } catch (e) {
      throw fromNativeError(e);
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.engine.close();
    return this.#closed;
  }
}

export class NativeBackend implements Backend {
  readonly name = 'native';

  async load(modelFile: string, config: ModelConfig, candidate?: NativeCandidate): Promise<BackendSession> {
    const c = candidate ?? nativeCandidate(await readModelBytes(modelFile), modelFile);
    if (c.unsupported.length > 0) {
      throw unimplemented(`model '${config.name}': the native engine cannot run ${modelFile}: ${c.unsupported.join('; ')}`);
    }
    const options = { threads: engineThreads(config), dynamicQuantization: dynamicQuantization(config) };
    let engine: NativeEngine;
    try {
      engine = await native().loadEngine(c.graph, options);
    } catch (e) {
      throw fromNativeError(e);
    }
    // Executor threads = Triton instances (each runs one batch at a time on the shared pool).
    return new NativeSession(engine, config, workerCount(config));
  }
}
