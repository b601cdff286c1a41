/**
 * A minimal KServe v2 gRPC client (@grpc/grpc-js + protobufjs and Sluice's proto/ files) that
 * classifies one handwritten digit with the example model:
 *
 *   node dist/scripts/classify-digit.js [--address localhost:8001] [--version N] [--sample FILE]
 *
 * The sample defaults to examples/data/digits-sample.json, a held-out row of the digits data set.
 * Any Triton/KServe client works the same way; this one needs nothing beyond the project's deps.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { protoType } from '../src/codec/proto';

const ROOT = path.resolve(__dirname, '..', '..');

interface Sample { label: number; pixels: number[] }

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    address: { type: 'string', default: 'localhost:8001' },
    version: { type: 'string', default: '' },
    sample: { type: 'string', default: path.join(ROOT, 'examples', 'data', 'digits-sample.json') },
  } });
  const sample = JSON.parse(fs.readFileSync(values.sample, 'utf8')) as Sample;
  const Request = protoType('inference.ModelInferRequest');
  const Response = protoType('inference.ModelInferResponse');
  const request = Request.encode(Request.fromObject({
    model_name: 'digits',
    model_version: values.version,
    inputs: [{ name: 'pixels', datatype: 'FP32', shape: [1, 64] }],
    outputs: [{ name: 'label' }, { name: 'probabilities' }],
    raw_input_contents: [Buffer.from(new Float32Array(sample.pixels).buffer)],
  })).finish();

  const client = new grpc.Client(values.address, grpc.credentials.createInsecure());
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest('/inference.GRPCInferenceService/ModelInfer', (b: Buffer) => b, (b: Buffer) => b,
      Buffer.from(request), (err, res) => (err !== null ? reject(err) : resolve(res as Buffer)));
  });
  client.close();

  const res = Response.decode(bytes) as unknown as { model_version: string; raw_output_contents: Uint8Array[] };
  const [labelRaw, probRaw] = res.raw_output_contents;
  if (labelRaw === undefined || probRaw === undefined) throw new Error('response is missing outputs');
  const label = Number(Buffer.from(labelRaw).readBigInt64LE(0));
  const probs = new Float32Array(Uint8Array.from(probRaw).buffer);
  console.log(`model digits version ${res.model_version}: predicted ${label} ` +
    `(p=${(probs[label] ?? 0).toFixed(4)}), true label ${sample.label}`);
}

main().catch((e: unknown) => {
  console.error(`classify-digit: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
