import * as http from 'node:http';
import type * as net from 'node:net';
import { decodeHttpInferRequest, encodeHttpInferResponse } from '../codec/http-infer';
import { parseJsonBody } from '../codec/json-body';
import type { ServerMetrics } from '../metrics/server-metrics';
import type { Runtime } from '../runtime/runtime';
import { invalidArgument, toSluiceError, unimplemented } from '../runtime/status';
import { type ConnectionLimit, DEFAULT_RECEIVE_TIMEOUT_MS, type RequestBuffers } from './admission';
import type { CallLimit } from './call-limit';
import { BodyRefused, readRequestBody } from './http-body';
import { matchRoute, type Route } from './http-routes';
import {
  modelConfigObject, modelMetadataObject, modelStatisticsObject, repositoryIndexObjects,
} from './protocol-objects';
import { SERVER_EXTENSIONS, SERVER_NAME, SERVER_VERSION } from './server-info';

export interface HttpServerOptions {
  /** Largest request body, bytes; larger bodies get 413 without being read. */
  readonly maxBodyBytes: number;
  /** Bounds inference requests in progress (shared with the gRPC server): beyond it, 503 before the body is read. */
  readonly inferLimit?: CallLimit | undefined;
  /** Server-wide bounds on connections and buffered request bytes (shared with the gRPC server). */
  readonly connections?: ConnectionLimit | undefined;
  readonly requestBuffers?: RequestBuffers | undefined;
  /**
   * Longest a request's headers and body may take to arrive (default DEFAULT_RECEIVE_TIMEOUT_MS);
   * past it node:http answers 408 and closes the connection, and the request's body read fails,
   * which gives back what it held (its --max-infer-requests place, its buffered bytes).
   */
  readonly receiveTimeoutMs?: number | undefined;
}

const HEADER_LENGTH = 'inference-header-content-length';

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendEmpty(res: http.ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 });
  res.end();
}

function sendError(res: http.ServerResponse, e: unknown): void {
  if (res.headersSent) { res.destroy(); return; }
  if (e instanceof BodyRefused) {
    res.setHeader('connection', 'close');
    for (const [name, value] of Object.entries(e.headers)) res.setHeader(name, value);
    sendJson(res, e.status, { error: e.message });
    return;
  }
  const err = toSluiceError(e);
  sendJson(res, err.httpStatus, { error: err.message });
}

/** KServe v2 REST routes, health and /metrics over a Runtime. */
export function createHttpHandler(runtime: Runtime, metrics: ServerMetrics, options: HttpServerOptions,
  extraServerInfo: () => Record<string, unknown> = () => ({})) {
  const handle = async (route: Route, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    switch (route.kind) {
      case 'health-live': return sendEmpty(res, runtime.live ? 200 : 503);
      case 'health-ready': return sendEmpty(res, runtime.ready ? 200 : 503);
      case 'server-metadata':
        return sendJson(res, 200, { name: SERVER_NAME, version: SERVER_VERSION, extensions: [...SERVER_EXTENSIONS],
          ...extraServerInfo() });
      case 'metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
        return undefined;
      }
      case 'model-metadata':
        return sendJson(res, 200, modelMetadataObject(runtime.metadata(route.model, route.version)));
      case 'model-ready': {
        runtime.metadata(route.model, route.version); // NOT_FOUND / INVALID_ARGUMENT for bad names
        return sendEmpty(res, runtime.modelReady(route.model, route.version) ? 200 : 503);
      }
      case 'model-config':
        return sendJson(res, 200, modelConfigObject(runtime.config(route.model, route.version)));
      case 'model-stats':
        return sendJson(res, 200,
          { model_stats: runtime.statistics(route.model, route.version).map(modelStatisticsObject) });
      case 'repository-index': {
        const body = await readRequestBody(req, options.maxBodyBytes, options.requestBuffers);
        let readyOnly = false;
        if (body.length > 0) {
          const parsed = parseJsonBody(body, body.length);
          if (typeof parsed !== 'object' || parsed === null) throw invalidArgument('repository index body must be a JSON object');
          const ready = (parsed as Record<string, unknown>)['ready'];
          if (ready !== undefined && typeof ready !== 'boolean') throw invalidArgument('"ready" must be a boolean');
          readyOnly = ready === true;
        }
        return sendJson(res, 200, repositoryIndexObjects(runtime.index(), readyOnly));
      }
      case 'repository-load':
      case 'repository-unload':
        throw unimplemented('model load/unload is not supported yet (it comes with the admin API)');
      case 'model-infer': {
        const limit = options.inferLimit;
        if (limit !== undefined) {
          const busy = limit.acquire();
          if (busy !== undefined) throw busy;
          res.once('close', () => limit.release());
        }
        const body = await readRequestBody(req, options.maxBodyBytes, options.requestBuffers);
        const headerLength = req.headers[HEADER_LENGTH];
        const decoded = decodeHttpInferRequest(body, Array.isArray(headerLength) ? headerLength[0] : headerLength);
        const ac = new AbortController();
        res.on('close', () => { if (!res.writableFinished) ac.abort(); });
        const result = await runtime.infer(route.model, decoded.inputs, {
          version: route.version,
          outputs: decoded.outputs.map((o) => o.name),
          id: decoded.id,
          priority: decoded.options.priority,
          timeoutMicroseconds: decoded.options.timeoutMicroseconds,
          signal: ac.signal,
        });
        const encoded = encodeHttpInferResponse(result, decoded.outputs, decoded.binaryOutputDefault);
        const headers: http.OutgoingHttpHeaders = { 'content-type': encoded.contentType,
          'content-length': encoded.body.length };
        if (encoded.headerLength !== undefined) headers[HEADER_LENGTH] = encoded.headerLength;
        res.writeHead(200, headers);
        res.end(encoded.body);
        return undefined;
      }
    }
  };

  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let route: Route;
    try {
      const url = new URL(req.url ?? '/', 'http://sluice');
      const match = matchRoute(url.pathname);
      if (match === undefined) {
        sendJson(res, 404, { error: `no route for ${req.method ?? ''} ${url.pathname.slice(0, 256)}` });
        return;
      }
      if (req.method !== match.method && !(match.method === 'GET' && req.method === 'HEAD')) {
        res.setHeader('allow', match.method);
        sendJson(res, 405, { error: `${req.method ?? ''} is not allowed on ${url.pathname.slice(0, 256)}; use ${match.method}` });
        return;
      }
      route = match.route;
    } catch (e) {
      sendError(res, e);
      return;
    }
    handle(route, req, res).catch((e: unknown) => sendError(res, e));
  };
}

export async function startHttpServer(runtime: Runtime, metrics: ServerMetrics, host: string, port: number,
  options: HttpServerOptions, extraServerInfo?: () => Record<string, unknown>): Promise<{ server: http.Server; port: number }> {
  const receiveTimeoutMs = options.receiveTimeoutMs ?? DEFAULT_RECEIVE_TIMEOUT_MS;
  if (!(receiveTimeoutMs > 0)) throw new RangeError(`receiveTimeoutMs must be > 0 ms, got ${receiveTimeoutMs}`);
  const server = http.createServer({
    requestTimeout: receiveTimeoutMs,
    // node:http's default (60 s), but never longer than the whole request may take.
    headersTimeout: Math.min(60_000, receiveTimeoutMs),
    // How often node:http looks for requests past those timeouts (its default, 30 s, would let a
    // 10 s timeout run to 40 s): a tenth of the timeout, from 50 ms to 30 s.
    connectionsCheckingInterval: Math.min(30_000, Math.max(50, receiveTimeoutMs / 10)),
  }, createHttpHandler(runtime, metrics, options, extraServerInfo));
  server.keepAliveTimeout = 5_000;
  const connections = options.connections;
  // After http.Server's own 'connection' listener: a socket destroyed here never reaches a handler.
  if (connections !== undefined) server.on('connection', (socket: net.Socket) => { connections.admit(socket); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

