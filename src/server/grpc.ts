import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { decodeGrpcInferRequest, encodeGrpcInferResponse, encodeGrpcStreamResponse } from '../codec/grpc-infer';
import { protoRoot, protoType } from '../codec/proto';
import type { Runtime } from '../runtime/runtime';
import { SluiceError, invalidArgument, toSluiceError, unimplemented } from '../runtime/status';
import { rawServiceDefinition } from './grpc-service';
import {
  modelConfigObject, modelMetadataObject, modelStatisticsObject, repositoryIndexObjects,
} from './protocol-objects';
import { SERVER_EXTENSIONS, SERVER_NAME, SERVER_VERSION } from './server-info';

type UnaryHandler = grpc.handleUnaryCall<Buffer, Buffer>;
type Handlers = Record<string, grpc.UntypedHandleCall>;

export interface GrpcServerOptions {
  /** Largest request or response message, bytes; larger requests get RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
}

function grpcError(e: unknown): Partial<grpc.StatusObject> {
  const err = toSluiceError(e);
  return { code: err.grpcCode, details: err.message };
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

/** A unary RPC whose request and response are ordinary (small) messages. */
function unary(method: string, fn: (req: Record<string, unknown>) => Record<string, unknown>): UnaryHandler {
  const svc = protoRoot().lookupService('inference.GRPCInferenceService').methods[method];
  if (svc === undefined) throw new Error(`no method ${method}`);
  const reqType = protoType(`inference.${svc.requestType}`);
  const resType = protoType(`inference.${svc.responseType}`);
  return (call, callback) => {
    try {
      callback(null, encode(resType, fn(decode(reqType, call.request))));
    } catch (e) {
      callback(grpcError(e));
    }
  };
}

const notSupported = (what: string): UnaryHandler => (_call, callback) =>
  callback(grpcError(unimplemented(`${what} is not supported by this server`)));

/**
 * A client's own deadline timer fires (and resets the stream) slightly before the server's copy of
 * the deadline, which is later by the transit time: a cancel this close to the deadline is it.
 */
const DEADLINE_SLACK_MS = 20;

/**
 * Why grpc-js cancelled a call: it reports a passed deadline as a plain cancel, so tell the two
 * apart by the deadline, and let the runtime record the right failure reason.
 */
function cancelReason(call: { getDeadline(): grpc.Deadline }): SluiceError {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) && Date.now() >= at - DEADLINE_SLACK_MS
    ? new SluiceError('DEADLINE_EXCEEDED', 'the request deadline passed before it completed')
    : new SluiceError('CANCELLED', 'request cancelled by the client');
}

/** Runs one ModelInfer request, cancelled when `signal` aborts (client gone or deadline passed). */
async function runInfer(runtime: Runtime, bytes: Buffer, signal: AbortSignal | undefined) {
  const req = decodeGrpcInferRequest(bytes);
  return runtime.infer(req.modelName, req.inputs, {
    version: req.modelVersion,
    outputs: req.outputs.map((o) => o.name),
    id: req.id,
    priority: req.options.priority,
    timeoutMicroseconds: req.options.timeoutMicroseconds,
    signal,
  });
}

/** Handlers of inference.GRPCInferenceService over a Runtime. */
export function inferenceHandlers(runtime: Runtime): Handlers {
  const modelInfer: UnaryHandler = (call, callback) => {
    const ac = new AbortController();
    // grpc-js also emits 'cancelled' when an answered call's stream closes: only an unanswered
    // request is really cancelled (and only then is building the reason worth it).
    let answered = false;
    call.on('cancelled', () => { if (!answered) ac.abort(cancelReason(call)); });
    runInfer(runtime, call.request, ac.signal).then(
      (result) => { answered = true; callback(null, encodeGrpcInferResponse(result)); },
      (e) => { answered = true; callback(grpcError(e)); },
    );
  };

  // One response per request, in request order; errors are in-band and the stream stays open.
  const modelStreamInfer: grpc.handleBidiStreamingCall<Buffer, Buffer> = (call) => {
    const ac = new AbortController();
    let ended = false;
    call.on('cancelled', () => { if (!ended) ac.abort(cancelReason(call)); });
    let tail: Promise<void> = Promise.resolve();
    call.on('data', (bytes: Buffer) => {
      const response = runInfer(runtime, bytes, ac.signal).then(
        (result) => encodeGrpcStreamResponse(result),
        (e) => encodeGrpcStreamResponse({ error: toSluiceError(e).message }),
      );
      tail = tail.then(async () => {
        const buf = await response;
        if (!ac.signal.aborted) call.write(buf);
      });
    });
    call.on('end', () => { void tail.then(() => { ended = true; call.end(); }); });
    call.on('error', () => ac.abort());
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
    ModelInfer: modelInfer,
    ModelStreamInfer: modelStreamInfer,
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
  const check: UnaryHandler = (call, callback) => {
    try {
      const service = String(decode(reqType, call.request)['service']);
      if (!HEALTH_SERVICES.has(service)) {
        callback(grpcError(new SluiceError('NOT_FOUND', `unknown service '${service}'`)));
        return;
      }
      callback(null, encode(resType, { status: status() }));
    } catch (e) {
      callback(grpcError(e));
    }
  };
  // Watch: the current status now, then on every change until the client leaves.
  const watch: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) => {
    let known: boolean;
    try {
      known = HEALTH_SERVICES.has(String(decode(reqType, call.request)['service']));
    } catch (e) {
      call.destroy(toSluiceError(e));
      return;
    }
    let last = '';
    const send = (): void => {
      const now = known ? status() : 'SERVICE_UNKNOWN';
      if (now !== last) { last = now; call.write(encode(resType, { status: now })); }
    };
    send();
    const timer = setInterval(send, 1000);
    timer.unref();
    call.on('cancelled', () => clearInterval(timer));
    call.on('close', () => clearInterval(timer));
  };
  return { Check: check, Watch: watch };
}

/** A grpc-js server with the KServe v2 and health services, bound and started. */
export async function startGrpcServer(runtime: Runtime, address: string,
  options: GrpcServerOptions): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': options.maxMessageBytes,
  });
  server.addService(rawServiceDefinition(protoRoot().lookupService('inference.GRPCInferenceService')),
    inferenceHandlers(runtime));
  server.addService(rawServiceDefinition(protoRoot().lookupService('grpc.health.v1.Health')), healthHandlers(runtime));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port };
}
