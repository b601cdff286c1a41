import type * as protobuf from 'protobufjs';
import type { DecodedInferRequest } from '../codec/decoded-request';
import { decodeGrpcInferRequest, encodeGrpcInferResponsePieces, encodeGrpcStreamResponse } from '../codec/grpc-infer';
import { protoRoot, protoType } from '../codec/proto';
import type { Runtime } from '../runtime/runtime';
import type { CancelSignal, InferOptions, InferResult, InferSink } from '../runtime/types';
import { SluiceError, invalidArgument, toSluiceError, unimplemented } from '../runtime/status';
import type { ConnectionLimit, RequestBuffers } from './admission';
import type { CallLimit } from './call-limit';
import {
  GrpcTransport, type BidiHandler, type Method, type ReplyingUnaryHandler, type ServerStreamHandler, type StreamWriter,
  type UnaryCall, type UnaryHandler,
} from './grpc-transport';
import {
  modelConfigObject, modelMetadataObject, modelStatisticsObject, repositoryIndexObjects,
} from './protocol-objects';
import { SERVER_EXTENSIONS, SERVER_NAME, SERVER_VERSION } from './server-info';

type Handlers = Record<string, Method>;

export interface GrpcServerOptions {
  /** Largest request message, bytes; larger requests get RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** Bounds ModelInfer calls in progress (shared with the HTTP server). */
  readonly inferLimit?: CallLimit | undefined;
  /** Server-wide bounds on connections and buffered request bytes (shared with the HTTP server). */
  readonly connections?: ConnectionLimit | undefined;
  readonly requestBuffers?: RequestBuffers | undefined;
  /** See GrpcTransportOptions.receiveTimeoutMs. */
  readonly receiveTimeoutMs?: number | undefined;
}

function decode(type: protobuf.Type, buf: Buffer): Record<string, unknown> {
  try {
    return type.toObject(type.decode(buf), { longs: String, defaults: true }) as Record<string, unknown>;
  } catch (e) {
    throw invalidArgument(`malformed ${type.name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function encode(type: protobuf.Type, obj: Record<string, unknown>): Buffer {
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}

const unaryMethod = (handler: UnaryHandler, limit?: CallLimit): Method =>
  (limit === undefined ? { kind: 'unary', handler } : { kind: 'unary', handler, limit });

/** A unary RPC whose request and response are ordinary (small) messages. */
function unary(method: string, fn: (req: Record<string, unknown>) => Record<string, unknown>): Method {
  const svc = protoRoot().lookupService('inference.GRPCInferenceService').methods[method];
  if (svc === undefined) throw new Error(`no method ${method}`);
  const reqType = protoType(`inference.${svc.requestType}`);
  const resType = protoType(`inference.${svc.responseType}`);
  return unaryMethod((request) => encode(resType, fn(decode(reqType, request))));
}

const notSupported = (what: string): Method => unaryMethod(() => {
  throw unimplemented(`${what} is not supported by this server`);
});

/** The runtime's options for one decoded ModelInfer request, cancelled when `signal` aborts. */
function inferOptions(req: DecodedInferRequest, signal: CancelSignal): InferOptions {
  return {
    version: req.modelVersion,
    outputs: req.outputs.map((o) => o.name),
    id: req.id,
    priority: req.options.priority,
    timeoutMicroseconds: req.options.timeoutMicroseconds,
    signal,
  };
}

/** Answers a unary ModelInfer call with the runtime's outcome (no promise per request). */
class ModelInferReply implements InferSink {
  constructor(private readonly call: UnaryCall) {}

  onResult(result: InferResult): void {
    let pieces: Uint8Array[];
    try {
      pieces = encodeGrpcInferResponsePieces(result);
    } catch (e) {
      this.call.fail(e);
      return;
    }
    this.call.reply(pieces);
  }

  onError(error: SluiceError): void { this.call.fail(error); }
}

/**
 * The answers of one ModelStreamInfer call, written in request order: a request answered early
 * waits for those before it. One reply object per request and no promise chain.
 */
class OrderedStreamReplies {
  /** Requests not yet written, oldest first from `#head`. */
  #replies: StreamReply[] = [];
  #head = 0;
  #ended = false;

  constructor(private readonly out: StreamWriter) {}

  /** The reply of the next request. */
  next(): StreamReply {
    const reply = new StreamReply(this);
    this.#replies.push(reply);
    return reply;
  }

  /** The client half-closed: the call ends once every reply is written. */
  end(): void {
    this.#ended = true;
    this.flush();
  }

  /** Writes the answered replies at the head of the line. */
  flush(): void {
    while (this.#head < this.#replies.length) {
      const reply = this.#replies[this.#head] as StreamReply;
      if (reply.pieces === undefined) {
        // A stream that always has a request in flight never empties the line: drop what was
        // written from its front now and then, or the array would grow with the stream's length.
        if (this.#head >= 64) {
          this.#replies.splice(0, this.#head);
          this.#head = 0;
        }
        return;
      }
      this.out.write(reply.pieces);
      reply.pieces = undefined;
      this.#head += 1;
    }
    this.#replies.length = 0;
    this.#head = 0;
    if (this.#ended) this.out.end();
  }
}

/** One streamed request's answer: the encoded response, or its error in-band. */
class StreamReply implements InferSink {
  /** Set once the request decoded: echoed in an error answer. */
  id: string | undefined;
  pieces: Uint8Array[] | undefined;

  constructor(private readonly stream: OrderedStreamReplies) {}

  onResult(result: InferResult): void {
    try {
      this.pieces = encodeGrpcStreamResponse(result);
    } catch (e) {
      this.onError(toSluiceError(e));
      return;
    }
    this.stream.flush();
  }

  onError(error: SluiceError): void {
    this.pieces = encodeGrpcStreamResponse({ error: error.message, id: this.id });
    this.stream.flush();
  }
}

/** Handlers of inference.GRPCInferenceService over a Runtime; `inferLimit` bounds ModelInfer calls. */
export function inferenceHandlers(runtime: Runtime, inferLimit?: CallLimit): Handlers {
  const modelInfer: ReplyingUnaryHandler = (request, call) => {
    const req = decodeGrpcInferRequest(request);
    runtime.submit(req.modelName, req.inputs, inferOptions(req, call.signal), new ModelInferReply(call));
  };

  // One response per request, in request order; errors are in-band and the stream stays open.
  const modelStreamInfer: BidiHandler = (ctx, out) => {
    const stream = new OrderedStreamReplies(out);
    return {
      onMessage(bytes) {
        const reply = stream.next();
        let req: DecodedInferRequest;
        try {
          req = decodeGrpcInferRequest(bytes);
        } catch (e) {
          reply.onError(toSluiceError(e));
          return;
        }
        reply.id = req.id;
        runtime.submit(req.modelName, req.inputs, inferOptions(req, ctx.signal), reply);
      },
      onEnd() { stream.end(); },
    };
  };

  return {
    ServerLive: unary('ServerLive', () => ({ live: runtime.live })),
    ServerReady: unary('ServerReady', () => ({ ready: runtime.ready })),
    ModelReady: unary('ModelReady', (r) => ({ ready: runtime.modelReady(String(r['name']), String(r['version'])) })),
    ServerMetadata: unary('ServerMetadata', () =>
      ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [...SERVER_EXTENSIONS] })),
    ModelMetadata: unary('ModelMetadata', (r) =>
      modelMetadataObject(runtime.metadata(String(r['name']), String(r['version'])))),
    ModelConfig: unary('ModelConfig', (r) =>
      ({ config: modelConfigObject(runtime.config(String(r['name']), String(r['version']))) })),
    ModelStatistics: unary('ModelStatistics', (r) =>
      ({ model_stats: runtime.statistics(String(r['name']), String(r['version'])).map(modelStatisticsObject) })),
    RepositoryIndex: unary('RepositoryIndex', (r) =>
      ({ models: repositoryIndexObjects(runtime.index(), r['ready'] === true) })),
    ModelInfer: inferLimit === undefined ? { kind: 'unaryReply', handler: modelInfer }
      : { kind: 'unaryReply', handler: modelInfer, limit: inferLimit },
    ModelStreamInfer: { kind: 'bidi', handler: modelStreamInfer },
    RepositoryModelLoad: notSupported('RepositoryModelLoad (model control through the admin API comes later)'),
    RepositoryModelUnload: notSupported('RepositoryModelUnload (model control through the admin API comes later)'),
    SystemSharedMemoryStatus: notSupported('system shared memory'),
    SystemSharedMemoryRegister: notSupported('system shared memory'),
    SystemSharedMemoryUnregister: notSupported('system shared memory'),
    CudaSharedMemoryStatus: notSupported('CUDA shared memory'),
    CudaSharedMemoryRegister: notSupported('CUDA shared memory'),
    CudaSharedMemoryUnregister: notSupported('CUDA shared memory'),
    TraceSetting: notSupported('tracing'),
    LogSettings: notSupported('log settings'),
  };
}

const HEALTH_SERVICES = new Set(['', 'inference.GRPCInferenceService']);

/** grpc.health.v1.Health: SERVING iff the server is ready. */
export function healthHandlers(runtime: Runtime): Handlers {
  const reqType = protoType('grpc.health.v1.HealthCheckRequest');
  const resType = protoType('grpc.health.v1.HealthCheckResponse');
  const status = (): string => (runtime.ready ? 'SERVING' : 'NOT_SERVING');
  const check: UnaryHandler = (request) => {
    const service = String(decode(reqType, request)['service']);
    if (!HEALTH_SERVICES.has(service)) throw new SluiceError('NOT_FOUND', `unknown service '${service}'`);
    return encode(resType, { status: status() });
  };
  // Watch: the current status now, then on every change until the client leaves.
  const watch: ServerStreamHandler = (request, ctx, out) => {
    const known = HEALTH_SERVICES.has(String(decode(reqType, request)['service']));
    let last = '';
    const send = (): void => {
      const now = known ? status() : 'SERVICE_UNKNOWN';
      if (now !== last) { last = now; out.write(encode(resType, { status: now })); }
    };
    send();
    const timer = setInterval(send, 1000);
    timer.unref();
    ctx.signal.addEventListener('abort', { handleEvent: () => clearInterval(timer) }, { once: true });
  };
  return { Check: unaryMethod(check), Watch: { kind: 'serverStream', handler: watch } };
}

/** Routes every method of `service` ("pkg.Service") to its handler by gRPC path. */
function routes(service: string, handlers: Handlers): [string, Method][] {
  return protoRoot().lookupService(service).methodsArray.map((m) => {
    const method = handlers[m.name];
    if (method === undefined) throw new Error(`no handler for ${service}/${m.name}`);
    return [`/${service}/${m.name}`, method];
  });
}

/** The KServe v2 and health services on the HTTP/2 gRPC transport, bound and started. */
export async function startGrpcServer(runtime: Runtime, host: string, port: number,
  options: GrpcServerOptions): Promise<{ server: GrpcTransport; port: number }> {
  const methods = new Map([
    ...routes('inference.GRPCInferenceService', inferenceHandlers(runtime, options.inferLimit)),
    ...routes('grpc.health.v1.Health', healthHandlers(runtime)),
  ]);
  const server = new GrpcTransport(methods, { maxMessageBytes: options.maxMessageBytes,
    connections: options.connections, requestBuffers: options.requestBuffers, receiveTimeoutMs: options.receiveTimeoutMs });
  return { server, port: await server.listen(host, port) };
}
