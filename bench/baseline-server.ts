/**
 * The baseline: the KServe v2 server a Node team would write in an afternoon. A plain
 * @grpc/grpc-js server, protobufjs messages, one onnxruntime-node InferenceSession with default
 * options, and `session.run` per request on the main thread, so every run blocks the event loop
 * and requests are never batched. It serves ModelInfer and ServerReady, for raw FP32/INT32/INT64
 * tensors, which is all the bench sends.
 *
 *   node dist/bench/baseline-server.js --model FILE --name NAME [--host 127.0.0.1] [--port 0]
 *
 * Logs "gRPC listening on port N" and "server READY" to stderr, as `sluice serve` does.
 */
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';
import { protoType } from '../src/codec/proto';

interface InferRequest {
  model_name: string;
  id: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string }[];
  raw_input_contents: Uint8Array[];
}

const TO_ORT: Readonly<Record<string, 'float32' | 'int32' | 'int64'>> = { FP32: 'float32', INT32: 'int32', INT64: 'int64' };
const FROM_ORT: Readonly<Record<string, string>> = { float32: 'FP32', int32: 'INT32', int64: 'INT64' };

function fail(code: grpc.status, details: string): Partial<grpc.StatusObject> {
  return { code, details };
}

/** Raw little-endian bytes → an ORT tensor (copied: ORT needs an aligned typed array). */
function toOrtTensor(datatype: string, shape: number[], raw: Uint8Array): ort.Tensor {
  const type = TO_ORT[datatype];
  if (type === undefined) throw new Error(`datatype ${datatype} not supported`);
  const aligned = new Uint8Array(raw).buffer;
  const data = type === 'float32' ? new Float32Array(aligned) : type === 'int32' ? new Int32Array(aligned)
    : new BigInt64Array(aligned);
  return new ort.Tensor(type, data, shape);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, name: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' },
  } });
  if (values.model === undefined || values.name === undefined) throw new Error('--model FILE and --name NAME are required');
  const modelName = values.name;
  const session = await ort.InferenceSession.create(values.model);
  const Request = protoType('inference.ModelInferRequest');
  const Response = protoType('inference.ModelInferResponse');
  const ReadyResponse = protoType('inference.ServerReadyResponse');

  const service: grpc.ServiceDefinition = {
    ModelInfer: {
      path: '/inference.GRPCInferenceService/ModelInfer', requestStream: false, responseStream: false,
      requestSerialize: (m: unknown) => Buffer.from(Request.encode(m as object).finish()),
      requestDeserialize: (b: Buffer) => Request.decode(b),
      responseSerialize: (m: unknown) => Buffer.from(Response.encode(m as object).finish()),
      responseDeserialize: (b: Buffer) => Response.decode(b),
    },
    ServerReady: {
      path: '/inference.GRPCInferenceService/ServerReady', requestStream: false, responseStream: false,
      requestSerialize: () => Buffer.alloc(0), requestDeserialize: () => ({}),
      responseSerialize: (m: unknown) => Buffer.from(ReadyResponse.encode(m as object).finish()),
      responseDeserialize: (b: Buffer) => ReadyResponse.decode(b),
    },
  };

  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  server.addService(service, {
    ModelInfer: (call: grpc.ServerUnaryCall<InferRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const req = call.request;
      if (req.model_name !== modelName) {
        callback(fail(grpc.status.NOT_FOUND, `unknown model '${req.model_name}'`));
        return;
      }
      let feeds: Record<string, ort.Tensor>;
      try {
        feeds = {};
        req.inputs.forEach((input, i) => {
          const raw = req.raw_input_contents[i];
          if (raw === undefined) throw new Error(`input '${input.name}': send raw_input_contents`);
          feeds[input.name] = toOrtTensor(input.datatype, input.shape.map(Number), raw);
        });
      } catch (e) {
        callback(fail(grpc.status.INVALID_ARGUMENT, (e as Error).message));
        return;
      }
      const names = req.outputs.length > 0 ? req.outputs.map((o) => o.name) : [...session.outputNames];
      session.run(feeds, names).then((results) => {
        const outputs = names.map((name) => results[name] as ort.Tensor);
        callback(null, {
          model_name: modelName, model_version: '1', id: req.id,
          outputs: outputs.map((t, i) => ({ name: names[i], datatype: FROM_ORT[t.type] ?? t.type, shape: t.dims })),
          raw_output_contents: outputs.map((t) => {
            const d = t.data as ArrayBufferView;
            return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
          }),
        });
      }, (e: unknown) => callback(fail(grpc.status.INTERNAL, String(e))));
    },
    ServerReady: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { ready: true });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${values.host}:${values.port}`, grpc.ServerCredentials.createInsecure(),
      (err, p) => (err !== null ? reject(err) : resolve(p)));
  });
  process.stderr.write(`gRPC listening on port ${port}\nserver READY\n`);
  const stop = (): void => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`baseline server failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
