import type * as http from 'node:http';
import { registerDeviceMetrics } from '../metrics/device-metrics';
import { registerAdmissionMetrics, registerCallLimitMetrics, registerRuntimeMetrics } from '../metrics/runtime-metrics';
import { ServerMetrics } from '../metrics/server-metrics';
import { Runtime, defaultLogger, type Logger } from '../runtime/runtime';
import { ConnectionLimit, DEFAULT_MAX_CONNECTIONS, RequestBuffers, defaultRequestBufferBytes } from './admission';
import { CallLimit } from './call-limit';
import { describeDevices, deviceInfo } from './device-info';
import { startGrpcServer } from './grpc';
import type { GrpcTransport } from './grpc-transport';
import { startHttpServer } from './http';

export interface ServerOptions {
  readonly modelRepository: string;
  readonly host: string;
  /** 0 = an ephemeral port (the bound one is reported). */
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Largest gRPC message and HTTP body, bytes. */
  readonly maxMessageBytes: number;
  /** Most inference requests in progress at once, gRPC and HTTP together; Infinity (default) = no bound. */
  readonly maxInferRequests?: number;
  /** Most open connections, gRPC and HTTP together (default DEFAULT_MAX_CONNECTIONS); Infinity = no bound. */
  readonly maxConnections?: number;
  /**
   * Most request bytes held server-wide while messages and bodies arrive (default
   * defaultRequestBufferBytes(maxMessageBytes)); beyond it a request is refused.
   */
  readonly maxRequestBufferBytes?: number;
  /**
   * Longest a request may take to arrive (default DEFAULT_RECEIVE_TIMEOUT_MS, 300 s). gRPC: a
   * request message, once part of it has come; past it the call ends DEADLINE_EXCEEDED. HTTP:
   * the request's headers and body (node:http's requestTimeout); past it the answer is 408.
   */
  readonly receiveTimeoutMs?: number;
  readonly logger?: Logger;
}

/** Default request size limit: 64 MiB (gRPC's own default, 4 MiB, is too small for batches). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A running Sluice server: the runtime plus its gRPC and HTTP front ends. */
export class SluiceServer {
  private stopping: Promise<boolean> | undefined;

  private constructor(
    readonly runtime: Runtime,
    readonly metrics: ServerMetrics,
    private readonly grpcServer: GrpcTransport,
    private readonly httpServer: http.Server,
    readonly grpcPort: number,
    readonly httpPort: number,
  ) {}

  static async start(options: ServerOptions): Promise<SluiceServer> {
    const log = options.logger ?? defaultLogger;
    const devices = deviceInfo();
    log('info', `devices: ${describeDevices(devices)}`);
    const metrics = new ServerMetrics();
    registerDeviceMetrics(metrics.registry, devices);
    const runtime = await Runtime.open(options.modelRepository, { observer: metrics, logger: log });
    registerRuntimeMetrics(metrics.registry, runtime);
    const inferLimit = options.maxInferRequests === undefined || options.maxInferRequests === Number.POSITIVE_INFINITY
      ? undefined : new CallLimit(options.maxInferRequests);
    if (inferLimit !== undefined) registerCallLimitMetrics(metrics.registry, inferLimit);
    const connections = new ConnectionLimit(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS);
    const requestBuffers = new RequestBuffers(options.maxRequestBufferBytes ?? defaultRequestBufferBytes(options.maxMessageBytes));
    registerAdmissionMetrics(metrics.registry, connections, requestBuffers);
    try {
      const g = await startGrpcServer(runtime, options.host, options.grpcPort,
        { maxMessageBytes: options.maxMessageBytes, inferLimit, connections, requestBuffers,
          receiveTimeoutMs: options.receiveTimeoutMs });
      try {
        const h = await startHttpServer(runtime, metrics, options.host, options.httpPort,
          { maxBodyBytes: options.maxMessageBytes, inferLimit, connections, requestBuffers,
            receiveTimeoutMs: options.receiveTimeoutMs }, () => ({ devices }));
        return new SluiceServer(runtime, metrics, g.server, h.server, g.port, h.port);
      } catch (e) {
        g.server.forceShutdown();
        throw e;
      }
    } catch (e) {
      await runtime.close(0);
      throw e;
    }
  }

  /**
   * Graceful stop: stop accepting connections and requests, let in-flight requests finish for up to
   * `graceMs`, then cut what is left and unload the models. Resolves true when nothing was cut.
   */
  stop(graceMs: number): Promise<boolean> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<boolean> {
    const grpcDone = this.grpcServer.shutdown();
    const httpDone = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    this.httpServer.closeIdleConnections();
    const runtimeClean = this.runtime.close(graceMs);
    const graceOver = delay(graceMs);
    const outcome = await Promise.race([Promise.all([grpcDone, httpDone]).then(() => 'done' as const),
      graceOver.promise.then(() => 'timeout' as const)]);
    if (outcome === 'timeout') {
      this.grpcServer.forceShutdown();
      this.httpServer.closeAllConnections();
    }
    // Unloading waits for runs already inside a backend; past the grace period, stop waiting.
    const clean = await Promise.race([runtimeClean, graceOver.promise.then(() => false)]);
    graceOver.cancel();
    return clean && outcome === 'done';
  }
}

function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  return { promise, cancel: () => clearTimeout(timer) };
}
