import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';

/**
 * A grpc-js ServiceDefinition for a protobufjs service whose messages cross the wire as raw
 * Buffers: handlers decode requests themselves, so a malformed message becomes an
 * INVALID_ARGUMENT answer (grpc-js would say INTERNAL if its deserializer threw), and ModelInfer
 * can read tensor bytes as views of the received buffer.
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
