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
