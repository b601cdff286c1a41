import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { invalidArgument } from '../runtime/status';
import { int64ToSafeNumber, onnxType, type Int64 } from '../onnx/onnx-proto';
import { readTensorProto, type OnnxTensor } from '../onnx/reader';

/**
 * An ONNX model as a plain, editable object (protobufjs `toObject` of ModelProto, snake_case
 * fields as in proto/onnx.proto), for the passes that rewrite graphs: calibration adds outputs,
 * the QDQ writer adds nodes and initializers. Fields these passes do not name survive the round
 * trip untouched (they ride along in the index signatures); unknown protobuf fields do not.
 */

export interface AttributeObj {
  name: string;
  type?: number;
  i?: Int64;
  f?: number;
  ints?: Int64[];
  [field: string]: unknown;
}

export interface NodeObj {
  input: string[];
  output: string[];
  name?: string;
  op_type: string;
  domain?: string;
  attribute: AttributeObj[];
  [field: string]: unknown;
}

export interface TensorObj {
  name: string;
  data_type: number;
  dims: Int64[];
  raw_data?: Uint8Array;
  [field: string]: unknown;
}

export interface ValueInfoObj {
  name: string;
  type?: unknown;
  [field: string]: unknown;
}

export interface GraphObj {
  node: NodeObj[];
  initializer: TensorObj[];
  input: ValueInfoObj[];
  output: ValueInfoObj[];
  value_info: ValueInfoObj[];
  [field: string]: unknown;
}

export interface OpsetObj { domain?: string; version: Int64 }

export interface ModelObj {
  ir_version: Int64;
  opset_import: OpsetObj[];
  graph: GraphObj;
  [field: string]: unknown;
}

/** ONNX AttributeProto.AttributeType values used here. */
export const ATTR_INT = 2;
export const ATTR_INTS = 7;

const isDefaultDomain = (domain: string | undefined): boolean =>
  domain === undefined || domain === '' || domain === 'ai.onnx';

export function decodeModel(bytes: Uint8Array, source: string): ModelObj {
  const Model = onnxType('ModelProto');
  let model: ModelObj;
  try {
    // arrays: every repeated field present (possibly empty), so passes can push without checks.
    model = Model.toObject(Model.decode(bytes), { arrays: true }) as unknown as ModelObj;
  } catch (e) {
    throw invalidArgument(`ONNX model ${source}: not an ONNX protobuf (${(e as Error).message})`);
  }
  if (model.graph === undefined || model.graph === null) throw invalidArgument(`ONNX model ${source}: no graph`);
  return model;
}

export function encodeModel(model: ModelObj): Uint8Array {
  const Model = onnxType('ModelProto');
  return Model.encode(Model.fromObject(model)).finish();
}

/** True for nodes of the default ONNX domain. */
export function isOnnxOp(node: NodeObj, opType: string): boolean {
  return node.op_type === opType && isDefaultDomain(node.domain);
}

/** The default-domain opset the model imports (0 when it imports none). */
export function defaultOpset(model: ModelObj): number {
  const entry = model.opset_import.find((o) => isDefaultDomain(o.domain));
  return entry === undefined ? 0 : int64ToSafeNumber(entry.version) ?? 0;
}

export function setDefaultOpset(model: ModelObj, version: number): void {
  const entry = model.opset_import.find((o) => isDefaultDomain(o.domain));
  if (entry === undefined) model.opset_import.push({ domain: '', version });
  else entry.version = version;
}

/** An int attribute's value, or `fallback` when the node does not set it. */
export function intAttribute(node: NodeObj, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  if (a === undefined || a.i === undefined) return fallback;
  const n = int64ToSafeNumber(a.i);
  if (n === undefined) throw invalidArgument(`node ${nodeLabel(node)}: attribute '${name}' is out of range`);
  return n;
}

export function nodeLabel(node: NodeObj): string {
  return node.name !== undefined && node.name !== '' ? `'${node.name}' (${node.op_type})` : `${node.op_type} → ${node.output.join(', ')}`;
}

/** An initializer's elements (raw_data or the typed field), as the reader decodes TensorProto files. */
export function initializerValues(t: TensorObj): OnnxTensor {
  const Tensor = onnxType('TensorProto');
  return readTensorProto(Tensor.encode(Tensor.fromObject(t)).finish(), `initializer '${t.name}'`);
}

/** A new initializer holding `data` (the typed array for `datatype`) as little-endian raw_data. */
export function makeInitializer(name: string, datatype: DataType, dims: readonly number[], data: NumericArray): TensorObj {
  const info = dataTypeInfo(datatype);
  if (info.array === undefined || !(data instanceof info.array)) {
    throw new TypeError(`initializer '${name}': data must be the typed array for ${datatype}`);
  }
  return {
    name,
    data_type: info.onnx,
    dims: [...dims],
    raw_data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

/** Every name a graph already uses (values and nodes), for picking fresh ones. */
export function usedNames(graph: GraphObj): Set<string> {
  const names = new Set<string>();
  for (const v of [...graph.input, ...graph.output, ...graph.value_info, ...graph.initializer]) names.add(v.name);
  for (const n of graph.node) {
    for (const x of [...n.input, ...n.output]) names.add(x);
    if (n.name !== undefined) names.add(n.name);
  }
  return names;
}

/** `base`, or `base_1`, `base_2`, ... — the first not in `used`; the result is added to `used`. */
export function freshName(used: Set<string>, base: string): string {
  let name = base;
  for (let k = 1; used.has(name); k++) name = `${base}_${k}`;
  used.add(name);
  return name;
}
