/**
 * The main thread's side of one ort-worker: its load handshake, attaching it to a batcher, stopping
 * it, and its death. It listens to the Worker from construction on, so an 'error' event is never
 * unhandled and a crash is reported exactly once.
 *
 * Terminating a thread while it is inside ONNX Runtime's native code aborts the whole process, so
 * a worker is only ever terminated idle: once it has failed to load, was never attached, or has
 * answered 'stopped' (it then holds no batch and takes none).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { internal, SluiceError } from '../../runtime/status';
import type { MainMessage, WorkerInit, WorkerMessage } from './ort-messages';

/** ort-worker.ts compiles next to this file. */
const WORKER_FILE = path.join(__dirname, 'ort-worker.js');

export class OrtWorkerHandle {
  /** Resolves once the worker's session is loaded; rejects if it cannot load or the worker dies first. */
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #modelPath: string;
  #state: 'loading' | 'ready' | 'attached' | 'gone' = 'loading';
  #settleReady: { resolve: () => void; reject: (e: SluiceError) => void } | undefined;
  /** Resolves when the worker answers 'stopped' or exits. */
  #onStopped: (() => void) | undefined;
  /** Set by terminate(): the coming exit is ours, not a crash. */
  #stopping = false;
  #terminated: Promise<void> | undefined;
  /** The last uncaught error in the worker, reported with its exit. */
  #lastError: Error | undefined;
  #onCrash: ((e: SluiceError) => void) | undefined;
  /** Why the worker died, once it crashed after loading. */
  #crash: SluiceError | undefined;

  /** Takes ownership of `worker`, which must run ort-worker.js (see startOrtWorker). */
  constructor(worker: Worker, modelPath: string) {
    this.#worker = worker;
    this.#modelPath = modelPath;
    this.ready = new Promise((resolve, reject) => {
      this.#settleReady = { resolve, reject };
    });
    worker.on('message', (m: WorkerMessage) => this.#onMessage(m));
    worker.on('error', (e: Error) => {
      this.#lastError = e;
    });
    worker.on('exit', (code: number) => this.#onExit(code));
  }

  /**
   * `cb` runs once if the worker dies without terminate() having been called. Runs at once (next
   * microtask) if that already happened.
   */
  onCrash(cb: (e: SluiceError) => void): void {
    this.#onCrash = cb;
    const crash = this.#crash;
    if (crash !== undefined) queueMicrotask(() => cb(crash));
  }

  /** Starts the loaded worker pulling batches from batcher `batcherId`. Once, after `ready`. */
  attach(batcherId: number): void {
    if (this.#state !== 'ready' || this.#stopping) return;
    this.#state = 'attached';
    this.#post({ kind: 'attach', batcherId });
  }

  /**
   * Ends the worker once it is idle: after its load, and after the batch it holds (it is told to
   * stop pulling first). Idempotent.
   */
  terminate(): Promise<void> {
    this.#stopping = true;
    // Whoever awaits the termination needs the process alive until the worker has exited.
    this.#worker.ref();
    this.#terminated ??= (async () => {
      await this.ready.catch(() => undefined);
      if (this.#state === 'attached') {
        const stopped = new Promise<void>((resolve) => { this.#onStopped = resolve; });
        this.#post({ kind: 'stop' });
        await stopped;
      }
      await this.#worker.terminate();
    })();
    return this.#terminated;
  }

  #post(message: MainMessage): void {
    try {
      this.#worker.postMessage(message);
    } catch {
      // The worker is exiting; #onExit reports it.
    }
  }

  #onMessage(m: WorkerMessage): void {
    switch (m.kind) {
      case 'ready':
        this.#state = 'ready';
        // A loading worker keeps the process alive (someone awaits `ready`); a loaded one does
        // not: requests waiting for it are the batcher's to keep alive, and an unused model must
        // not keep a script from exiting.
        this.#worker.unref();
        this.#settleReady?.resolve();
        this.#settleReady = undefined;
        return;
      case 'load-failed':
        this.#settleReady?.reject(
          new SluiceError('INVALID_ARGUMENT', `onnxruntime cannot load model ${this.#modelPath}: ${m.message}`));
        this.#settleReady = undefined;
        void this.terminate();
        return;
      case 'attach-failed':
        // The batcher was closed before this worker attached (a replacement arriving late, or
        // a version unloading): the worker stays idle until it is terminated.
        this.#state = 'ready';
        return;
      case 'stopped':
        this.#state = 'ready';
        this.#onStopped?.();
        return;
    }
  }

  #onExit(code: number): void {
    const wasLoading = this.#state === 'loading';
    this.#state = 'gone';
    this.#onStopped?.();
    const reason = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`;
    const err = this.#stopping
      ? new SluiceError('UNAVAILABLE', `onnxruntime worker for ${this.#modelPath} was stopped${reason}`)
      : internal(`onnxruntime worker for ${this.#modelPath} exited with code ${code}${reason}`, this.#lastError);
    this.#settleReady?.reject(err);
    this.#settleReady = undefined;
    if (!this.#stopping && !wasLoading) {
      this.#crash = err;
      this.#onCrash?.(err);
    }
  }
}

/** Starts one worker loading the model; await `.ready` before attaching it. */
export function startOrtWorker(init: WorkerInit): OrtWorkerHandle {
  return new OrtWorkerHandle(new Worker(WORKER_FILE, { workerData: init }), init.modelPath);
}
