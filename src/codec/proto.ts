import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** proto/ at the package root; this file compiles to dist/src/codec/. */
export const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

let inferenceRoot: protobuf.Root | undefined;

/** The protobufjs root holding `inference.*` and `grpc.health.v1.*` (loaded once, synchronously). */
export function protoRoot(): protobuf.Root {
  if (inferenceRoot === undefined) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_DIR, path.basename(target));
    root.loadSync(['inference.proto', 'health.proto'], { keepCase: true });
    root.resolveAll();
    inferenceRoot = root;
  }
  return inferenceRoot;
}

export function protoType(name: string): protobuf.Type {
  return protoRoot().lookupType(name);
}

let requestWithContentsBytes: protobuf.Type | undefined;

/**
 * inference.ModelInferRequest with each input's `contents` (field 5, an InferTensorContents
 * message) declared as `bytes`. Both are length-delimited, so the wire is the same, but protobufjs
 * then hands over the message's bytes (a view into the request) instead of a JS value per tensor
 * element; typed-contents.ts reads them. A separate copy of the schema: protoRoot() is unchanged.
 */
export function inferRequestWithContentsBytes(): protobuf.Type {
  if (requestWithContentsBytes === undefined) {
    const root = protobuf.Root.fromJSON(protoRoot().toJSON());
    const input = root.lookupType('inference.ModelInferRequest.InferInputTensor');
    const contents = input.fields['contents'];
    if (contents?.id !== 5) throw new Error('inference.proto: InferInputTensor.contents is not field 5');
    input.remove(contents);
    input.add(new protobuf.Field('contents', 5, 'bytes'));
    root.resolveAll();
    requestWithContentsBytes = root.lookupType('inference.ModelInferRequest');
  }
  return requestWithContentsBytes;
}
