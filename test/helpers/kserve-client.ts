import * as grpc from '@grpc/grpc-js';
import { protoRoot, protoType } from '../../src/codec/proto';
import { rawServiceDefinition } from './raw-service';

/**
 * A real @grpc/grpc-js client for inference.GRPCInferenceService and grpc.health.v1.Health that
 * speaks raw protobuf bytes, so tests can send exactly what they want (including malformed bytes).
 */
export class KServeClient {
  private readonly inference: grpc.Client;
  private readonly health: grpc.Client;

  constructor(address: string, options: grpc.ChannelOptions = {}) {
    const Inference = grpc.makeGenericClientConstructor(
      rawServiceDefinition(protoRoot().lookupService('inference.GRPCInferenceService')), 'GRPCInferenceService');
    const Health = grpc.makeGenericClientConstructor(
      rawServiceDefinition(protoRoot().lookupService('grpc.health.v1.Health')), 'Health');
    const opts = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1, ...options };
    this.inference = new Inference(address, grpc.credentials.createInsecure(), opts);
    this.health = new Health(address, grpc.credentials.createInsecure(), opts);
  }

  /** Sends raw request bytes; resolves the raw response bytes. */
  unaryRaw(method: string, bytes: Buffer, options: grpc.CallOptions = {}, service: 'inference' | 'health' = 'inference'): Promise<Buffer> {
    const client = service === 'inference' ? this.inference : this.health;
    const path = service === 'inference' ? `/inference.GRPCInferenceService/${method}` : `/grpc.health.v1.Health/${method}`;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), options,
        (err, res) => (err !== null ? reject(err) : resolve(res as Buffer)));
    });
  }

  /** Encodes `request` as the method's request type and decodes the response to a plain object. */
  async call(method: string, request: Record<string, unknown>, options: grpc.CallOptions = {}): Promise<Record<string, unknown>> {
    return this.cancellableCall(method, request, options).response;
  }

  /** As call(), with a handle to cancel the call from the client side. */
  cancellableCall(method: string, request: Record<string, unknown>, options: grpc.CallOptions = {}):
    { response: Promise<Record<string, unknown>>; cancel: () => void } {
    const m = protoRoot().lookupService('inference.GRPCInferenceService').methods[method];
    if (m === undefined) throw new Error(`no method ${method}`);
    const req = protoType(`inference.${m.requestType}`);
    const res = protoType(`inference.${m.responseType}`);
    let call: grpc.ClientUnaryCall | undefined;
    const response = new Promise<Record<string, unknown>>((resolve, reject) => {
      call = this.inference.makeUnaryRequest(`/inference.GRPCInferenceService/${method}`, (b: Buffer) => b,
        (b: Buffer) => b, Buffer.from(req.encode(req.fromObject(request)).finish()), new grpc.Metadata(), options,
        (err, out) => (err !== null ? reject(err)
          : resolve(res.toObject(res.decode(out as Buffer), { longs: Number, defaults: true, enums: String }) as Record<string, unknown>)));
    });
    return { response, cancel: () => call?.cancel() };
  }

  async healthCheck(service = ''): Promise<string> {
    const req = protoType('grpc.health.v1.HealthCheckRequest');
    const res = protoType('grpc.health.v1.HealthCheckResponse');
    const out = await this.unaryRaw('Check', Buffer.from(req.encode(req.fromObject({ service })).finish()), {}, 'health');
    return String(res.toObject(res.decode(out), { enums: String, defaults: true })['status']);
  }

  /** grpc.health.v1.Health/Watch: resolves the first status the server streams, then cancels. */
  healthWatchFirst(service = ''): Promise<string> {
    const req = protoType('grpc.health.v1.HealthCheckRequest');
    const res = protoType('grpc.health.v1.HealthCheckResponse');
    const call = this.health.makeServerStreamRequest('/grpc.health.v1.Health/Watch', (b: Buffer) => b, (b: Buffer) => b,
      Buffer.from(req.encode(req.fromObject({ service })).finish()), new grpc.Metadata(), {});
    return new Promise((resolve, reject) => {
      call.on('data', (b: Buffer) => {
        resolve(String(res.toObject(res.decode(b), { enums: String, defaults: true })['status']));
        call.cancel();
      });
      call.on('error', (e: grpc.ServiceError) => { if (e.code !== grpc.status.CANCELLED) reject(e); });
    });
  }

  /** Opens a ModelStreamInfer stream; returns a writer and the decoded responses as they come. */
  stream(): { write: (request: Record<string, unknown>) => void; writeRaw: (b: Buffer) => void; end: () => void;
    responses: Promise<Record<string, unknown>[]> } {
    const req = protoType('inference.ModelInferRequest');
    const res = protoType('inference.ModelStreamInferResponse');
    const call = this.inference.makeBidiStreamRequest('/inference.GRPCInferenceService/ModelStreamInfer',
      (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata(), {});
    const out: Record<string, unknown>[] = [];
    const responses = new Promise<Record<string, unknown>[]>((resolve, reject) => {
      call.on('data', (b: Buffer) => out.push(res.toObject(res.decode(b), { longs: Number, defaults: true }) as Record<string, unknown>));
      call.on('end', () => resolve(out));
      call.on('error', reject);
    });
    return {
      write: (r) => call.write(Buffer.from(req.encode(req.fromObject(r)).finish())),
      writeRaw: (b) => call.write(b),
      end: () => call.end(),
      responses,
    };
  }

  close(): void {
    this.inference.close();
    this.health.close();
  }
}
