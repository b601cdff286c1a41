/**
 * The bench's gRPC client. Every call goes through H2Client, a lean gRPC-over-HTTP/2 unary
 * client that frames HTTP/2 itself (see h2-client.ts for why not @grpc/grpc-js or node:http2):
 * the client shares the 2 cores with the server it measures, so what it spends per request is
 * taken from the server.
 * Requests are encoded once per level, so the client spends its CPU on the exchange itself and
 * not on protobuf.
 */
import { status } from '@grpc/grpc-js';
import { protoType } from '../src/codec/proto';
import { H2Client, type UnaryDone } from './h2-client';
import type { BenchModel } from './models';

const INFER = '/inference.GRPCInferenceService/ModelInfer';
const STATISTICS = '/inference.GRPCInferenceService/ModelStatistics';
/**
 * Connections per server. In an A/B on the 2-core machine (closed loop, MLP), 1, 2 and 4 were
 * within the run-to-run noise of each other, 2 slightly ahead for Sluice at c=32; more would
 * only add per-connection work on either side.
 */
const SESSIONS = 2;

/** A ModelInferRequest of `rows` rows of the model's FP32 input, in raw_input_contents. */
export function encodeInferRequest(model: BenchModel, rows: number, fill = 0.5): Buffer {
  const Request = protoType('inference.ModelInferRequest');
  const data = new Float32Array(rows * model.input.features).fill(fill);
  return Buffer.from(Request.encode(Request.fromObject({
    model_name: model.name,
    inputs: [{ name: model.input.name, datatype: 'FP32', shape: [rows, model.input.features] }],
    outputs: model.outputs.map((name) => ({ name })),
    raw_input_contents: [new Uint8Array(data.buffer)],
  })).finish());
}

/** Throws unless `response` is a ModelInferResponse with one raw output per requested output. */
export function checkInferResponse(model: BenchModel, response: Buffer): void {
  const Response = protoType('inference.ModelInferResponse');
  const msg = Response.decode(response) as unknown as { model_name: string; raw_output_contents: Uint8Array[] };
  const raw = msg.raw_output_contents;
  if (msg.model_name !== model.name || raw.length !== model.outputs.length || raw.some((r) => r.length === 0)) {
    throw new Error(`unexpected ModelInferResponse for ${model.name}: model '${msg.model_name}', ` +
      `${raw.length} raw outputs of ${raw.map((r) => r.length).join('/')} bytes`);
  }
}

/** Model-level counters of ModelStatistics (sums over the model's versions; ns are cumulative). */
export interface ServerCounters {
  readonly inferenceCount: number;
  readonly executionCount: number;
  readonly success: number;
  readonly queueNs: number;
  readonly computeInputNs: number;
  readonly computeInferNs: number;
  readonly computeOutputNs: number;
}

interface WireDuration { count?: number; ns?: number }
interface WireStats {
  inference_count?: number; execution_count?: number;
  inference_stats?: { success?: WireDuration; queue?: WireDuration; compute_input?: WireDuration;
    compute_infer?: WireDuration; compute_output?: WireDuration };
}

export class BenchClient {
  readonly #h2: H2Client;

  constructor(readonly address: string) {
    this.#h2 = new H2Client(address, { sessions: SESSIONS });
  }

  /** One ModelInfer; `done` gets the gRPC status (0 = OK), the error message or the response bytes. */
  infer(request: Buffer, deadlineMs: number, done: UnaryDone): void {
    this.#h2.unary(INFER, request, deadlineMs, done);
  }

  inferOnce(request: Buffer, deadlineMs = 30_000): Promise<Buffer> {
    return new Promise((resolve, reject) => this.infer(request, deadlineMs, (code, details, res) =>
      (res !== undefined ? resolve(res) : reject(new Error(`ModelInfer: ${status[code]} ${details ?? ''}`)))));
  }

  /** ModelStatistics of `model`, or undefined when the server does not implement it (the baseline). */
  async counters(model: string): Promise<ServerCounters | undefined> {
    const Req = protoType('inference.ModelStatisticsRequest');
    const Res = protoType('inference.ModelStatisticsResponse');
    const bytes = Buffer.from(Req.encode(Req.fromObject({ name: model })).finish());
    const res = await new Promise<Buffer | undefined>((resolve, reject) => {
      this.#h2.unary(STATISTICS, bytes, 5_000, (code, details, out) => {
        if (code === status.OK) resolve(out);
        else if (code === status.UNIMPLEMENTED) resolve(undefined);
        else reject(new Error(`ModelStatistics: ${status[code]} ${details ?? ''}`));
      });
    });
    if (res === undefined) return undefined;
    const all = (Res.toObject(Res.decode(res), { longs: Number }) as { model_stats?: WireStats[] }).model_stats ?? [];
    const sum = (f: (s: WireStats) => number | undefined): number => all.reduce((a, s) => a + (f(s) ?? 0), 0);
    return {
      inferenceCount: sum((s) => s.inference_count),
      executionCount: sum((s) => s.execution_count),
      success: sum((s) => s.inference_stats?.success?.count),
      queueNs: sum((s) => s.inference_stats?.queue?.ns),
      computeInputNs: sum((s) => s.inference_stats?.compute_input?.ns),
      computeInferNs: sum((s) => s.inference_stats?.compute_infer?.ns),
      computeOutputNs: sum((s) => s.inference_stats?.compute_output?.ns),
    };
  }

  close(): void {
    this.#h2.close();
  }
}

/** Triton's counters of `model` from a /metrics text (sums over its versions). */
export interface MetricsCounters {
  readonly success: number;
  readonly inferenceCount: number;
  readonly executionCount: number;
}

export async function scrapeCounters(url: string, model: string): Promise<MetricsCounters> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const text = await res.text();
  const sum = (name: string): number => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) || !line.includes(`model="${model}"`)) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  };
  return { success: sum('nv_inference_request_success'), inferenceCount: sum('nv_inference_count'),
    executionCount: sum('nv_inference_exec_count') };
}

/** Server-side averages over one level, from ModelStatistics before and after it. */
export interface ServerFigures {
  /** Average per successful request, microseconds. */
  readonly queueUs: number;
  readonly computeInputUs: number;
  readonly computeInferUs: number;
  readonly computeOutputUs: number;
  /** The three compute stages together. */
  readonly computeUs: number;
  /** Rows per execution (inference_count / execution_count). */
  readonly batchSize: number;
  readonly executions: number;
  /** Successful requests and rows during the level. */
  readonly successes: number;
  readonly inferences: number;
}

export function serverFigures(before: ServerCounters, after: ServerCounters): ServerFigures {
  const n = after.success - before.success;
  const executions = after.executionCount - before.executionCount;
  const perRequestUs = (ns: number): number => (n > 0 ? ns / n / 1e3 : Number.NaN);
  const input = after.computeInputNs - before.computeInputNs;
  const infer = after.computeInferNs - before.computeInferNs;
  const output = after.computeOutputNs - before.computeOutputNs;
  return {
    queueUs: perRequestUs(after.queueNs - before.queueNs),
    computeInputUs: perRequestUs(input),
    computeInferUs: perRequestUs(infer),
    computeOutputUs: perRequestUs(output),
    computeUs: perRequestUs(input + infer + output),
    batchSize: executions > 0 ? (after.inferenceCount - before.inferenceCount) / executions : Number.NaN,
    executions,
    successes: n,
    inferences: after.inferenceCount - before.inferenceCount,
  };
}
