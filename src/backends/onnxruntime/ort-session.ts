/**
 * A loaded model on ONNX Runtime: a pool of ort-workers, each with its own InferenceSession,
 * fed from one FIFO of pending runs (one run per worker at a time, oldest run first).
 *
 * Invariants: every run's promise settles exactly once; a worker that crashes is replaced;
 * after close() no run is accepted, but runs accepted before it still execute.
 */
import type { BackendSession, ExecutionResult } from '../backend';
import { toSluiceError, unavailable } from '../../runtime/status';
import type { SluiceError } from '../../runtime/status';
import type { Tensor } from '../../runtime/tensor';
import type { WireTensor } from './ort-messages';
import type { OrtWorkerHandle } from './ort-worker-handle';
import { tensorToWire, wireToTensor } from './ort-wire';

interface QueuedRun {
  readonly inputs: readonly WireTensor[];
  readonly outputNames: readonly string[];
  /** Copies made at run() time: the caller may reuse its tensors as soon as run() returns. */
  readonly transfer: ArrayBuffer[];
  readonly resolve: (r: ExecutionResult) => void;
  readonly reject: (e: SluiceError) => void;
}

export class OrtSession implements BackendSession {
  readonly backend = 'onnxruntime';
  /** Starts a replacement worker loading the same model. */
  readonly #spawn: () => OrtWorkerHandle;
  /** Loaded workers, idle or busy. */
  readonly #workers = new Set<OrtWorkerHandle>();
  /** Replacements still loading. */
  #starting = 0;
  readonly #queue: QueuedRun[] = [];
  #closed: Promise<void> | undefined;
  /** Set while close() waits for the queue and the workers to drain. */
  #drained: (() => void) | undefined;

  /** Takes ownership of `workers`, which must have loaded (their `ready` resolved). */
  constructor(workers: readonly OrtWorkerHandle[], spawn: () => OrtWorkerHandle) {
    this.#spawn = spawn;
    for (const w of workers) this.#adopt(w);
  }

  run(inputs: ReadonlyMap<string, Tensor>, outputNames: readonly string[]): Promise<ExecutionResult> {
    if (this.#closed !== undefined) return Promise.reject(unavailable('onnxruntime session is closed'));
    if (this.#workers.size === 0 && this.#starting === 0) {
      return Promise.reject(unavailable('onnxruntime session has no worker left'));
    }
    const wire: WireTensor[] = [];
    const transfer: ArrayBuffer[] = [];
    try {
      for (const [name, t] of inputs) {
        const w = tensorToWire(name, t);
        wire.push(w.wire);
        transfer.push(...w.transfer);
      }
    } catch (e) {
      return Promise.reject(toSluiceError(e));
    }
    return new Promise<ExecutionResult>((resolve, reject) => {
      this.#queue.push({ inputs: wire, outputNames: [...outputNames], transfer, resolve, reject });
      this.#dispatch();
    });
  }

  /** Stops accepting runs, lets accepted ones finish, then terminates the workers. Idempotent. */
  close(): Promise<void> {
    if (this.#closed === undefined) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      this.#closed = drained.then(() => this.#terminateAll());
      this.#checkDrained();
    }
    return this.#closed;
  }

  #adopt(w: OrtWorkerHandle): void {
    this.#workers.add(w);
    w.onCrash(() => {
      this.#workers.delete(w);
      this.#replace();
    });
  }

  /** Keeps the pool at strength after a crash, unless the session is closing with nothing to do. */
  #replace(): void {
    if (this.#closed !== undefined && this.#queue.length === 0) {
      this.#checkDrained();
      return;
    }
    this.#starting++;
    const w = this.#spawn();
    w.ready.then(
      () => {
        this.#starting--;
        this.#adopt(w);
        this.#dispatch();
        this.#checkDrained();
      },
      (e: unknown) => {
        // The pool stays one worker smaller; when none is left, fail what waits rather than
        // hold it forever.
        this.#starting--;
        if (this.#workers.size === 0 && this.#starting === 0) {
          const err = unavailable(`onnxruntime session lost all workers: ${toSluiceError(e).message}`);
          for (const q of this.#queue.splice(0)) q.reject(err);
        }
        this.#checkDrained();
      },
    );
  }

  #dispatch(): void {
    for (const w of this.#workers) {
      if (this.#queue.length === 0) return;
      if (!w.idle) continue;
      const q = this.#queue.shift() as QueuedRun;
      void w.run({ inputs: q.inputs, outputNames: q.outputNames }, q.transfer).then(
        (r) => {
          try {
            q.resolve({ outputs: new Map(r.outputs.map((o) => [o.name, wireToTensor(o)])), timings: r.timings });
          } catch (e) {
            q.reject(toSluiceError(e));
          }
        },
        (e: unknown) => q.reject(toSluiceError(e)),
      ).finally(() => {
        this.#dispatch();
        this.#checkDrained();
      });
    }
  }

  #checkDrained(): void {
    if (this.#drained === undefined || this.#queue.length > 0 || this.#starting > 0) return;
    for (const w of this.#workers) if (!w.idle) return;
    const done = this.#drained;
    this.#drained = undefined;
    done();
  }

  async #terminateAll(): Promise<void> {
    const workers = [...this.#workers];
    this.#workers.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
