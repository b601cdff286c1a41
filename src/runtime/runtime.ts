import type { Backend, BackendSession } from '../backends/backend';
import { OrtBackend } from '../backends/onnxruntime/ort-backend';
import type { ModelConfig } from '../repository/model-config';
import { scanRepository } from '../repository/scan';
import { ModelStatsAccumulator } from './model-stats';
import { validateInferInputs, validateRequestedOutputs } from './request-validation';
import { SluiceError, notFound, toSluiceError, unavailable } from './status';
import type { Tensor } from './tensor';
import type {
  InferObserver, InferOptions, InferResult, ModelIndexEntry, ModelMetadata, ModelState, ModelStats,
} from './types';
import { parseVersion } from './version';

export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

export interface RuntimeOptions {
  /** Backend that runs every model (default: ONNX Runtime in worker threads). */
  readonly backend?: Backend;
  /** Told of every finished request (metrics). */
  readonly observer?: InferObserver;
  readonly logger?: Logger;
}

interface VersionEntry {
  readonly version: string;
  state: ModelState;
  reason: string;
  readonly config: ModelConfig | undefined;
  session: BackendSession | undefined;
  readonly stats: ModelStatsAccumulator;
  /** Requests accepted for this version and not yet settled by its backend. */
  pending: number;
}

interface ModelEntry {
  readonly name: string;
  readonly config: ModelConfig | undefined;
  /** Set when the model as a whole could not be used (bad config, no versions). */
  readonly error: string | undefined;
  /** Ascending by numeric version. */
  readonly versions: VersionEntry[];
}

export const defaultLogger: Logger = (level, message) => {
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${message}\n`);
};

/**
 * The in-process inference runtime: opens a model repository, loads every version its policy
 * selects, and runs requests. The servers are thin protocol layers over it; Node users embed it.
 */
export class Runtime {
  private closing = false;
  private inFlight = 0;
  private drained: (() => void) | undefined;

  private constructor(
    readonly repository: string,
    private readonly models: Map<string, ModelEntry>,
    private readonly observer: InferObserver | undefined,
  ) {}

  static async open(repository: string, options: RuntimeOptions = {}): Promise<Runtime> {
    const backend = options.backend ?? new OrtBackend();
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
          config: m.config, session: undefined, stats: new ModelStatsAccumulator(m.name, ve.version), pending: 0 });
      }
      await Promise.all(m.versions.map(async (v) => {
        const entry: VersionEntry = { version: v.version, state: 'LOADING', reason: '', config: m.config,
          session: undefined, stats: new ModelStatsAccumulator(m.name, v.version), pending: 0 };
        versions.push(entry);
        if (m.config === undefined) return;
        try {
          const session = await backend.load(v.modelFile, m.config);
          entry.session = session;
          entry.state = 'READY';
          log('info', `model '${m.name}' version ${v.version} READY (backend ${session.backend})`);
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

  /** True until close() begins. */
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
    const entry = this.version(m, version, false);
    const config = this.configOf(m, entry);
    const batch = config.maxBatchSize > 0 ? [-1] : [];
    return {
      name: m.name,
      versions: m.versions.filter((v) => v.state === 'READY').map((v) => v.version),
      platform: config.platform,
      inputs: config.input.map((t) => ({ name: t.name, datatype: t.dataType, shape: [...batch, ...t.dims] })),
      outputs: config.output.map((t) => ({ name: t.name, datatype: t.dataType, shape: [...batch, ...t.dims] })),
    };
  }

  config(name: string, version?: string): ModelConfig {
    const m = this.model(name);
    return this.configOf(m, this.version(m, version, false));
  }

  /** Requests in flight per model version (for the pending-request gauge). */
  pendingRequests(): { model: string; version: string; count: number }[] {
    return [...this.models.values()].flatMap((m) =>
      m.versions.map((v) => ({ model: m.name, version: v.version, count: v.pending })));
  }

  /** Statistics for one version, every version of a model, or (name "") every model. */
  statistics(name = '', version?: string): ModelStats[] {
    const models = name === '' ? [...this.models.values()] : [this.model(name)];
    const v = parseVersion(version);
    const out: ModelStats[] = [];
    for (const m of models) {
      const versions = m.versions.filter((e) => v === undefined || e.version === v);
      if (v !== undefined && versions.length === 0) throw notFound(`model '${m.name}' has no version ${v}`);
      for (const e of versions) out.push(e.stats.snapshot());
    }
    return out;
  }

  /**
   * Runs one request. Rejects with a SluiceError whose code maps to gRPC/HTTP statuses:
   * NOT_FOUND (model/version), INVALID_ARGUMENT (inputs), UNAVAILABLE (not ready, stopping),
   * CANCELLED (signal), INTERNAL (backend failure).
   */
  async infer(name: string, inputs: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    options: InferOptions = {}): Promise<InferResult> {
    const start = process.hrtime.bigint();
    let entry: VersionEntry | undefined;
    let rows = 0;
    try {
      if (this.closing) throw unavailable('server is stopping; request refused');
      const m = this.model(name);
      const ready = this.version(m, options.version, true);
      entry = ready;
      const config = this.configOf(m, ready);
      const session = ready.session;
      if (session === undefined) throw unavailable(`model '${name}' version ${ready.version} is not ready`);
      const map = inputs instanceof Map ? inputs : new Map(Object.entries(inputs));
      rows = validateInferInputs(name, config, map);
      const outputs = validateRequestedOutputs(name, config, options.outputs);
      if (options.signal?.aborted === true) throw new SluiceError('CANCELLED', 'request cancelled by the client');

      const result = await this.track(ready, session.run(map, outputs), options.signal);
      const durationNs = Number(process.hrtime.bigint() - start);
      const t = result.timings;
      const queueNs = Math.max(0, durationNs - t.computeInputNs - t.computeInferNs - t.computeOutputNs);
      ready.stats.recordSuccess(rows, durationNs, queueNs, t);
      this.observer?.onComplete({ model: name, version: ready.version, ok: true, reason: '', rows, durationNs,
        queueNs, computeInputNs: t.computeInputNs, computeInferNs: t.computeInferNs,
        computeOutputNs: t.computeOutputNs });
      const ordered = new Map<string, Tensor>();
      for (const o of outputs) {
        const tensor = result.outputs.get(o);
        if (tensor === undefined) throw new SluiceError('INTERNAL', `backend returned no output '${o}'`);
        ordered.set(o, tensor);
      }
      return { model: name, version: ready.version, id: options.id, outputs: ordered };
    } catch (e) {
      const err = toSluiceError(e);
      const durationNs = Number(process.hrtime.bigint() - start);
      entry?.stats.recordFailure(durationNs);
      // Unknown model names come from clients: never let them mint metric label values.
      if (this.models.has(name)) this.observer?.onComplete({ model: name, version: entry?.version ?? '', ok: false, reason: err.code, rows,
        durationNs, queueNs: 0, computeInputNs: 0, computeInferNs: 0, computeOutputNs: 0 });
      throw err;
    }
  }

  /**
   * Stops accepting requests, waits up to `graceMs` for in-flight ones, then unloads every model.
   * Resolves true when every in-flight request finished within the grace period.
   */
  async close(graceMs = 30_000): Promise<boolean> {
    this.closing = true;
    let clean = true;
    if (this.inFlight > 0) {
      clean = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), graceMs);
        this.drained = () => { clearTimeout(timer); resolve(true); };
      });
    }
    const sessions = [...this.models.values()].flatMap((m) => m.versions)
      .map((v) => v.session).filter((s): s is BackendSession => s !== undefined);
    for (const m of this.models.values()) for (const v of m.versions) { v.session = undefined; v.state = 'UNAVAILABLE'; }
    await Promise.all(sessions.map((s) => s.close()));
    return clean;
  }

  /** Counts the run as in flight until the backend settles it, whatever the caller does. */
  private track<T>(entry: VersionEntry, run: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    this.inFlight += 1;
    entry.pending += 1;
    const settled = run.finally(() => {
      this.inFlight -= 1;
      entry.pending -= 1;
      if (this.inFlight === 0 && this.drained !== undefined) this.drained();
    });
    if (signal === undefined) return settled;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new SluiceError('CANCELLED', 'request cancelled by the client'));
      signal.addEventListener('abort', onAbort, { once: true });
      settled.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private model(name: string): ModelEntry {
    const m = this.models.get(name);
    if (m === undefined) throw notFound(`unknown model '${printable(name)}'`);
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

  private configOf(m: ModelEntry, e: VersionEntry | undefined): ModelConfig {
    const config = e?.config ?? m.config;
    if (config === undefined) throw unavailable(`model '${m.name}' is unavailable: ${m.error ?? 'no configuration'}`);
    return config;
  }
}

function printable(s: string): string {
  const cut = s.length > 128 ? `${s.slice(0, 128)}…` : s;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}
