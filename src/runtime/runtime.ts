import type { Backend, BackendSession } from '../backends/backend';
import { SelectingBackend } from '../backends/select-backend';
import type { ModelConfig } from '../repository/model-config';
import { scanRepository } from '../repository/scan';
import { modelStats, RequestStats } from './model-stats';
import { validateInferInputs, validateRequestedOutputs } from './request-validation';
import {
  type ErrorCode, invalidArgument, notFound, printableName, type SluiceError, toSluiceError, unavailable,
} from './status';
import type { Tensor } from './tensor';
import type {
  InferObserver, InferOptions, InferResult, InferSink, ModelIndexEntry, ModelMetadata, ModelState, ModelStats,
  VersionLabels,
} from './types';
import { parseVersion } from './version';
import { type ScheduledResult, type ScheduleSink, VersionScheduler } from './version-scheduler';

export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

export interface RuntimeOptions {
  /** Backend that runs every model (default: per the config, native engine or ONNX Runtime). */
  readonly backend?: Backend;
  /** Told of every successful request and executed batch (the server's histograms). */
  readonly observer?: InferObserver;
  readonly logger?: Logger;
}

interface VersionEntry {
  readonly version: string;
  state: ModelState;
  reason: string;
  /** Executes batches of `scheduler`'s batcher; both are set together once the version loads. */
  session: BackendSession | undefined;
  /** Kept after close (its counters stay readable for statistics). */
  scheduler: VersionScheduler | undefined;
  readonly requests: RequestStats;
}

/** Per-version request counts for the queue gauges (native counters, read now). */
export interface VersionLoad {
  readonly model: string;
  readonly version: string;
  /** Waiting in the batcher's queue. */
  readonly queued: number;
  /** In batches an executor has taken and not completed. */
  readonly executing: number;
}

interface ModelEntry {
  readonly name: string;
  readonly config: ModelConfig | undefined;
  /** Set when the model as a whole could not be used (bad config, no versions). */
  readonly error: string | undefined;
  /** Ascending by numeric version. */
  readonly versions: VersionEntry[];
}

/** ModelConfig parameter that says why a version runs on its backend. */
export const BACKEND_REASON_PARAMETER = 'sluice.backend_reason';

export const defaultLogger: Logger = (level, message) => {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}\n`);
};

/**
 * The in-process inference runtime: opens a model repository, loads every version its policy
 * selects, and runs requests. The servers are thin protocol layers over it; Node users embed it.
 */
export class Runtime {
  private closing = false;

  private constructor(
    readonly repository: string,
    private readonly models: Map<string, ModelEntry>,
    private readonly observer: InferObserver | undefined,
  ) {}

  static async open(repository: string, options: RuntimeOptions = {}): Promise<Runtime> {
    const backend = options.backend ?? new SelectingBackend();
    const log = options.logger ?? defaultLogger;
    const scan = await scanRepository(repository);
    const models = new Map<string, ModelEntry>();
    await Promise.all(scan.models.map(async (m) => {
      for (const note of m.notes) log('info', `model '${m.name}': ${note}`);
      if (m.error !== undefined) {
        log('error', `model '${m.name}' unavailable: ${m.error.path}: ${m.error.reason}`);
      }
      const versions: VersionEntry[] = [];
      for (const ve of m.versionErrors) {
        log('error', `model '${m.name}' version ${ve.version} unavailable: ${ve.path}: ${ve.reason}`);
        versions.push({ version: ve.version, state: 'UNAVAILABLE', reason: `${ve.path}: ${ve.reason}`,
          session: undefined, scheduler: undefined, requests: new RequestStats() });
      }
      await Promise.all(m.versions.map(async (v) => {
        const entry: VersionEntry = { version: v.version, state: 'LOADING', reason: '',
          session: undefined, scheduler: undefined, requests: new RequestStats() };
        versions.push(entry);
        if (m.config === undefined) return;
        try {
          await loadVersion(entry, m.name, v.modelFile, m.config, backend, options.observer, log);
        } catch (e) {
          entry.state = 'UNAVAILABLE';
          entry.reason = `${v.modelFile}: ${toSluiceError(e).message}`;
          log('error', `model '${m.name}' version ${v.version} unavailable: ${entry.reason}`);
        }
      }));
      versions.sort((a, b) => Number(a.version) - Number(b.version));
      const error = m.error === undefined ? undefined : `${m.error.path}: ${m.error.reason}`;
      models.set(m.name, { name: m.name, config: m.config, error, versions });
    }));
    return new Runtime(repository, new Map([...models.entries()].sort((a, b) => a[0].localeCompare(b[0]))),
      options.observer);
  }

  /** Always true: the process answers while it drains; stopping shows in `ready`, not here. */
  get live(): boolean { return true; }

  /**
   * Ready to serve: opened and not stopping. A broken model does not make the whole server unready
   * (that would take its good models out of a load balancer); it shows in index() and modelReady().
   */
  get ready(): boolean { return !this.closing; }

  get stopping(): boolean { return this.closing; }

  /** Every model and version with its state (RepositoryIndex). */
  index(): ModelIndexEntry[] {
    const out: ModelIndexEntry[] = [];
    for (const m of this.models.values()) {
      if (m.versions.length === 0) {
        out.push({ name: m.name, version: '', state: 'UNAVAILABLE', reason: m.error ?? 'no model versions found' });
      }
      for (const v of m.versions) {
        // A version's own failure says more than the model-level summary of it.
        out.push({ name: m.name, version: v.version, state: v.state, reason: v.reason !== '' ? v.reason : m.error ?? '' });
      }
    }
    return out;
  }

  modelNames(): string[] { return [...this.models.keys()]; }

  /** Whether the model (or that version, or its default version) is READY; false if unknown. */
  modelReady(name: string, version?: string): boolean {
    if (this.closing) return false;
    const m = this.models.get(name);
    if (m === undefined) return false;
    const v = parseVersion(version);
    return m.versions.some((e) => e.state === 'READY' && (v === undefined || e.version === v));
  }

  metadata(name: string, version?: string): ModelMetadata {
    const m = this.model(name);
    this.version(m, version, false); // NOT_FOUND / INVALID_ARGUMENT for a bad version
    const config = this.configOf(m);
    const batch = config.maxBatchSize > 0 ? [-1] : [];
    return {
      name: m.name,
      versions: m.versions.filter((v) => v.state === 'READY').map((v) => v.version),
      platform: config.platform,
      inputs: config.input.map((t) => ({ name: t.name, datatype: t.dataType, shape: [...batch, ...t.dims] })),
      outputs: config.output.map((t) => ({ name: t.name, datatype: t.dataType, shape: [...batch, ...t.dims] })),
    };
  }

  /**
   * The model's config as a version runs it: `backend` is the backend that runs that version
   * (the latest READY one by default) and parameter `sluice.backend_reason` says why; a version
   * that is not loaded shows the configured choice.
   */
  config(name: string, version?: string): ModelConfig {
    const m = this.model(name);
    const v = this.version(m, version, false); // NOT_FOUND / INVALID_ARGUMENT for a bad version
    const config = this.configOf(m);
    const session = v?.session;
    if (session === undefined || (session.backend !== 'native' && session.backend !== 'onnxruntime')) return config;
    const parameters = new Map(config.parameters);
    if (session.reason !== undefined) parameters.set(BACKEND_REASON_PARAMETER, session.reason);
    return { ...config, backend: session.backend, parameters };
  }

  /** Queue depth and executing requests per model version, from the batchers' counters. */
  pendingRequests(): VersionLoad[] {
    const out: VersionLoad[] = [];
    for (const m of this.models.values()) {
      for (const v of m.versions) {
        const c = v.scheduler?.counters();
        out.push({ model: m.name, version: v.version, queued: c?.queued ?? 0, executing: c?.executing ?? 0 });
      }
    }
    return out;
  }

  /** Statistics for one version, every version of a model, or (name "") every model. */
  statistics(name = '', version?: string): ModelStats[] {
    const models = name === '' ? [...this.models.values()] : [this.model(name)];
    const v = parseVersion(version);
    const out: ModelStats[] = [];
    for (const m of models) {
      const versions = m.versions.filter((e) => v === undefined || e.version === v);
      if (v !== undefined && versions.length === 0) throw notFound(`model '${m.name}' has no version ${v}`);
      for (const e of versions) out.push(modelStats(m.name, e.version, e.requests, e.scheduler?.counters()));
    }
    return out;
  }

  /** Failed requests per model version and error code (nv_inference_request_failure{reason}). */
  failureCounts(): { model: string; version: string; reason: ErrorCode; count: number }[] {
    const out: { model: string; version: string; reason: ErrorCode; count: number }[] = [];
    for (const m of this.models.values()) {
      for (const v of m.versions) {
        for (const [reason, count] of v.requests.failures) out.push({ model: m.name, version: v.version, reason, count });
      }
    }
    return out;
  }

  /**
   * Runs one request through the version's batcher. Rejects with a SluiceError whose code maps to
   * gRPC/HTTP statuses: NOT_FOUND (model/version), INVALID_ARGUMENT (inputs, priority),
   * UNAVAILABLE (not ready, stopping, queue full, queue timeout expired), CANCELLED (signal),
   * INTERNAL (backend failure). Input data is read in place until the promise settles: do not
   * modify it before then.
   */
  infer(name: string, inputs: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    options: InferOptions = {}): Promise<InferResult> {
    return new Promise((onResult, onError) => this.submit(name, inputs, options, { onResult, onError }));
  }

  /**
   * infer() with the outcome delivered to `sink` (InferSink) instead of a promise: the servers'
   * form, which keeps no promise or async frame per request while it waits in the queue (see
   * VersionScheduler.submit). Same errors, same rule on input data (until the sink is called).
   * Throws a TypeError for a `sink` without onResult and onError methods, and otherwise only what
   * the sink itself throws from an onError that runs inside submit().
   */
  submit(name: string, inputs: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    options: InferOptions, sink: InferSink): void {
    if (typeof sink?.onResult !== 'function' || typeof sink.onError !== 'function') {
      throw new TypeError('submit: sink must be an object with onResult(result) and onError(error) methods');
    }
    const start = process.hrtime.bigint();
    // Failures are counted once a version is chosen: a request for an unknown model or version
    // never mints statistics (or metric labels) from a client-supplied name.
    let entry: VersionEntry | undefined;
    let request: InferRequest | undefined;
    try {
      if (this.closing) throw unavailable('server is stopping; request refused');
      const m = this.model(name);
      entry = this.version(m, options.version, true);
      const { session, scheduler } = entry;
      if (session === undefined || scheduler === undefined) {
        throw unavailable(`model '${name}' version ${entry.version} is not ready`);
      }
      const config = this.configOf(m);
      if (typeof inputs !== 'object' || inputs === null) {
        throw invalidArgument('inputs must be a Map or an object of tensors by input name');
      }
      const map = inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
      const rows = validateInferInputs(name, config, map);
      const names = validateRequestedOutputs(name, config, options.outputs);
      session.checkInputs(map);
      const outputs = scheduler.outputIndices(names);
      request = new InferRequest(name, entry, scheduler.labels, names, options.id, start, this.observer, sink);
      // Answers through `request`, never by throwing: an exception from here on is the sink's own.
      scheduler.submit(map, rows, outputs, { priority: options.priority ?? 0,
        timeoutUs: options.timeoutMicroseconds ?? 0, signal: options.signal }, request);
    } catch (e) {
      if (request !== undefined) throw e;
      const err = toSluiceError(e);
      entry?.requests.recordFailure(err.code, Number(process.hrtime.bigint() - start));
      sink.onError(err);
    }
  }

  /**
   * Stops accepting requests, waits up to `graceMs` for the batchers to finish what they hold,
   * then closes them (failing anything still queued with UNAVAILABLE) and unloads every model.
   * Resolves true when every request finished within the grace period.
   */
  async close(graceMs = 30_000): Promise<boolean> {
    this.closing = true;
    const versions = [...this.models.values()].flatMap((m) => m.versions);
    let timer: NodeJS.Timeout | undefined;
    const clean = await Promise.race([
      Promise.all(versions.map((v) => v.scheduler?.idle())).then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), graceMs); }),
    ]);
    clearTimeout(timer);
    const sessions: BackendSession[] = [];
    for (const v of versions) {
      // The batcher first: its executors then see 'closed' instead of waiting for work.
      v.scheduler?.close();
      if (v.session !== undefined) sessions.push(v.session);
      v.session = undefined;
      v.state = 'UNAVAILABLE';
    }
    await Promise.all(sessions.map((s) => s.close()));
    return clean;
  }

  private model(name: string): ModelEntry {
    const m = this.models.get(name);
    if (m === undefined) throw notFound(`unknown model '${printableName(name)}'`);
    return m;
  }

  /** The requested version's entry; with `requireReady`, an unready one is UNAVAILABLE. */
  private version(m: ModelEntry, requested: string | number | undefined, requireReady: true): VersionEntry;
  private version(m: ModelEntry, requested: string | number | undefined, requireReady: false): VersionEntry | undefined;
  private version(m: ModelEntry, requested: string | number | undefined, requireReady: boolean): VersionEntry | undefined {
    const v = parseVersion(requested);
    if (v === undefined) {
      const ready = m.versions.filter((e) => e.state === 'READY');
      const latest = ready[ready.length - 1];
      if (latest !== undefined) return latest;
      if (!requireReady) return m.versions[m.versions.length - 1];
      throw unavailable(`model '${m.name}' has no READY version${m.error !== undefined ? `: ${m.error}` : ''}`);
    }
    const e = m.versions.find((x) => x.version === v);
    if (e === undefined) throw notFound(`model '${m.name}' has no version ${v}`);
    if (requireReady && e.state !== 'READY') {
      throw unavailable(`model '${m.name}' version ${v} is ${e.state}${e.reason !== '' ? `: ${e.reason}` : ''}`);
    }
    return e;
  }

  /** Every version of a model shares its config (one config.pbtxt per model directory). */
  private configOf(m: ModelEntry): ModelConfig {
    const config = m.config;
    if (config === undefined) throw unavailable(`model '${m.name}' is unavailable: ${m.error ?? 'no configuration'}`);
    return config;
  }
}

/** One request between Runtime.submit and its answer: counts it, tells the observer, answers the sink. */
class InferRequest implements ScheduleSink {
  constructor(
    private readonly model: string,
    private readonly entry: VersionEntry,
    private readonly labels: VersionLabels,
    /** The outputs asked for (or every output), in answer order. */
    private readonly names: readonly string[],
    private readonly id: string | undefined,
    private readonly start: bigint,
    private readonly observer: InferObserver | undefined,
    private readonly sink: InferSink,
  ) {}

  scheduled(result: ScheduledResult): void {
    const durationNs = Number(process.hrtime.bigint() - this.start);
    this.entry.requests.recordSuccess(durationNs);
    this.observer?.onRequest({ labels: this.labels, durationNs, queueNs: result.queueNs });
    const outputs = new Map<string, Tensor>();
    this.names.forEach((n, i) => outputs.set(n, result.outputs[i] as Tensor));
    this.sink.onResult({ model: this.model, version: this.entry.version, id: this.id, outputs });
  }

  failed(error: SluiceError): void {
    this.entry.requests.recordFailure(error.code, Number(process.hrtime.bigint() - this.start));
    this.sink.onError(error);
  }
}

/**
 * Loads one version: backend session, then its batcher, then the session attached to the batcher.
 * On success the entry is READY; if the session is later lost, the entry goes UNAVAILABLE and its
 * batcher is closed so nothing waits for executors that will never come.
 */
async function loadVersion(entry: VersionEntry, model: string, modelFile: string, config: ModelConfig,
  backend: Backend, observer: InferObserver | undefined, log: Logger): Promise<void> {
  const session = await backend.load(modelFile, config);
  let scheduler: VersionScheduler;
  try {
    scheduler = new VersionScheduler(model, entry.version, config, observer);
  } catch (e) {
    await session.close();
    throw e;
  }
  session.attach(scheduler.batcherId, (reason) => {
    entry.state = 'UNAVAILABLE';
    entry.reason = reason.message;
    entry.session = undefined;
    scheduler.close();
    log('error', `model '${model}' version ${entry.version} unavailable: ${reason.message}`);
    void session.close();
  });
  entry.session = session;
  entry.scheduler = scheduler;
  entry.state = 'READY';
  log('info', `model '${model}' version ${entry.version} READY (backend ${session.backend}` +
    `${session.reason === undefined ? '' : `: ${session.reason}`})`);
}
