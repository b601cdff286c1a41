import type { Tensor } from '../runtime/tensor';

/** An output the client asked for. */
export interface RequestedOutput {
  name: string;
  /** HTTP only: `binary_data` on the output; undefined = not said (gRPC outputs are always raw). */
  binary: boolean | undefined;
}

/**
 * A protocol request after wire-level validation (codec/) and before model-level validation
 * (runtime/). Every input tensor has a known datatype, a safe shape and exactly the data that shape
 * needs; names are unique. Whether those inputs and outputs fit the model is not yet known.
 */
export interface DecodedInferRequest {
  modelName: string;
  /** "" = let the runtime/router choose. Not validated here. */
  modelVersion: string;
  /** "" when the client sent none. */
  id: string;
  /** In request order. Tensors may alias the request's bytes (see raw.ts). */
  inputs: Map<string, Tensor>;
  /** In request order; empty = every model output. */
  outputs: RequestedOutput[];
  options: {
    /** 0 = default level; lower = higher priority. */
    priority: number | undefined;
    /** Queue timeout, microseconds. */
    timeoutMicroseconds: number | undefined;
  };
}
