import { dataTypeInfo } from '../runtime/datatypes';
import { SluiceError, invalidArgument, printable } from '../runtime/status';
import type { NativeAttribute, NativeGraph, NativeTensorData, NativeValueInfo } from '../native/binding';
import { int64ToBigInt, type AttributeMsg, type TensorMsg } from './onnx-proto';
import { decodeOnnxModel, signatureOf, tensorFromMsg } from './reader';

/**
 * ONNX model bytes → the compact graph the native engine loads (src/native/binding.ts NativeGraph):
 * nodes with typed attributes, initializers as raw little-endian bytes, inputs and outputs with
 * ONNX element type numbers (the engine's DType). Operator semantics are the engine's business;
 * this only refuses what cannot be expressed in the compact form, and says why.
 *
 * `problems` lists what keeps the engine from running the model although the file is valid ONNX
 * (a subgraph attribute, string tensors, a non-default domain is left to the engine to name), so
 * `backend: auto` can fall back to ONNX Runtime with a reason. A malformed file throws.
 */
export interface ImportedGraph {
  readonly graph: NativeGraph;
  readonly problems: readonly string[];
}

/** AttributeProto.AttributeType values the compact graph carries. */
const ATTR_KIND: Readonly<Record<number, NativeAttribute['kind']>> = {
  1: 'float', 2: 'int', 3: 'string', 4: 'tensor', 6: 'floats', 7: 'ints', 8: 'strings',
};
const ATTR_TYPE_NAME: Readonly<Record<number, string>> = {
  5: 'GRAPH', 9: 'TENSORS', 10: 'GRAPHS', 11: 'SPARSE_TENSOR', 12: 'SPARSE_TENSORS', 13: 'TYPE_PROTO', 14: 'TYPE_PROTOS',
};

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function importOnnxGraph(bytes: Uint8Array, source = '<bytes>'): ImportedGraph {
  // One decode (models can be hundreds of MB); the signature validates it and its inputs/outputs.
  const model = decodeOnnxModel(bytes, source);
  const signature = signatureOf(model, source);
  const graph = model.graph;
  if (graph === null) throw invalidArgument(`ONNX model ${source}: no graph`);
  const problems: string[] = [];

  const valueInfo = (v: { name: string; onnxElemType: number; shape: readonly number[] }): NativeValueInfo =>
    ({ name: v.name, dtype: v.onnxElemType, dims: [...v.shape] });
  const initializers: NativeTensorData[] = [];
  for (const t of graph.initializer) {
    const data = tensorBytes(t, `${source} initializer`, problems);
    if (data !== undefined) initializers.push(data);
  }
  if (graph.sparse_initializer.length > 0) problems.push('sparse initializers are not supported');

  const nodes = graph.node.map((n, index) => {
    const label = `node ${n.name !== '' ? `'${printable(n.name, 80)}'` : `#${index}`} (${printable(n.op_type, 40)})`;
    const attributes: NativeAttribute[] = [];
    for (const a of n.attribute) {
      const attr = attribute(a, `${source} ${label}`, problems);
      if (attr !== undefined) attributes.push(attr);
    }
    return { name: n.name, opType: n.op_type, domain: n.domain === 'ai.onnx' ? '' : n.domain,
      inputs: [...n.input], outputs: [...n.output], attributes };
  });

  return {
    graph: {
      opset: signature.opsets.get('') ?? 0,
      inputs: signature.inputs.map(valueInfo),
      outputs: signature.outputs.map(valueInfo),
      initializers,
      nodes,
    },
    problems,
  };
}

/** A TensorProto as raw bytes; undefined (with a problem) for tensors the engine cannot hold. */
function tensorBytes(t: TensorMsg, source: string, problems: string[]): NativeTensorData | undefined {
  let tensor;
  try {
    tensor = tensorFromMsg(t, source);
  } catch (e) {
    // Unsupported element types and external data are reasons to fall back; malformed data is not.
    if (e instanceof SluiceError && e.code === 'UNIMPLEMENTED') { problems.push(e.message); return undefined; }
    throw e;
  }
  if (tensor.datatype === 'BYTES' || Array.isArray(tensor.data)) {
    problems.push(`tensor '${printable(t.name, 80)}': string tensors are not supported`);
    return undefined;
  }
  const data = tensor.data as ArrayBufferView;
  return {
    name: tensor.name,
    dtype: dataTypeInfo(tensor.datatype).onnx,
    dims: [...tensor.dims],
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function attribute(a: AttributeMsg, where: string, problems: string[]): NativeAttribute | undefined {
  const what = `${where} attribute '${printable(a.name, 80)}'`;
  if (a.ref_attr_name !== '') {
    problems.push(`${what} refers to a function attribute (functions are not supported)`);
    return undefined;
  }
  const kind = ATTR_KIND[a.type];
  if (kind === undefined) {
    const name = ATTR_TYPE_NAME[a.type];
    if (name === undefined) throw invalidArgument(`${what}: unknown attribute type ${a.type}`);
    problems.push(`${what} has type ${name} (not supported)`);
    return undefined;
  }
  switch (kind) {
    case 'float': return { name: a.name, kind, value: a.f };
    case 'int': return { name: a.name, kind, value: int64ToBigInt(a.i) };
    case 'string': return { name: a.name, kind, value: utf8.decode(a.s) };
    case 'floats': return { name: a.name, kind, value: Float32Array.from(a.floats) };
    case 'ints': return { name: a.name, kind, value: BigInt64Array.from(a.ints, int64ToBigInt) };
    case 'strings': return { name: a.name, kind, value: a.strings.map((s) => utf8.decode(s)) };
    case 'tensor': {
      if (a.t === null) throw invalidArgument(`${what}: TENSOR attribute without a tensor`);
      const t = tensorBytes(a.t, what, problems);
      return t === undefined ? undefined : { name: a.name, kind, value: t };
    }
  }
}
