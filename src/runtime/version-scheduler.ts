/**
 * The JS side of one model version's native batcher. Glue only: the queue, priorities, timeouts
 * and batch policy are native. This class converts validated requests to NativeTensors, enqueues
 * them, keeps one pending entry per request, and answers each request's sink when the batcher's
 * completion for it arrives (one call per finished batch, on this thread).
 *
 * Invariants: every enqueued request gets exactly one native completion, and its pending entry
 * lives until then, so `pending` counts what the batcher still holds (queued or executing) even
 * after a caller was answered early. A caller is answered exactly once: by its completion, or at
 * once with CANCELLED when its signal aborts (then the late completion is dropped).
 */
import { native } from '../native';
import type { NativeBatcher, NativeBatcherCounters, NativeBinding, NativeCompletion, NativeError } from '../native/binding';
import type { ModelConfig, ModelTensorConfig } from '../repository/model-config';
import { batcherConfig } from './batcher-config';
import { dataTypeInfo, type DataTypeInfo } from './datatypes';
import { fromNativeTensor, toNativeTensor } from './native-tensor';
import { fromNativeAnswer, fromNativeError, invalidArgument, printableName, SluiceError, toSluiceError } from './status';
import type { Tensor } from './tensor';
import type { CancelSignal, InferObserver, VersionLabels } from './types';

export interface ScheduleOptions {
  /** Protocol priority: 0 = the model's default level, 1 = most urgent. */
  readonly priority: number;
  /** Microseconds the request may wait in the queue; 0 = the model's default. */
  readonly timeoutUs: number;
  /** Aborting cancels the request (see the class comment). */
  readonly signal: CancelSignal | undefined;
}

export interface ScheduledResult {
  /** The outputs asked for, in the order asked for. */
  readonly outputs: Tensor[];
  /** Enqueue → taken by an executor, nanoseconds. */
  readonly queueNs: number;
}

interface ModelTensor {
  readonly name: string;
  readonly info: DataTypeInfo;
}

/**
 * Receives one request's outcome from VersionScheduler.submit: exactly one call. `failed` runs
 * inside submit() for a request refused before it was queued (queue full, bad priority, ...);
 * otherwise either runs later, on this thread.
 */
export interface ScheduleSink {
  scheduled(result: ScheduledResult): void;
  failed(error: SluiceError): void;
}

/**
 * One request the batcher holds. It is also the abort listener (handleEvent), so a request with a
 * signal costs no closure.
 */
class PendingRequest {
  answered = false;

  constructor(
    private readonly batcher: NativeBatcher,
    readonly id: number,
    /** Indices into the config's outputs, in the order the caller asked for them. */
    readonly outputs: readonly number[],
    readonly signal: CancelSignal | undefined,
    readonly sink: ScheduleSink,
  ) {}

  /** The signal aborted: cancel in the queue (a no-op once executing) and answer now. */
  handleEvent(): void {
    if (this.answered) return;
    this.answered = true;
    this.batcher.cancel(this.id);
    this.sink.failed(abortError(this.signal));
  }
}

/** The signal's own reason when it is a SluiceError (e.g. DEADLINE_EXCEEDED), else CANCELLED. */
function abortError(signal: CancelSignal | undefined): SluiceError {
  const reason: unknown = signal?.reason;
  return reason instanceof SluiceError ? reason : new SluiceError('CANCELLED', 'request cancelled by the client');
}

const isCount = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;

export class VersionScheduler {
  readonly labels: VersionLabels;
  readonly #batcher: NativeBatcher;
  readonly #inputs: readonly ModelTensor[];
  readonly #outputs: readonly ModelTensor[];
  readonly #outputIndex: ReadonlyMap<string, number>;
  readonly #observer: InferObserver | undefined;
  readonly #pending = new Map<number, PendingRequest>();
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  /** Creates the version's batcher; throws (INVALID_ARGUMENT) if the native side refuses its config. */
  constructor(model: string, version: string, config: ModelConfig, observer: InferObserver | undefined,
    binding: NativeBinding = native()) {
    this.labels = Object.freeze({ model, version });
    const spec = (t: ModelTensorConfig): ModelTensor => ({ name: t.name, info: dataTypeInfo(t.dataType) });
    this.#inputs = config.input.map(spec);
    this.#outputs = config.output.map(spec);
    this.#outputIndex = new Map(config.output.map((t, i) => [t.name, i]));
    this.#observer = observer;
    try {
      this.#batcher = binding.createBatcher(batcherConfig(model, version, config), this.#onComplete);
    } catch (e) {
      throw fromNativeError(e);
    }
  }

  /** The process-wide id that batch sources attach to. */
  get batcherId(): number { return this.#batcher.id; }

  /** Requests the batcher holds (queued or executing), including those answered early. */
  get pending(): number { return this.#pending.size; }

  /** The batcher's counters; they stay readable (and keep counting late batches) after close(). */
  counters(): NativeBatcherCounters { return this.#batcher.counters(); }

  /** Config output indices of `names` (already validated against the config), in that order. */
  outputIndices(names: readonly string[]): number[] {
    return names.map((n) => {
      const i = this.#outputIndex.get(n);
      if (i === undefined) throw invalidArgument(`unknown output '${printableName(n)}'`);
      return i;
    });
  }

  /**
   * Queues one request whose inputs were validated against the config (`rows` = their batch
   * dim, 1 without one) and answers `sink` once (see ScheduleSink). The input buffers must not
   * change until then: the batcher reads them in place. Failures carry the batcher's codes:
   * UNAVAILABLE (queue full, timeout expired, closed), CANCELLED, INVALID_ARGUMENT (priority out
   * of range), or the executor's (INVALID_ARGUMENT, INTERNAL).
   *
   * The serving path's form: no promise, closure or async frame per request. Those objects live
   * as long as the request is queued, and under load the young-generation collections that copy
   * them pause the thread every request waits on.
   */
  submit(inputs: ReadonlyMap<string, Tensor>, rows: number, outputs: readonly number[],
    options: ScheduleOptions, sink: ScheduleSink): void {
    const { priority, timeoutUs, signal } = options;
    let queued: number | NativeError;
    try {
      if (!isCount(priority)) throw invalidArgument(`priority must be a non-negative integer, got ${priority}`);
      if (!isCount(timeoutUs)) throw invalidArgument(`timeout must be a non-negative integer (µs), got ${timeoutUs}`);
      if (signal?.aborted === true) throw abortError(signal);
      const tensors = this.#inputs.map((t) => toNativeTensor(t.name, inputs.get(t.name) as Tensor, t.info));
      try {
        queued = this.#batcher.enqueue({ inputs: tensors, rows, priority, timeoutUs });
      } catch (e) {
        throw fromNativeError(e);
      }
    } catch (e) {
      sink.failed(toSluiceError(e));
      return;
    }
    if (typeof queued !== 'number') {
      sink.failed(fromNativeAnswer(queued));  // refused: queue full, closed, ...
      return;
    }
    const id = queued;
    // Completions arrive through a thread-safe call, never inside enqueue(), so registering the
    // request after enqueue() cannot miss its completion.
    const p = new PendingRequest(this.#batcher, id, outputs, signal, sink);
    this.#pending.set(id, p);
    signal?.addEventListener('abort', p, { once: true });
  }

  /** submit() as a promise. */
  infer(inputs: ReadonlyMap<string, Tensor>, rows: number, outputs: readonly number[],
    options: ScheduleOptions): Promise<ScheduledResult> {
    return new Promise((scheduled, failed) => this.submit(inputs, rows, outputs, options, { scheduled, failed }));
  }

  /** Resolves once the batcher holds no request of this scheduler's. */
  idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Closes the batcher: queued requests fail with UNAVAILABLE, executors see 'closed' once idle.
   * Batches already executing still complete. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#batcher.close();
  }

  /**
   * The batcher's onComplete: the requests of one finished batch (or of one rejection). A sink
   * that throws does not keep the batch's other requests from their answers: the first error is
   * rethrown, uncaught, once all are settled.
   */
  readonly #onComplete = (completions: NativeCompletion[]): void => {
    let executed: NativeCompletion | undefined;
    let thrown: { error: unknown } | undefined;
    for (const c of completions) {
      if (c.batchSize > 0 && c.error === undefined) executed ??= c;
      try {
        this.#settle(c);
      } catch (error) {
        thrown ??= { error };
      }
    }
    if (this.#pending.size === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
    if (executed !== undefined) {
      this.#observer?.onBatch({ labels: this.labels, rows: executed.batchSize, computeInputNs: executed.computeInputNs,
        computeInferNs: executed.computeInferNs, computeOutputNs: executed.computeOutputNs });
    }
    if (thrown !== undefined) {
      // Thrown from a microtask, not from here: Node 20 drops an exception that leaves a native
      // callback (a DEP0168 warning only), where this one reaches 'uncaughtException' as any
      // other event handler's would.
      const { error } = thrown;
      queueMicrotask(() => { throw error; });
    }
  };

  #settle(c: NativeCompletion): void {
    const p = this.#pending.get(c.requestId);
    if (p === undefined) return; // not ours: cannot happen, ids are unique per batcher
    this.#pending.delete(c.requestId);
    p.signal?.removeEventListener('abort', p);
    if (p.answered) return;
    p.answered = true;
    if (c.error !== undefined) {
      p.sink.failed(fromNativeAnswer(c.error));
      return;
    }
    let result: ScheduledResult;
    try {
      const outs = c.outputs;
      if (outs === undefined || outs.length !== this.#outputs.length) {
        throw new SluiceError('INTERNAL', `the batcher returned ${outs?.length ?? 0} outputs, the model has ${this.#outputs.length}`);
      }
      const outputs = p.outputs.map((i) => {
        const spec = this.#outputs[i] as ModelTensor;
        return fromNativeTensor(spec.name, outs[i] as NonNullable<typeof outs[number]>, spec.info);
      });
      result = { outputs, queueNs: c.queueNs };
    } catch (e) {
      p.sink.failed(toSluiceError(e));
      return;
    }
    p.sink.scheduled(result);
  }
}
