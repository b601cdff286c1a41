import { invalidArgument } from '../runtime/status';
import { initializerValues, intAttribute, isOnnxOp, nodeLabel, type GraphObj, type NodeObj, type TensorObj } from './model-object';

/**
 * Which tensors a QDQ rewrite touches: for every MatMul and Gemm of the main graph, its constant
 * weight (an FP32 initializer that no graph input can override) and its activation inputs.
 * Gemm's C (bias) stays float. Nodes inside subgraphs (If/Loop bodies) are left alone.
 */

/** ONNX TensorProto.DataType FLOAT. */
export const ONNX_FLOAT = 1;

export interface WeightUse {
  /** Position in the node's inputs. */
  readonly inputIndex: number;
  readonly initializer: TensorObj;
  /** The output-channel axis of the weight, or undefined for one scale (a 1-D or Gemm-A weight). */
  readonly axis: number | undefined;
}

export interface QuantTarget {
  /** Index in graph.node. */
  readonly nodeIndex: number;
  readonly node: NodeObj;
  readonly weights: readonly WeightUse[];
  /** Activation inputs: position in the node's inputs → tensor name. */
  readonly activations: ReadonlyMap<number, string>;
}

export interface SkippedNode { readonly node: NodeObj; readonly reason: string }

export interface TargetPlan {
  readonly targets: readonly QuantTarget[];
  readonly skipped: readonly SkippedNode[];
}

export function findTargets(graph: GraphObj): TargetPlan {
  const inputs = new Set(graph.input.map((v) => v.name));
  // An initializer that is also a graph input is only a default: callers may feed another value.
  const constants = new Map(graph.initializer.filter((t) => !inputs.has(t.name)).map((t) => [t.name, t]));
  const targets: QuantTarget[] = [];
  const skipped: SkippedNode[] = [];
  graph.node.forEach((node, nodeIndex) => {
    const isGemm = isOnnxOp(node, 'Gemm');
    if (!isGemm && !isOnnxOp(node, 'MatMul')) return;
    if (node.input.length < 2) throw invalidArgument(`node ${nodeLabel(node)}: needs two inputs`);
    const weights: WeightUse[] = [];
    const activations = new Map<number, string>();
    let skip: string | undefined;
    for (const inputIndex of [0, 1]) {
      const name = node.input[inputIndex] as string;
      const init = constants.get(name);
      if (init === undefined) { activations.set(inputIndex, name); continue; }
      if (init.data_type !== ONNX_FLOAT) { skip = `constant input '${name}' is not FP32`; break; }
      weights.push({ inputIndex, initializer: init, axis: weightAxis(node, inputIndex, isGemm, init) });
    }
    if (skip !== undefined) skipped.push({ node, reason: skip });
    else targets.push({ nodeIndex, node, weights, activations });
  });
  return { targets, skipped };
}

/**
 * Output channels of a weight: MatMul's B [..., K, N] → its last axis; Gemm's B [K, N] → 1, or
 * [N, K] with transB → 0. Gemm's A and 1-D MatMul operands mix channels of the output's rows,
 * so they get one scale.
 */
function weightAxis(node: NodeObj, inputIndex: number, isGemm: boolean, init: TensorObj): number | undefined {
  const rank = init.dims.length;
  if (inputIndex === 0) return undefined;
  if (isGemm) {
    if (rank !== 2) throw invalidArgument(`node ${nodeLabel(node)}: Gemm's B '${init.name}' has rank ${rank}, not 2`);
    return intAttribute(node, 'transB', 0) === 0 ? 1 : 0;
  }
  return rank >= 2 ? rank - 1 : undefined;
}

/** The FP32 values of a weight initializer. */
export function weightValues(init: TensorObj): { data: Float32Array; dims: readonly number[] } {
  const t = initializerValues(init);
  if (!(t.data instanceof Float32Array)) throw invalidArgument(`initializer '${init.name}' is not FP32`);
  return { data: t.data, dims: t.dims };
}
