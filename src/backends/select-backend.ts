/**
 * Backend selection per model version, from the config's `backend` (auto | native | onnxruntime).
 * `auto` imports the version's graph and asks the native engine what it cannot run: nothing → the
 * native engine; anything → ONNX Runtime, with the engine's reasons as the explanation. The choice
 * and its reason go in the session, so the log, ModelConfig and `sluice inspect` can say why.
 */
import type { ModelConfig } from '../repository/model-config';
import { SluiceError } from '../runtime/status';
import type { Backend, BackendSession } from './backend';
import { readModelBytes } from './model-file';
import { dynamicQuantization, NativeBackend, nativeCandidate } from './native/native-backend';
import { OrtBackend } from './onnxruntime/ort-backend';

export interface BackendChoiceReport {
  /** The backend that runs the version: "native" or "onnxruntime". */
  readonly backend: string;
  /** Why: "backend: native in the config", "every op is supported", "unsupported op LSTM; ...". */
  readonly reason: string;
}

/** Decides without loading anything: what `auto` would pick for this model file, and why. */
export async function chooseBackend(modelFile: string, config: ModelConfig): Promise<BackendChoiceReport & {
  readonly candidate: ReturnType<typeof nativeCandidate> | undefined;
}> {
  if (config.backend === 'onnxruntime') {
    return { backend: 'onnxruntime', reason: 'backend "onnxruntime" in the config', candidate: undefined };
  }
  const candidate = nativeCandidate(await readModelBytes(modelFile), modelFile);
  if (config.backend === 'native') return { backend: 'native', reason: 'backend "native" in the config', candidate };
  return candidate.unsupported.length === 0
    ? { backend: 'native', reason: 'auto: the native engine supports every op', candidate }
    : { backend: 'onnxruntime', reason: `auto: ${candidate.unsupported.join('; ')}`, candidate };
}

/** The Runtime's default Backend: native engine or ONNX Runtime per version, as configured. */
export class SelectingBackend implements Backend {
  readonly name = 'auto';
  readonly #native = new NativeBackend();
  readonly #ort = new OrtBackend();

  async load(modelFile: string, config: ModelConfig): Promise<BackendSession> {
    // A bad engine parameter fails the model under `auto` too, instead of being read as "the
    // engine refused it" and silently ignored by ONNX Runtime.
    dynamicQuantization(config);
    const choice = await chooseBackend(modelFile, config);
    if (choice.backend !== 'native') return new ChosenSession(await this.#ort.load(modelFile, config), choice.reason);
    try {
      return new ChosenSession(await this.#native.load(modelFile, config, choice.candidate), choice.reason);
    } catch (e) {
      // The op check passed but loading did not (a shape that only resolves at load, say):
      // under `auto` that is a reason to use ONNX Runtime, not to fail the version.
      const refused = e instanceof SluiceError && (e.code === 'UNIMPLEMENTED' || e.code === 'INVALID_ARGUMENT');
      if (config.backend !== 'auto' || !refused) throw e;
      const reason = `auto: the native engine refused it at load: ${e.message}`;
      return new ChosenSession(await this.#ort.load(modelFile, config), reason);
    }
  }
}

/** A session that also says why its backend was chosen. */
class ChosenSession implements BackendSession {
  constructor(private readonly inner: BackendSession, readonly reason: string) {}
  get backend(): string { return this.inner.backend; }
  checkInputs(inputs: Parameters<BackendSession['checkInputs']>[0]): void { this.inner.checkInputs(inputs); }
  attach(batcherId: number, onLost: Parameters<BackendSession['attach']>[1]): void { this.inner.attach(batcherId, onLost); }
  close(): Promise<void> { return this.inner.close(); }
}
