/**
 * The typed surface of build/Release/sluice.node: the one declaration of what the addon exports
 * (native/addon/addon.cc builds the export table; keep the two in step). Every object the addon
 * returns is frozen and, per thread, the same object on every call.
 */

/** CPU features usable by this process (the CPU has them and the OS saves their registers). */
export interface CpuFeatures {
  readonly avx2: boolean;
  readonly fma: boolean;
  readonly avx512f: boolean;
  readonly avx512bw: boolean;
  readonly avx512vl: boolean;
  /** AVX-512 VNNI (VPDPBUSD on 512-bit registers): the INT8 GEMM fast path. */
  readonly avx512vnni: boolean;
  /** The 256-bit VEX encoding of VNNI, on CPUs without AVX-512. */
  readonly avxvnni: boolean;
}

export interface CudaDevice {
  /** e.g. "NVIDIA H100 80GB HBM3" */
  readonly name: string;
  /** "major.minor", e.g. "9.0" for sm_90. */
  readonly computeCapability: string;
  readonly totalMemoryBytes: number;
}

export interface CudaInfo {
  /** The addon was built with nvcc (cudart linked statically). */
  readonly compiledIn: boolean;
  /** Usable devices; 0 means the CPU path. Equals devices.length. */
  readonly deviceCount: number;
  /** Indexed by CUDA device ordinal. */
  readonly devices: readonly CudaDevice[];
  /** Why there are no devices (no CUDA in the build, no driver, no GPU); "" when there are. */
  readonly error: string;
}

/**
 * One tensor crossing the addon boundary: raw little-endian bytes, row-major. BYTES tensors use
 * the KServe raw form (each element a u32-LE length then its bytes), so batches of BYTES are plain
 * concatenations and split by walking the length prefixes.
 */
export interface NativeTensor {
  readonly data: Uint8Array;
  readonly shape: readonly number[];
}

export type NativeTimeoutAction = 'REJECT' | 'DELAY';

/** ModelQueuePolicy of one priority level (microseconds, requests). */
export interface NativeQueuePolicy {
  readonly timeoutAction: NativeTimeoutAction;
  readonly defaultTimeoutUs: number;
  readonly allowTimeoutOverride: boolean;
  /** 0 = unbounded. */
  readonly maxQueueSize: number;
}

/** What the native batcher of one model version needs (validated natively; bad → throws). */
export interface NativeBatcherConfig {
  /** Human-readable "model:version", for messages. */
  readonly name: string;
  /**
   * Rows per batch. A model without a batch dimension (max_batch_size 0) uses 1, with
   * `hasBatchDim` false: every request is executed alone and its shapes pass through untouched.
   */
  readonly maxBatchSize: number;
  readonly hasBatchDim: boolean;
  /**
   * true = dynamic batching (requests are merged into batches per the policy below); false =
   * every request is its own batch (Triton's behaviour without a dynamic_batching block), still
   * queued with priorities, timeouts and max queue size.
   */
  readonly dynamic: boolean;
  readonly maxQueueDelayUs: number;
  readonly preferredBatchSizes: readonly number[];
  /** 0 = one level. */
  readonly priorityLevels: number;
  readonly defaultPriorityLevel: number;
  /** [0] is level 1 (or the only level); length max(1, priorityLevels). */
  readonly queuePolicies: readonly NativeQueuePolicy[];
  /** Model inputs in the order requests pass them; elementSize 0 = BYTES. */
  readonly inputs: readonly { readonly name: string; readonly elementSize: number }[];
  /** Model outputs in the order batch sources complete them; elementSize 0 = BYTES. */
  readonly outputs: readonly { readonly name: string; readonly elementSize: number }[];
  /**
   * How long an idle batch source spins for the next batch before it sleeps, µs (0 to 1,000,000;
   * 0 = never spin). Undefined: SLUICE_BATCHER_SPIN_US, else 200 (native/include/sluice/source-wait.h).
   */
  readonly idleSpinUs?: number | undefined;
}

/** An error the addon reports, with a gRPC-style code name (see src/runtime/status.ts). */
export interface NativeError {
  readonly code: string;
  readonly message: string;
}

/** The outcome of one request, delivered on the JS thread that created the batcher. */
export interface NativeCompletion {
  readonly requestId: number;
  /** Set when the request failed (timeout expired, cancelled, backend error, batcher closed). */
  readonly error: NativeError | undefined;
  /** This request's rows of every output, in config output order (undefined on error). */
  readonly outputs: readonly NativeTensor[] | undefined;
  /** Rows in the batch this request ran in (0 if it never ran). */
  readonly batchSize: number;
  /** Enqueue → taken by a batch source; nanoseconds. */
  readonly queueNs: number;
  /** The batch's timings as its source reported them (gather included in computeInputNs). */
  readonly computeInputNs: number;
  readonly computeInferNs: number;
  readonly computeOutputNs: number;
}

/** Cumulative counters of one batcher, read at scrape time (no locks held by JS). */
export interface NativeBatcherCounters {
  /** Requests waiting in the queue now. */
  readonly queued: number;
  /** Requests in batches that a source has taken and not completed. */
  readonly executing: number;
  readonly requestsSucceeded: number;
  readonly requestsFailed: number;
  /** Rows executed, and batches executed. */
  readonly inferenceCount: number;
  readonly executionCount: number;
  /** Sums over successful requests, nanoseconds. */
  readonly queueNs: number;
  readonly computeInputNs: number;
  readonly computeInferNs: number;
  readonly computeOutputNs: number;
  /** Per executed batch size (rows): how many batches and their summed timings (ns). */
  readonly batchStats: readonly {
    readonly batchSize: number; readonly count: number;
    readonly computeInputNs: number; readonly computeInferNs: number; readonly computeOutputNs: number;
  }[];
}

/**
 * The native dynamic batcher of one model version, owned by the JS thread that created it.
 * Requests go in with enqueue(); batch sources (worker threads, later native executors) take
 * formed batches with next() and hand results back; completions come back to this thread with
 * one thread-safe call per batch, through the `onComplete` callback given at creation.
 */
export interface NativeBatcher {
  /** Process-wide id; worker threads pass it to attachBatchSource(). */
  readonly id: number;
  /**
   * Queues one request; returns its id (a positive integer, unique per batcher). The input
   * buffers are referenced, not copied, until the request completes: do not modify, transfer or
   * detach them.
   * A request the batcher refuses is answered with a NativeError object, returned rather than
   * thrown (a refusal is an answer: under overload thousands come a second): UNAVAILABLE
   * ("Exceeds maximum queue size", batcher closed), INVALID_ARGUMENT (rows out of range, input
   * sizes that do not match the shapes, bad priority), RESOURCE_EXHAUSTED. A call the addon
   * cannot read (not an object, the wrong number of inputs, a shape or a buffer of the wrong
   * type) throws a NativeError-shaped INVALID_ARGUMENT error.
   */
  enqueue(request: {
    readonly inputs: readonly NativeTensor[];
    /** Dim 0 of every input (1 when the model has no batch dim). */
    readonly rows: number;
    /** Protocol priority: 0 = default level. */
    readonly priority: number;
    /** Protocol timeout, microseconds in the queue; 0 = none. */
    readonly timeoutUs: number;
  }): number | NativeError;
  /**
   * Cancels a queued request: it completes with CANCELLED (through onComplete) and is never
   * executed. Returns false when it is no longer queued (executing or done).
   */
  cancel(requestId: number): boolean;
  counters(): NativeBatcherCounters;
  /** Fails every queued request with UNAVAILABLE and wakes the sources (next() → closed). */
  close(): void;
}

/** A formed batch, as a batch source receives it. */
export interface NativeBatch {
  readonly id: number;
  /** Total rows (the batch dim of every input). */
  readonly rows: number;
  readonly requests: number;
  /**
   * Gathered inputs, contiguous, in config input order. The memory belongs to the batcher and
   * is detached when the batch is completed or failed: do not keep views past that.
   */
  readonly inputs: readonly NativeTensor[];
}

/** A worker thread's handle on a batcher created elsewhere in the process. */
export interface NativeBatchSource {
  /**
   * Blocks the calling thread up to `timeoutMs` (Infinity: no limit) for the next batch; null on
   * timeout, 'closed' once the batcher is closed. Call from worker threads only (it blocks). It
   * also returns null within ~50 ms once the calling thread is being terminated.
   */
  next(timeoutMs: number): NativeBatch | null | 'closed';
  /** Hands back a batch's outputs (config output order, batch dim first); the batcher splits them. */
  complete(batchId: number, outputs: readonly { readonly data: ArrayBufferView; readonly shape: readonly number[] }[],
    timings: { readonly computeInputNs: number; readonly computeInferNs: number; readonly computeOutputNs: number }): void;
  /** Fails every request of the batch with `code` (a gRPC code name) and `message`. */
  fail(batchId: number, code: string, message: string): void;
}

/** A tensor's element type and dims in the native engine's terms: ONNX TensorProto numbers. */
export interface NativeValueInfo {
  readonly name: string;
  /** ONNX TensorProto.DataType (src/runtime/datatypes.ts `onnx`): 1 float, 7 int64, ... */
  readonly dtype: number;
  /** -1 where the dim is dynamic. */
  readonly dims: readonly number[];
}

/** An initializer or tensor attribute: raw little-endian elements, row-major. */
export interface NativeTensorData {
  readonly name: string;
  readonly dtype: number;
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

export type NativeAttribute =
  | { readonly name: string; readonly kind: 'float'; readonly value: number }
  | { readonly name: string; readonly kind: 'int'; readonly value: bigint }
  | { readonly name: string; readonly kind: 'string'; readonly value: string }
  | { readonly name: string; readonly kind: 'tensor'; readonly value: NativeTensorData }
  | { readonly name: string; readonly kind: 'floats'; readonly value: Float32Array }
  | { readonly name: string; readonly kind: 'ints'; readonly value: BigInt64Array }
  | { readonly name: string; readonly kind: 'strings'; readonly value: readonly string[] };

export interface NativeNode {
  readonly name: string;
  readonly opType: string;
  /** "" = the default ONNX domain. */
  readonly domain: string;
  /** "" marks an omitted optional input or output. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly NativeAttribute[];
}

/** The compact graph the engine loads (src/onnx/graph-import.ts makes it from ONNX bytes). */
export interface NativeGraph {
  /** Opset of the default ONNX domain. */
  readonly opset: number;
  readonly inputs: readonly NativeValueInfo[];
  readonly outputs: readonly NativeValueInfo[];
  readonly initializers: readonly NativeTensorData[];
  readonly nodes: readonly NativeNode[];
}

export interface NativeEngineTensor {
  readonly dtype: number;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** A model loaded into the native CPU engine. */
export interface NativeEngine {
  /** Graph inputs (initializers excluded) and outputs, in graph order; inferred output dims. */
  readonly inputs: readonly NativeValueInfo[];
  readonly outputs: readonly NativeValueInfo[];
  /**
   * Rows per chunk when a larger batch runs as consecutive row chunks that fit the caches; 0 when
   * this model always runs a batch whole (its rows are not independent, or nothing grows).
   */
  readonly rowChunk: number;
  /** The optimized plan, one line per step (fused ops named), for `sluice inspect`. */
  describe(): string;
  /**
   * Runs once on a libuv worker thread (inputs in `inputs` order; read in place until the
   * promise settles). For tests and tools; served models run behind a batcher (attach()).
   */
  run(inputs: readonly { readonly dtype: number; readonly shape: readonly number[]; readonly data: ArrayBufferView }[]):
    Promise<NativeEngineTensor[]>;
  /**
   * Runs `iterations` times back to back on a libuv worker thread and resolves the mean
   * nanoseconds per run: the engine's own time, for benchmarks (no JS or thread hop inside).
   */
  time(inputs: readonly { readonly dtype: number; readonly shape: readonly number[]; readonly data: ArrayBufferView }[],
    iterations: number): Promise<number>;
  /**
   * Starts `threads` native executor threads serving batcher `batcherId`, whose config lists
   * `configInputs` / `configOutputs` (mapped to the model's by name). Once per engine.
   */
  attach(batcherId: number, configInputs: readonly string[], configOutputs: readonly string[], threads: number): void;
  /** Closes the attached batcher, finishes running batches, joins the threads, frees the engine. */
  close(): Promise<void>;
}

export interface NativeEngineOptions {
  /** Kernel threads including the calling one; 0 = one per hardware thread. */
  readonly threads?: number;
  /** Fusion passes (default true). */
  readonly optimize?: boolean;
  /**
   * How fused dynamically quantized layers (onnxruntime's quantize_dynamic output) quantize their
   * activations: 'per-tensor' (default, ONNX semantics: one range over the whole batch, so a
   * request's result depends on its batch neighbours) or 'per-row' (one range per row: batch
   * invariant, results differ from ONNX Runtime's within quantization error).
   */
  readonly dynamicQuantization?: 'per-tensor' | 'per-row';
}

export interface NativeBinding {
  /** package.json version the addon was built from. */
  readonly version: string;
  /** Detected once per process. */
  cpuFeatures(): CpuFeatures;
  /** Queried once per process (the first call initialises the CUDA runtime). */
  cuda(): CudaInfo;
  /**
   * Ends the process now with `code` (C `_Exit`): no exit handlers, no thread teardown. Only for
   * a shutdown whose grace period is over while native work (an ONNX Runtime run) is in flight.
   */
  exitImmediately(code: number): never;
  /**
   * Lowers the calling thread's scheduling priority by SLUICE_COMPUTE_NICE (default 5), once:
   * compute threads (the ORT workers; native executor and pool threads do it themselves) yield
   * to the event loop that reads and refuses requests. No-op off Linux.
   */
  lowerThreadPriorityForCompute(): void;
  /** A batcher owned by the calling thread; onComplete runs on it, once per finished batch. */
  createBatcher(config: NativeBatcherConfig, onComplete: (completions: NativeCompletion[]) => void): NativeBatcher;
  /** Attaches the calling (worker) thread to batcher `id`; throws NOT_FOUND if it is gone. */
  attachBatchSource(id: number): NativeBatchSource;
  /** Why the native engine cannot run `graph`, one reason per problem; empty when it can. */
  engineUnsupported(graph: NativeGraph): string[];
  /** Validates, optimizes and plans `graph` off the JS thread. */
  loadEngine(graph: NativeGraph, options?: NativeEngineOptions): Promise<NativeEngine>;
}

/** Export names the loader checks for, so a stale build is reported instead of half-working. */
export const NATIVE_EXPORTS = [
  'version', 'cpuFeatures', 'cuda', 'exitImmediately', 'lowerThreadPriorityForCompute', 'createBatcher',
  'attachBatchSource', 'engineUnsupported', 'loadEngine',
] as const satisfies readonly (
  keyof NativeBinding
)[];
