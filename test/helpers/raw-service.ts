import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';

/**
 * A grpc-js client ServiceDefinition for a protobufjs service whose messages cross the wire as raw
 * Buffers, so tests send exactly the bytes they want (malformed ones included) and decode answers
 * themselves.
 */
export function rawServiceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const identity = (b: Buffer): Buffer => b;
  for (const m of service.methodsArray) {
    def[m.name] = {
      path: `/${service.fullName.replace(/^\./, '')}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
      originalName: m.name,
    };
  }
  return def;
}
