import { invalidArgument, unimplemented } from '../runtime/status';
import { int64ToSafeNumber } from '../onnx/onnx-proto';
import type { TensorRange } from './calibrate';
import {
  ATTR_INT, defaultOpset, freshName, makeInitializer, nodeLabel, setDefaultOpset, usedNames,
  type AttributeObj, type GraphObj, type ModelObj, type NodeObj, type TensorObj,
} from './model-object';
import { activationParams, quantizeWeights } from './quant-math';
import { weightValues, type QuantTarget } from './targets';

/**
 * Rewrites a model into standard ONNX QDQ form around its MatMul/Gemm nodes:
 *
 *   W (FP32 initializer)  →  W_quantized (INT8) ─DequantizeLinear(axis = output channel)→ MatMul/Gemm
 *   x (FP32 activation)   →  QuantizeLinear(uint8, per tensor) → DequantizeLinear ───────→ MatMul/Gemm
 *
 * Everything else, Gemm's bias included, stays as it was. Q/DQ nodes go right before the first
 * node that needs them, so the node list stays topologically sorted; an activation read by
 * several MatMul/Gemm nodes is quantized once. A float weight no other node reads is dropped.
 * The result is what ONNX Runtime's quantizer writes for static QDQ, so ORT (which fuses it into
 * integer kernels) and Sluice's native engine both run it.
 */

/** Per-axis DequantizeLinear needs opset 13. */
export const MIN_QDQ_OPSET = 13;

/**
 * Ops whose meaning is the same at opset 13 as at every opset from 7, so raising a model's opset
 * to 13 cannot change what it computes. (Softmax, Split, Squeeze, Reduce*, Pad, Clip, ... changed
 * and are not here: such models need re-exporting at opset 13 or later.)
 */
const OPSET_STABLE_OPS = new Set([
  'Abs', 'Add', 'And', 'ArgMax', 'ArgMin', 'Ceil', 'Concat', 'Constant', 'Cos', 'Div', 'Elu', 'Equal', 'Erf', 'Exp',
  'Flatten', 'Floor', 'Gather', 'Gemm', 'Greater', 'HardSigmoid', 'Identity', 'LeakyRelu', 'Less', 'Log', 'MatMul',
  'Max', 'Mean', 'Min', 'Mul', 'Neg', 'Not', 'Or', 'PRelu', 'Pow', 'Reciprocal', 'Relu', 'Reshape', 'Selu', 'Shape',
  'Sigmoid', 'Sign', 'Sin', 'Softplus', 'Softsign', 'Sqrt', 'Sub', 'Sum', 'Tanh', 'Transpose', 'Where', 'Xor',
]);

export interface QuantizedNodeSummary {
  readonly node: string;
  readonly opType: string;
  /** Weight initializers made int8, with their channel axis (null: one scale). */
  readonly weights: readonly { readonly name: string; readonly axis: number | null; readonly channels: number }[];
  /** Activation tensors given Q/DQ. */
  readonly activations: readonly string[];
}

export interface QdqSummary {
  readonly nodes: readonly QuantizedNodeSummary[];
  readonly skipped: readonly { readonly node: string; readonly reason: string }[];
  /** The default-domain opset before, when it had to be raised to MIN_QDQ_OPSET. */
  readonly opsetRaisedFrom?: number;
}

export interface QdqResult {
  readonly model: ModelObj;
  readonly summary: QdqSummary;
}

/** Rewrites `model` in place (and returns it). `ranges` must cover the targets' activations. */
export function writeQdq(model: ModelObj, targets: readonly QuantTarget[], ranges: ReadonlyMap<string, TensorRange>,
  alreadySkipped: readonly { readonly node: string; readonly reason: string }[] = []): QdqResult {
  const graph = model.graph;
  const opsetRaisedFrom = raiseOpset(model);
  const used = usedNames(graph);
  const added: TensorObj[] = [];
  /** tensor name (or weight name + axis) → the name of its DequantizeLinear output. */
  const dequantized = new Map<string, string>();
  const before = new Map<number, NodeObj[]>(); // node index → Q/DQ nodes to emit before it
  const summaries: QuantizedNodeSummary[] = [];
  const skipped = [...alreadySkipped];

  for (const target of targets) {
    const pending: NodeObj[] = [];
    const activations: string[] = [];
    for (const [inputIndex, tensor] of target.activations) {
      const range = ranges.get(tensor);
      if (range === undefined) throw invalidArgument(`no calibration range for '${tensor}'`);
      if (range.type !== 'float32') continue; // e.g. an integer MatMul: nothing to quantize
      if (!dequantized.has(tensor)) {
        if (!Number.isFinite(range.min)) throw invalidArgument(`calibration saw no values of '${tensor}'`);
        const p = activationParams(range.min, range.max);
        const scale = freshName(used, `${tensor}_scale`);
        const zero = freshName(used, `${tensor}_zero_point`);
        const q = freshName(used, `${tensor}_quantized`);
        const dq = freshName(used, `${tensor}_dequantized`);
        added.push(makeInitializer(scale, 'FP32', [], Float32Array.of(p.scale)));
        added.push(makeInitializer(zero, 'UINT8', [], Uint8Array.of(p.zeroPoint)));
        pending.push(node('QuantizeLinear', freshName(used, `${tensor}_QuantizeLinear`), [tensor, scale, zero], q));
        pending.push(node('DequantizeLinear', freshName(used, `${tensor}_DequantizeLinear`), [q, scale, zero], dq));
        dequantized.set(tensor, dq);
      }
      target.node.input[inputIndex] = dequantized.get(tensor) as string;
      activations.push(tensor);
    }
    const weights: QuantizedNodeSummary['weights'][number][] = [];
    for (const w of target.weights) {
      const name = w.initializer.name;
      const key = `${name}\u0000${w.axis ?? ''}`;
      const { data, dims } = weightValues(w.initializer);
      if (!dequantized.has(key)) {
        const { values, scales } = quantizeWeights(data, dims, w.axis);
        const qName = freshName(used, `${name}_quantized`);
        const scale = freshName(used, `${name}_scale`);
        const zero = freshName(used, `${name}_zero_point`);
        const dq = freshName(used, `${name}_dequantized`);
        const paramDims = w.axis === undefined ? [] : [scales.length];
        added.push(makeInitializer(qName, 'INT8', dims, values));
        added.push(makeInitializer(scale, 'FP32', paramDims, scales));
        added.push(makeInitializer(zero, 'INT8', paramDims, new Int8Array(scales.length)));
        const attrs: AttributeObj[] = w.axis === undefined ? [] : [{ name: 'axis', type: ATTR_INT, i: w.axis }];
        pending.push(node('DequantizeLinear', freshName(used, `${name}_DequantizeLinear`), [qName, scale, zero], dq, attrs));
        dequantized.set(key, dq);
      }
      target.node.input[w.inputIndex] = dequantized.get(key) as string;
      weights.push({ name, axis: w.axis ?? null, channels: w.axis === undefined ? 1 : (dims[w.axis] as number) });
    }
    if (weights.length === 0 && activations.length === 0) {
      skipped.push({ node: nodeLabel(target.node), reason: 'no FP32 input to quantize' });
      continue;
    }
    before.set(target.nodeIndex, pending);
    summaries.push({ node: target.node.name ?? '', opType: target.node.op_type, weights, activations });
  }

  graph.node = graph.node.flatMap((n, i) => [...(before.get(i) ?? []), n]);
  const referenced = referencedNames(graph);
  const replaced = new Set(targets.flatMap((t) => t.weights.map((w) => w.initializer.name)));
  graph.initializer = [...graph.initializer.filter((t) => !replaced.has(t.name) || referenced.has(t.name)), ...added];
  const summary: QdqSummary = { nodes: summaries, skipped, ...(opsetRaisedFrom === undefined ? {} : { opsetRaisedFrom }) };
  return { model, summary };
}

function node(opType: string, name: string, input: string[], output: string, attribute: AttributeObj[] = []): NodeObj {
  return { op_type: opType, name, input, output: [output], domain: '', attribute };
}

/** Raises the default-domain opset to 13 where that cannot change the model's meaning. */
function raiseOpset(model: ModelObj): number | undefined {
  const opset = defaultOpset(model);
  if (opset >= MIN_QDQ_OPSET) return undefined;
  const unstable = [...new Set(model.graph.node.filter((n) => (n.domain ?? '') === '' || n.domain === 'ai.onnx')
    .map((n) => n.op_type).filter((op) => !OPSET_STABLE_OPS.has(op)))];
  if (opset < 7 || unstable.length > 0) {
    throw unimplemented(`the model imports ONNX opset ${opset}; per-channel QDQ needs opset ${MIN_QDQ_OPSET}, and ` +
      (opset < 7 ? 'opsets before 7 are not upgraded' : `${unstable.join(', ')} changed meaning between opset ${opset} and ${MIN_QDQ_OPSET}`) +
      `: re-export the model with opset ${MIN_QDQ_OPSET} or later`);
  }
  setDefaultOpset(model, MIN_QDQ_OPSET);
  // Opset 13 belongs to IR version 7 (ONNX 1.8).
  if ((int64ToSafeNumber(model.ir_version) ?? 0) < 7) model.ir_version = 7;
  return opset;
}

/** Names read by any node (subgraphs included: they may read outer-scope values) or output. */
function referencedNames(graph: GraphObj, into = new Set<string>()): Set<string> {
  for (const o of graph.output) into.add(o.name);
  for (const n of graph.node) {
    for (const x of n.input) into.add(x);
    for (const a of n.attribute) {
      const sub = [a['g'], ...((a['graphs'] as unknown[] | undefined) ?? [])];
      for (const g of sub) if (typeof g === 'object' && g !== null) referencedNames(withArrays(g as Partial<GraphObj>), into);
    }
  }
  return into;
}

function withArrays(g: Partial<GraphObj>): GraphObj {
  return { node: g.node ?? [], initializer: g.initializer ?? [], input: g.input ?? [], output: g.output ?? [], value_info: g.value_info ?? [] };
}
