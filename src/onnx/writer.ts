import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { invalidArgument } from '../runtime/status';
import { onnxType } from './onnx-proto';

/**
 * A small typed ONNX model builder for scripts and tests: one graph, tensor inputs and outputs,
 * initializers stored as raw_data. It checks what it can cheaply (names, shapes, data lengths,
 * attribute kinds) and leaves operator semantics to whoever loads the model.
 *
 * Attributes are tagged (`attr.int(1)` vs `attr.float(1)`) because a JS number alone cannot say
 * which ONNX attribute type an operator expects, and a wrong one fails to load.
 */

/** A shape dim: a non-negative integer, or a name (dim_param) for a symbolic dim like "batch". */
export type Dim = number | string;

export interface ValueSpec {
  readonly name: string;
  readonly datatype: DataType;
  readonly shape: readonly Dim[];
}

/** A constant tensor (initializer or tensor attribute); `data` must be `datatype`'s typed array. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: DataType;
  readonly dims: readonly number[];
  readonly data: NumericArray;
}

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number | bigint }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: TensorSpec }
  | { readonly kind: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] };

/** Constructors for tagged attribute values. */
export const attr = {
  int: (value: number | bigint): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  tensor: (value: TensorSpec): AttrValue => ({ kind: 'tensor', value }),
  ints: (value: readonly (number | bigint)[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttrValue => ({ kind: 'floats', value }),
  strings: (value: readonly string[]): AttrValue => ({ kind: 'strings', value }),
};

export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  /** Operator set domain; omit for the default ONNX domain (then import it in `opsets`). */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttrValue>>;
}

export interface ModelSpec {
  /** Default 8 (ONNX 1.10+; every onnxruntime since 1.10 loads it). */
  readonly irVersion?: number;
  /** Default-domain opset version; default 17. */
  readonly opset?: number;
  /** Extra operator set imports, domain → version, for nodes with a `domain`. */
  readonly opsets?: Readonly<Record<string, number>>;
  /** Default "sluice". */
  readonly producer?: string;
  /** Default "main". */
  readonly graphName?: string;
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly TensorSpec[];
  readonly nodes: readonly NodeSpec[];
}

/** ONNX AttributeProto.AttributeType values. */
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7, strings: 8 } as const;

const utf8 = new TextEncoder();

/** Serializes `spec` as an ONNX ModelProto. */
export function buildModel(spec: ModelSpec): Uint8Array {
  const opsetImport = [{ domain: '', version: spec.opset ?? 17 }];
  for (const [domain, version] of Object.entries(spec.opsets ?? {})) opsetImport.push({ domain, version });
  const model = {
    ir_version: spec.irVersion ?? 8,
    producer_name: spec.producer ?? 'sluice',
    opset_import: opsetImport,
    graph: {
      name: spec.graphName ?? 'main',
      input: spec.inputs.map(valueInfoProto),
      output: spec.outputs.map(valueInfoProto),
      initializer: (spec.initializers ?? []).map(tensorProto),
      node: spec.nodes.map(nodeProto),
    },
  };
  const Model = onnxType('ModelProto');
  return Model.encode(Model.fromObject(model)).finish();
}

function valueInfoProto(v: ValueSpec): object {
  const dim = v.shape.map((d) => {
    if (typeof d === 'string') return { dim_param: d };
    if (!Number.isSafeInteger(d) || d < 0) throw invalidArgument(`value '${v.name}': bad dim ${d}`);
    return { dim_value: d };
  });
  return { name: v.name, type: { tensor_type: { elem_type: dataTypeInfo(v.datatype).onnx, shape: { dim } } } };
}

function tensorProto(t: TensorSpec): object {
  const info = dataTypeInfo(t.datatype);
  if (info.array === undefined || !(t.data instanceof info.array)) {
    throw invalidArgument(`tensor '${t.name}': data must be the typed array for ${t.datatype}`);
  }
  for (const d of t.dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw invalidArgument(`tensor '${t.name}': bad dim ${d}`);
  }
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.data.length !== count) {
    throw invalidArgument(`tensor '${t.name}': ${t.data.length} elements for dims [${t.dims.join(', ')}]`);
  }
  return {
    name: t.name,
    data_type: info.onnx,
    dims: t.dims,
    // Typed arrays are little-endian on every platform Sluice targets, as raw_data requires.
    raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}

function nodeProto(n: NodeSpec): object {
  const attribute = Object.entries(n.attributes ?? {}).map(([name, a]) => attributeProto(n, name, a));
  return { op_type: n.opType, input: n.inputs, output: n.outputs, name: n.name ?? '', domain: n.domain ?? '', attribute };
}

function attributeProto(n: NodeSpec, name: string, a: AttrValue): object {
  const int = (v: number | bigint): string => {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) {
      throw invalidArgument(`node ${n.name ?? n.opType}: attribute '${name}' needs integers, got ${v}`);
    }
    return String(v); // protobufjs takes 64-bit integers as decimal strings, exactly
  };
  const base = { name, type: ATTR_TYPE[a.kind] };
  switch (a.kind) {
    case 'int': return { ...base, i: int(a.value) };
    case 'float': return { ...base, f: a.value };
    case 'string': return { ...base, s: utf8.encode(a.value) };
    case 'tensor': return { ...base, t: tensorProto(a.value) };
    case 'ints': return { ...base, ints: a.value.map(int) };
    case 'floats': return { ...base, floats: a.value };
    case 'strings': return { ...base, strings: a.value.map((s) => utf8.encode(s)) };
  }
}
