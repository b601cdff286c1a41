import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import type { Long } from 'protobufjs';

/**
 * proto/onnx.proto loaded once with protobufjs (keepCase: field names stay snake_case, as in the
 * .proto), plus the decoded shapes of the messages Sluice reads. The interfaces describe what
 * `Type.decode` returns: repeated fields are always arrays, scalars fall back to their proto3
 * defaults, absent sub-messages are null, and 64-bit integers arrive as Long (the `long`
 * package is installed, so protobufjs never hands back lossy numbers).
 */

/** proto/ at the package root; this file compiles to dist/src/onnx/. */
const PROTO_DIR = path.resolve(__dirname, '..', '..', '..', 'proto');

/** The newest ONNX IR version proto/onnx.proto describes (onnx.Version.IR_VERSION). */
export const MAX_IR_VERSION = 13;

export type Int64 = Long | number;

export interface StringStringEntryMsg { readonly key: string; readonly value: string }

export interface TensorMsg {
  readonly name: string;
  readonly dims: readonly Int64[];
  readonly data_type: number;
  readonly raw_data: Uint8Array;
  readonly float_data: readonly number[];
  readonly int32_data: readonly number[];
  readonly string_data: readonly Uint8Array[];
  readonly int64_data: readonly Int64[];
  readonly double_data: readonly number[];
  readonly uint64_data: readonly Int64[];
  readonly data_location: number;
  readonly external_data: readonly StringStringEntryMsg[];
}

export interface SparseTensorMsg { readonly values: TensorMsg | null }

export interface DimensionMsg {
  /** The oneof's set member, undefined when the dim is neither fixed nor named. */
  readonly value?: 'dim_value' | 'dim_param';
  readonly dim_value: Int64;
  readonly dim_param: string;
}

export interface TypeMsg {
  /** Which kind of value: only tensor_type carries an element type and shape. */
  readonly value?: 'tensor_type' | 'sequence_type' | 'map_type' | 'optional_type' | 'sparse_tensor_type';
  readonly tensor_type: { readonly elem_type: number; readonly shape: { readonly dim: readonly DimensionMsg[] } | null } | null;
}

export interface ValueInfoMsg { readonly name: string; readonly type: TypeMsg | null }

export interface AttributeMsg {
  readonly name: string;
  /** AttributeProto.AttributeType (FLOAT 1, INT 2, STRING 3, TENSOR 4, GRAPH 5, FLOATS 6, ...). */
  readonly type: number;
  /** Set in function bodies only: the attribute refers to the calling node's attribute. */
  readonly ref_attr_name: string;
  readonly f: number;
  readonly i: Int64;
  readonly s: Uint8Array;
  readonly t: TensorMsg | null;
  readonly g: GraphMsg | null;
  readonly floats: readonly number[];
  readonly ints: readonly Int64[];
  readonly strings: readonly Uint8Array[];
  readonly graphs: readonly GraphMsg[];
}

export interface NodeMsg {
  readonly name: string;
  readonly op_type: string;
  readonly domain: string;
  readonly input: readonly string[];
  readonly output: readonly string[];
  readonly attribute: readonly AttributeMsg[];
}

export interface GraphMsg {
  readonly name: string;
  readonly node: readonly NodeMsg[];
  readonly initializer: readonly TensorMsg[];
  readonly sparse_initializer: readonly SparseTensorMsg[];
  readonly input: readonly ValueInfoMsg[];
  readonly output: readonly ValueInfoMsg[];
}

export interface OperatorSetIdMsg { readonly domain: string; readonly version: Int64 }

export interface ModelMsg {
  readonly ir_version: Int64;
  readonly producer_name: string;
  readonly opset_import: readonly OperatorSetIdMsg[];
  readonly graph: GraphMsg | null;
}

let onnxRoot: protobuf.Root | undefined;

/** The protobufjs root holding `onnx.*` (loaded synchronously on first use). */
function onnxProtoRoot(): protobuf.Root {
  if (onnxRoot === undefined) {
    const root = new protobuf.Root();
    root.loadSync(path.join(PROTO_DIR, 'onnx.proto'), { keepCase: true });
    root.resolveAll();
    onnxRoot = root;
  }
  return onnxRoot;
}

export function onnxType(name: 'ModelProto' | 'TensorProto'): protobuf.Type {
  return onnxProtoRoot().lookupType(`onnx.${name}`);
}

/** TensorProto.DataType value → its ONNX name ("FLOAT8E4M3FN"), for error messages. */
export function onnxElemTypeName(elemType: number): string {
  return onnxProtoRoot().lookupEnum('onnx.TensorProto.DataType').valuesById[elemType] ?? `#${elemType}`;
}

/** A decoded 64-bit protobuf integer as an exact bigint (Long keeps its signedness). */
export function int64ToBigInt(v: Int64): bigint {
  if (typeof v === 'number') return BigInt(v);
  const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return v.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** A decoded 64-bit integer as a number, or undefined when it is not a safe integer. */
export function int64ToSafeNumber(v: Int64): number | undefined {
  const n = Number(int64ToBigInt(v));
  return Number.isSafeInteger(n) ? n : undefined;
}
