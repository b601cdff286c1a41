/**
 * A loaded model on ONNX Runtime: a pool of ort-workers, each with its own InferenceSession, all
 * pulling from one native batcher once attached. The batcher is the queue; this class only keeps
 * the pool at strength.
 *
 * Invariants: a worker that crashes is replaced (the batch it held is failed by the batcher when
 * its source goes away); if the pool empties and no replacement loads, `onLost` runs once; after
 * close() every worker, replacements still loading included, is terminated once idle.
 */
import type { BackendSession } from '../backend';
import { toSluiceError, unavailable } from '../../runtime/status';
import type { SluiceError } from '../../runtime/status';
import type { Tensor } from '../../runtime/tensor';
import type { OrtWorkerHandle } from './ort-worker-handle';
import { checkStringTensor } from './ort-strings';

interface Attachment {
  readonly batcherId: number;
  readonly onLost: (reason: SluiceError) => void;
}

export class OrtSession implements BackendSession {
  readonly backend = 'onnxruntime';
  /** Starts a replacement worker loading the same model. */
  readonly #spawn: () => OrtWorkerHandle;
  /** Names of the BYTES inputs, the only ones with values ORT may refuse. */
  readonly #stringInputs: readonly string[];
  /** Loaded workers. */
  readonly #workers = new Set<OrtWorkerHandle>();
  /** Replacements still loading. */
  readonly #loading = new Set<OrtWorkerHandle>();
  #attachment: Attachment | undefined;
  #lost = false;
  #closed: Promise<void> | undefined;

  /** Takes ownership of `workers`, which must have loaded (their `ready` resolved). */
  constructor(workers: readonly OrtWorkerHandle[], spawn: () => OrtWorkerHandle, stringInputs: readonly string[] = []) {
    this.#spawn = spawn;
    this.#stringInputs = stringInputs;
    for (const w of workers) this.#adopt(w);
  }

  checkInputs(inputs: ReadonlyMap<string, Tensor>): void {
    for (const name of this.#stringInputs) {
      const t = inputs.get(name);
      if (t !== undefined) checkStringTensor(name, t);
    }
  }

  attach(batcherId: number, onLost: (reason: SluiceError) => void): void {
    if (this.#attachment !== undefined) throw new Error('an onnxruntime session is attached once');
    this.#attachment = { batcherId, onLost };
    for (const w of this.#workers) w.attach(batcherId);
  }

  /** Stops every worker after the batch it holds and terminates it. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= Promise.all([...this.#workers, ...this.#loading].map((w) => w.terminate())).then(() => {
      this.#workers.clear();
      this.#loading.clear();
    });
    return this.#closed;
  }

  #adopt(w: OrtWorkerHandle): void {
    this.#workers.add(w);
    w.onCrash(() => {
      this.#workers.delete(w);
      this.#replace();
    });
    if (this.#attachment !== undefined) w.attach(this.#attachment.batcherId);
  }

  #replace(): void {
    if (this.#closed !== undefined) return;
    const w = this.#spawn();
    this.#loading.add(w);
    w.ready.then(
      () => {
        this.#loading.delete(w);
        if (this.#closed !== undefined) void w.terminate();
        else this.#adopt(w);
      },
      (e: unknown) => {
        // The pool stays one worker smaller; when none is left, the owner must fail what waits
        // rather than hold it forever.
        this.#loading.delete(w);
        if (this.#workers.size > 0 || this.#loading.size > 0 || this.#closed !== undefined || this.#lost) return;
        this.#lost = true;
        this.#attachment?.onLost(unavailable(`onnxruntime session lost all workers: ${toSluiceError(e).message}`));
      },
    );
  }
}
