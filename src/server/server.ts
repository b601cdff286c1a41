import type * as grpc from '@grpc/grpc-js';
import type * as http from 'node:http';
import { ServerMetrics } from '../metrics/server-metrics';
import { Runtime, type Logger } from '../runtime/runtime';
import { startGrpcServer } from './grpc';
import { startHttpServer } from './http';

export interface ServerOptions {
  readonly modelRepository: string;
  readonly host: string;
  /** 0 = an ephemeral port (the bound one is reported). */
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Largest gRPC message and HTTP body, bytes. */
  readonly maxMessageBytes: number;
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
    private readonly grpcServer: grpc.Server,
    private readonly httpServer: http.Server,
    readonly grpcPort: number,
    readonly httpPort: number,
  ) {}

  static async start(options: ServerOptions): Promise<SluiceServer> {
    const metrics = new ServerMetrics();
    const runtime = await Runtime.open(options.modelRepository,
      options.logger === undefined ? { observer: metrics } : { observer: metrics, logger: options.logger });
    try {
      const g = await startGrpcServer(runtime, `${hostForUrl(options.host)}:${options.grpcPort}`,
        { maxMessageBytes: options.maxMessageBytes });
      try {
        const h = await startHttpServer(runtime, metrics, options.host, options.httpPort,
          { maxBodyBytes: options.maxMessageBytes });
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
    const grpcDone = new Promise<void>((resolve) => this.grpcServer.tryShutdown(() => resolve()));
    const httpDone = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    this.httpServer.closeIdleConnections();
    const runtimeClean = this.runtime.close(graceMs);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), graceMs); });
    const outcome = await Promise.race([Promise.all([grpcDone, httpDone]).then(() => 'done' as const), deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.grpcServer.forceShutdown();
      this.httpServer.closeAllConnections();
    }
    const clean = await runtimeClean;
    return clean && outcome === 'done';
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
