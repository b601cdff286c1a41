import type { DataType } from '../runtime/datatypes';

/**
 * What the repository needs to know about an ONNX file without running it.
 * A dim is a non-negative number, or -1 when symbolic/unknown (dim_param or missing).
 */
export interface OnnxValueInfo {
  readonly name: string;
  /** undefined when the element type is one Sluice cannot carry (the raw ONNX number is kept). */
  readonly datatype: DataType | undefined;
  readonly onnxElemType: number;
  readonly shape: readonly number[];
}

export interface OnnxSignature {
  readonly irVersion: number;
  readonly opsets: ReadonlyMap<string, number>;
  readonly producerName: string;
  /** Graph inputs that are not initializers, in graph order. */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** Distinct op types used by the graph ("domain:op" when the domain is not the default). */
  readonly opTypes: readonly string[];
}
