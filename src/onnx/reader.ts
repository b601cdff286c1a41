import { readFile } from 'node:fs/promises';
import { dataTypeInfo, fromOnnxType, type DataType, type NumericArray } from '../runtime/datatypes';
import { SluiceError, internal, invalidArgument, notFound, unimplemented } from '../runtime/status';
import {
  MAX_IR_VERSION, int64ToBigInt, int64ToSafeNumber, onnxElemTypeName, onnxType,
  type GraphMsg, type ModelMsg, type TensorMsg, type ValueInfoMsg,
} from './onnx-proto';
import type { OnnxSignature, OnnxValueInfo } from './signature';

/**
 * Reads what Sluice needs from ONNX files: a model's signature (without running it) and single
 * TensorProto files (the conformance suite's inputs and expected outputs).
 *
 * Errors: bytes that are not a usable ONNX model or tensor → INVALID_ARGUMENT; valid ONNX that
 * Sluice cannot carry (non-tensor graph inputs, FP8/INT4/complex tensors, external data) →
 * UNIMPLEMENTED. Messages name the source and the reason.
 */

/** The default ONNX domain has two spellings; the signature uses "" for both. */
const normalizeDomain = (domain: string): string => (domain === 'ai.onnx' ? '' : domain);

export async function readOnnxSignatureFile(file: string): Promise<OnnxSignature> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`ONNX model ${file}: file not found`);
    throw internal(`ONNX model ${file}: cannot read: ${(e as Error).message}`, e);
  }
  return readOnnxSignature(bytes, file);
}

export function readOnnxSignature(bytes: Uint8Array, source = '<bytes>'): OnnxSignature {
  return signatureOf(decodeOnnxModel(bytes, source), source);
}

/** Decodes a ModelProto; INVALID_ARGUMENT when the bytes are not one. */
export function decodeOnnxModel(bytes: Uint8Array, source = '<bytes>'): ModelMsg {
  try {
    return onnxType('ModelProto').decode(bytes) as unknown as ModelMsg;
  } catch (e) {
    throw invalidArgument(`ONNX model ${source}: not an ONNX protobuf (${(e as Error).message})`);
  }
}

/** The signature of a decoded model, validated as readOnnxSignature describes. */
export function signatureOf(model: ModelMsg, source = '<bytes>'): OnnxSignature {
  const fail = (reason: string): SluiceError => invalidArgument(`ONNX model ${source}: ${reason}`);
  const irVersion = int64ToSafeNumber(model.ir_version) ?? 0;
  if (irVersion < 1) throw fail('no ir_version (not an ONNX model?)');
  if (irVersion > MAX_IR_VERSION) {
    throw fail(`IR version ${irVersion} is newer than the newest this build reads (${MAX_IR_VERSION})`);
  }
  const graph = model.graph;
  if (graph === null) throw fail('no graph');

  const opsets = new Map<string, number>();
  for (const o of model.opset_import) opsets.set(normalizeDomain(o.domain), int64ToSafeNumber(o.version) ?? 0);

  const initialized = new Set<string>(graph.initializer.map((t) => t.name));
  for (const s of graph.sparse_initializer) if (s.values !== null) initialized.add(s.values.name);
  const valueInfo = (kind: 'input' | 'output') => (v: ValueInfoMsg): OnnxValueInfo =>
    tensorValueInfo(v, `${kind} '${v.name}'`, source);

  return {
    irVersion,
    opsets,
    producerName: model.producer_name,
    inputs: graph.input.filter((v) => !initialized.has(v.name)).map(valueInfo('input')),
    outputs: graph.output.map(valueInfo('output')),
    opTypes: [...collectOpTypes(graph, new Set<string>())],
  };
}

function tensorValueInfo(v: ValueInfoMsg, what: string, source: string): OnnxValueInfo {
  const type = v.type;
  if (type === null || type.value === undefined) throw invalidArgument(`ONNX model ${source}: ${what} has no type`);
  if (type.value !== 'tensor_type' || type.tensor_type === null) {
    throw unimplemented(`ONNX model ${source}: ${what} has ${type.value.replace('_type', '')} type; ` +
      'only tensor inputs and outputs are supported');
  }
  const tensor = type.tensor_type;
  if (tensor.elem_type === 0) throw invalidArgument(`ONNX model ${source}: ${what} has no element type`);
  // A missing shape means unknown rank, which no KServe client can be told about.
  if (tensor.shape === null) throw invalidArgument(`ONNX model ${source}: ${what} has no shape (unknown rank)`);
  const shape = tensor.shape.dim.map((d) => {
    if (d.value !== 'dim_value') return -1;
    const n = int64ToSafeNumber(d.dim_value);
    if (n === undefined || n < 0) throw invalidArgument(`ONNX model ${source}: ${what} has a bad dim ${String(d.dim_value)}`);
    return n;
  });
  return { name: v.name, datatype: fromOnnxType(tensor.elem_type), onnxElemType: tensor.elem_type, shape };
}

/** Op types of a graph and of its subgraphs (If/Loop/Scan bodies), in first-use order. */
function collectOpTypes(graph: GraphMsg, into: Set<string>): Set<string> {
  for (const node of graph.node) {
    const domain = normalizeDomain(node.domain);
    into.add(domain === '' ? node.op_type : `${domain}:${node.op_type}`);
    for (const a of node.attribute) {
      if (a.g !== null) collectOpTypes(a.g, into);
      for (const g of a.graphs) collectOpTypes(g, into);
    }
  }
  return into;
}

/** A TensorProto's contents, in the same element layout as the runtime's Tensor. */
export interface OnnxTensor {
  readonly name: string;
  readonly datatype: DataType;
  readonly dims: readonly number[];
  /** product(dims) elements; BYTES as one Uint8Array per element. */
  readonly data: NumericArray | Uint8Array[];
}

/**
 * Decodes one serialized TensorProto (e.g. a conformance input_0.pb). Elements come from
 * raw_data (little-endian, copied so the result is aligned and owns its memory) or from the
 * typed field the ONNX spec assigns to the element type.
 */
export function readTensorProto(bytes: Uint8Array, source = '<bytes>'): OnnxTensor {
  let t: TensorMsg;
  try {
    t = onnxType('TensorProto').decode(bytes) as unknown as TensorMsg;
  } catch (e) {
    throw invalidArgument(`ONNX tensor ${source}: not a TensorProto (${(e as Error).message})`);
  }
  return tensorFromMsg(t, source);
}

/** A decoded TensorProto message (an initializer, a Constant's value) as an OnnxTensor. */
export function tensorFromMsg(t: TensorMsg, source: string): OnnxTensor {
  const what = `ONNX tensor ${source}${t.name === '' ? '' : ` '${t.name}'`}`;
  const datatype = fromOnnxType(t.data_type);
  if (datatype === undefined) {
    throw t.data_type === 0
      ? invalidArgument(`${what}: no data_type`)
      : unimplemented(`${what}: element type ${onnxElemTypeName(t.data_type)} is not supported`);
  }
  if (t.data_location === 1 || t.external_data.length > 0) {
    throw unimplemented(`${what}: data stored outside the file (external_data) is not supported`);
  }
  const dims = t.dims.map((d) => {
    const n = int64ToSafeNumber(d);
    if (n === undefined || n < 0) throw invalidArgument(`${what}: bad dim ${String(d)}`);
    return n;
  });
  const count = dims.reduce((a, b) => a * b, 1);
  return { name: t.name, datatype, dims, data: tensorData(t, datatype, count, what) };
}

/** Non-BYTES arrays whose elements are JS numbers (every type int32_data can carry). */
type NumberArray = Exclude<NumericArray, BigInt64Array | BigUint64Array>;

function tensorData(t: TensorMsg, datatype: DataType, count: number, what: string): NumericArray | Uint8Array[] {
  const check = (field: string, have: number): void => {
    if (have !== count) throw invalidArgument(`${what}: ${field} holds ${have} elements, dims say ${count}`);
  };
  if (datatype === 'BYTES') {
    check('string_data', t.string_data.length);
    return t.string_data.map((s) => Uint8Array.from(s));
  }
  const info = dataTypeInfo(datatype);
  const Ctor = info.array;
  if (Ctor === undefined) throw internal(`no typed array for ${datatype}`);
  if (t.raw_data.length > 0) {
    if (t.raw_data.length !== count * info.size) {
      throw invalidArgument(`${what}: raw_data holds ${t.raw_data.length} bytes, dims say ${count} × ${info.size}`);
    }
    // Node is little-endian on every platform Sluice targets, so raw_data maps onto typed arrays.
    const copy = new Uint8Array(t.raw_data.length);
    copy.set(t.raw_data);
    return new Ctor(copy.buffer, 0, count);
  }
  switch (datatype) {
    case 'FP32': check('float_data', t.float_data.length); return Float32Array.from(t.float_data);
    case 'FP64': check('double_data', t.double_data.length); return Float64Array.from(t.double_data);
    case 'INT64': check('int64_data', t.int64_data.length); return BigInt64Array.from(t.int64_data, int64ToBigInt);
    case 'UINT64': check('uint64_data', t.uint64_data.length); return BigUint64Array.from(t.uint64_data, int64ToBigInt);
    case 'UINT32':
      check('uint64_data', t.uint64_data.length);
      return Uint32Array.from(t.uint64_data, (v) => Number(int64ToBigInt(v)));
    default: {
      // INT32, INT16, INT8, UINT16, UINT8, BOOL, FP16, BF16: one element per int32_data entry
      // (16-bit floats as their bit pattern); the typed array's store truncates to its width.
      check('int32_data', t.int32_data.length);
      const out = new Ctor(count) as NumberArray;
      out.set(t.int32_data);
      return out;
    }
  }
}
