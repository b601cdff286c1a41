/**
 * The main thread's side of one ort-worker: its load handshake, its one in-flight run, and its
 * death. It listens to the Worker from construction on, so an 'error' event is never unhandled
 * and a run is settled exactly once, by its answer or by the worker's exit.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { internal, SluiceError } from '../../runtime/status';
import type { ExecutionTimings } from '../backend';
import type { RunRequest, WireTensor, WorkerInit, WorkerMessage } from './ort-messages';

/** ort-worker.ts compiles next to this file. */
const WORKER_FILE = path.join(__dirname, 'ort-worker.js');

export interface WireResult {
  readonly outputs: readonly WireTensor[];
  readonly timings: ExecutionTimings;
}

interface InFlight {
  readonly id: number;
  readonly resolve: (r: WireResult) => void;
  readonly reject: (e: SluiceError) => void;
}

export class OrtWorkerHandle {
  /** Resolves once the worker's session is loaded; rejects if it cannot load or the worker dies first. */
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  readonly #modelPath: string;
  #state: 'loading' | 'ready' | 'gone' = 'loading';
  #settleReady: { resolve: () => void; reject: (e: SluiceError) => void } | undefined;
  #inFlight: InFlight | undefined;
  #nextId = 1;
  /** The in-flight run's promise, for terminate() to wait on. */
  #current: Promise<WireResult> | undefined;
  /** Set by terminate(): no more runs, and the coming exit is ours, not a crash. */
  #stopping = false;
  #stopped: Promise<void> | undefined;
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

  get idle(): boolean {
    return this.#state === 'ready' && this.#inFlight === undefined && !this.#stopping;
  }

  /**
   * `cb` runs once if the worker dies without terminate() having been called, after any in-flight
   * run was rejected. Runs at once (next microtask) if that already happened.
   */
  onCrash(cb: (e: SluiceError) => void): void {
    this.#onCrash = cb;
    const crash = this.#crash;
    if (crash !== undefined) queueMicrotask(() => cb(crash));
  }

  /** One run at a time; `transfer` buffers belong to the worker from here on. */
  run(request: Omit<RunRequest, 'kind' | 'id'>, transfer: ArrayBuffer[]): Promise<WireResult> {
    if (!this.idle) return Promise.reject(internal(`onnxruntime worker is not idle (${this.#state})`));
    const id = this.#nextId++;
    this.#current = new Promise<WireResult>((resolve, reject) => {
      this.#inFlight = { id, resolve, reject };
      // A worker with a run in flight keeps the process alive; an idle one does not, so a loaded
      // but unused model never holds a script open.
      this.#worker.ref();
      try {
        const message: RunRequest = { kind: 'run', id, ...request };
        this.#worker.postMessage(message, transfer);
      } catch (e) {
        this.#finishRun()?.reject(internal(`cannot send run to onnxruntime worker: ${String(e)}`, e));
      }
    });
    return this.#current;
  }

  /**
   * Ends the worker once its current load or run has finished: onnxruntime-node aborts the whole
   * process if a thread is terminated inside its native calls. Refuses new runs at once. Idempotent.
   */
  terminate(): Promise<void> {
    this.#stopping = true;
    this.#stopped ??= (async () => {
      await this.ready.catch(() => undefined);
      await this.#current?.catch(() => undefined);
      await this.#worker.terminate();
    })();
    return this.#stopped;
  }

  #finishRun(): InFlight | undefined {
    const run = this.#inFlight;
    this.#inFlight = undefined;
    this.#worker.unref();
    return run;
  }

  #onMessage(m: WorkerMessage): void {
    switch (m.kind) {
      case 'ready':
        this.#state = 'ready';
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
      case 'result':
      case 'run-failed': {
        if (this.#inFlight?.id !== m.id) return; // cannot happen: one run at a time, ids unique
        const run = this.#finishRun();
        if (m.kind === 'result') run?.resolve({ outputs: m.outputs, timings: m.timings });
        else run?.reject(new SluiceError(m.code, `onnxruntime run failed for ${this.#modelPath}: ${m.message}`));
        return;
      }
    }
  }

  #onExit(code: number): void {
    const wasLoading = this.#state === 'loading';
    this.#state = 'gone';
    const reason = this.#lastError === undefined ? '' : `: ${this.#lastError.message}`;
    const err = this.#stopping
      ? new SluiceError('UNAVAILABLE', `onnxruntime worker for ${this.#modelPath} was stopped${reason}`)
      : internal(`onnxruntime worker for ${this.#modelPath} exited with code ${code}${reason}`, this.#lastError);
    this.#settleReady?.reject(err);
    this.#settleReady = undefined;
    this.#finishRun()?.reject(err);
    if (!this.#stopping && !wasLoading) {
      this.#crash = err;
      this.#onCrash?.(err);
    }
  }
}

/** Starts one worker loading the model; await `.ready` before running on it. */
export function startOrtWorker(init: WorkerInit): OrtWorkerHandle {
  return new OrtWorkerHandle(new Worker(WORKER_FILE, { workerData: init }), init.modelPath);
}
