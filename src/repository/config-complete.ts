import { toConfigName } from '../runtime/datatypes';
import { invalidArgument } from '../runtime/status';
import type { OnnxSignature, OnnxValueInfo } from '../onnx/signature';
import { DEFAULT_DYNAMIC_BATCHING, type PartialModelConfig, type PartialTensorConfig } from './config-parse';
import { BACKENDS, type BackendChoice, type InstanceGroup, type ModelConfig, type ModelTensorConfig } from './model-config';
import { DEFAULT_VERSION_POLICY } from './version-policy';

/**
 * Completes a model's config from its ONNX graph and checks that the two agree.
 *
 * Rules (Triton's auto-complete, with the differences noted):
 * - Inputs the config does not list come from the graph (every graph input must be fed). Outputs
 *   come from the graph only when the config lists none; a config listing some serves just those.
 * - A tensor's data_type and dims default to the graph's; given ones must agree with it. Config
 *   dims may pin a dynamic (-1) graph dim to a size, never contradict a fixed one.
 * - max_batch_size absent: the model batches when every graph input and output has a dynamic first
 *   dim, unless the config spells some tensor's dims at the graph's full rank (then that dim is
 *   part of the shape). An explicit `max_batch_size: 0` always means "does not batch" (Triton
 *   cannot tell 0 from absent and may override it).
 * - A batching model serves dims without the batch dim, and its graph's first dims must be
 *   dynamic. A fixed first dim of 1 is accepted only with max_batch_size 1, the one case where
 *   every batch has exactly that many rows.
 */

/**
 * max_batch_size for a model found to batch without one in its config. Triton's ORT backend picks
 * 4; Sluice's batcher is its main reason to exist, and 64 rows lets it amortise per-call overhead
 * on small models while a queue delay of 0 (the default) still sends a lone request at once.
 */
export const DEFAULT_MAX_BATCH_SIZE = 64;
export const ONNX_PLATFORM = 'onnxruntime_onnx';
const isBackendChoice = (s: string): s is BackendChoice => (BACKENDS as readonly string[]).includes(s);
const DEFAULT_INSTANCE_GROUP: readonly InstanceGroup[] = [{ count: 1, kind: 'KIND_CPU' }];

type TensorKind = 'input' | 'output';

/**
 * The full config `modelName` serves with. Throws SluiceError INVALID_ARGUMENT listing every
 * problem found (fields named as in the config file), separated by "; ".
 */
export function completeConfig(modelName: string, partial: PartialModelConfig, signature: OnnxSignature): ModelConfig {
  const problems: string[] = [];
  if (partial.name !== undefined && partial.name !== modelName) {
    problems.push(`name "${partial.name}" does not match the model directory "${modelName}"`);
  }
  if (partial.platform !== undefined && partial.platform !== ONNX_PLATFORM) {
    problems.push(`platform "${partial.platform}" is not supported (Sluice serves "${ONNX_PLATFORM}" models)`);
  }
  const backend = partial.backend ?? 'auto';
  if (!isBackendChoice(backend)) {
    problems.push(`backend "${backend}" is not supported (choose ${BACKENDS.join(', ')})`);
  }
  const maxBatchSize = partial.maxBatchSize ?? inferMaxBatchSize(partial, signature);
  const batching = maxBatchSize > 0;
  // Triton turns the dynamic batcher on when it infers batching; a model batches to be batched.
  const inferredBatching = partial.maxBatchSize === undefined && batching;
  const dynamicBatching = partial.dynamicBatching ?? (inferredBatching ? DEFAULT_DYNAMIC_BATCHING : undefined);
  if (dynamicBatching !== undefined && !batching) {
    problems.push('dynamic_batching needs a model that batches, but max_batch_size is 0');
  }
  for (const size of dynamicBatching?.preferredBatchSize ?? []) {
    if (batching && size > maxBatchSize) {
      problems.push(`dynamic_batching.preferred_batch_size ${size} is over max_batch_size ${maxBatchSize}`);
    }
  }
  const config: ModelConfig = {
    name: modelName,
    platform: ONNX_PLATFORM,
    backend: isBackendChoice(backend) ? backend : 'auto',
    maxBatchSize,
    input: completeTensors('input', partial.input, signature.inputs, batching, problems),
    output: completeTensors('output', partial.output, signature.outputs, batching, problems),
    versionPolicy: partial.versionPolicy ?? DEFAULT_VERSION_POLICY,
    dynamicBatching,
    instanceGroup: partial.instanceGroup.length > 0 ? partial.instanceGroup : DEFAULT_INSTANCE_GROUP,
    parameters: partial.parameters,
  };
  // Tensors completeTensors could not build are reported already; checking the rest would repeat it.
  if (problems.length === 0) problems.push(...signatureMismatches(config, signature));
  if (problems.length > 0) throw invalidArgument(problems.join('; '));
  return config;
}

/**
 * How a graph disagrees with a complete config: one message per problem, empty when it fits.
 * Used on every version of a model, whose graphs may differ from the one the config came from.
 */
export function signatureMismatches(config: ModelConfig, signature: OnnxSignature): string[] {
  const problems: string[] = [];
  const check = (kind: TensorKind, tensors: readonly ModelTensorConfig[], graph: readonly OnnxValueInfo[]): void => {
    for (const t of tensors) {
      const g = graph.find((x) => x.name === t.name);
      if (g === undefined) problems.push(`${kind} "${t.name}" is not a graph ${kind} (the graph has ${names(graph)})`);
      else problems.push(...tensorMismatches(kind, t, g, config.maxBatchSize));
    }
  };
  check('input', config.input, signature.inputs);
  check('output', config.output, signature.outputs);
  for (const g of signature.inputs) {
    if (!config.input.some((t) => t.name === g.name)) {
      problems.push(`graph input "${g.name}" is missing from the config's inputs (every input must be fed)`);
    }
  }
  return problems;
}

function tensorMismatches(kind: TensorKind, t: ModelTensorConfig, g: OnnxValueInfo, maxBatchSize: number): string[] {
  const problems: string[] = [];
  const what = `${kind} "${t.name}"`;
  if (g.datatype !== t.dataType) {
    problems.push(`${what}: data_type ${toConfigName(t.dataType)} does not match the graph's ${graphType(g)}`);
  }
  let graphDims = g.shape;
  if (maxBatchSize > 0) {
    const first = g.shape[0];
    if (first === undefined) {
      problems.push(`${what}: max_batch_size is ${maxBatchSize} but the graph's shape is a scalar, with no batch dim`);
      return problems;
    }
    if (first !== -1 && !(first === 1 && maxBatchSize === 1)) {
      problems.push(`${what}: max_batch_size is ${maxBatchSize} but the graph's first dim is fixed at ${first} ` +
        `(shape ${shape(g.shape)}): export it with a dynamic first dim or set max_batch_size: 0`);
    }
    graphDims = g.shape.slice(1);
  }
  const fits = t.dims.length === graphDims.length && t.dims.every((d, i) => graphDims[i] === -1 || graphDims[i] === d);
  if (!fits) {
    const note = maxBatchSize > 0 ? ', the graph\'s shape without its batch dim' : '';
    problems.push(`${what}: dims ${shape(t.dims)} do not fit the graph's ${shape(graphDims)}${note}`);
  }
  return problems;
}

/** The config's tensors with gaps filled from the graph; unresolvable ones go to `problems`. */
function completeTensors(kind: TensorKind, given: readonly PartialTensorConfig[], graph: readonly OnnxValueInfo[],
  batching: boolean, problems: string[]): ModelTensorConfig[] {
  const served = (g: OnnxValueInfo): readonly number[] => (batching ? g.shape.slice(1) : g.shape);
  const tensors: ModelTensorConfig[] = [];
  for (const t of given) {
    const g = graph.find((x) => x.name === t.name);
    if (g === undefined) {
      problems.push(`${kind} "${t.name}" is not a graph ${kind} (the graph has ${names(graph)})`);
      continue;
    }
    const dataType = t.dataType ?? g.datatype;
    if (dataType === undefined) problems.push(untyped(kind, g));
    else tensors.push({ name: t.name, dataType, dims: t.dims ?? served(g) });
  }
  if (kind === 'input' || given.length === 0) {
    for (const g of graph) {
      if (given.some((t) => t.name === g.name)) continue;
      if (g.datatype === undefined) problems.push(untyped(kind, g));
      else tensors.push({ name: g.name, dataType: g.datatype, dims: served(g) });
    }
  }
  return tensors;
}

function inferMaxBatchSize(partial: PartialModelConfig, signature: OnnxSignature): number {
  const graph = [...signature.inputs, ...signature.outputs];
  if (graph.length === 0 || !graph.every((g) => g.shape[0] === -1)) return 0;
  const spellsFullRank = (given: readonly PartialTensorConfig[], tensors: readonly OnnxValueInfo[]): boolean =>
    given.some((t) => t.dims !== undefined && t.dims.length === tensors.find((g) => g.name === t.name)?.shape.length);
  if (spellsFullRank(partial.input, signature.inputs) || spellsFullRank(partial.output, signature.outputs)) return 0;
  return DEFAULT_MAX_BATCH_SIZE;
}

const shape = (dims: readonly number[]): string => `[${dims.join(', ')}]`;
const names = (graph: readonly OnnxValueInfo[]): string =>
  graph.length === 0 ? 'none' : graph.map((g) => `"${g.name}"`).join(', ');
const untyped = (kind: TensorKind, g: OnnxValueInfo): string =>
  `${kind} "${g.name}": the graph's ${graphType(g)} has no Triton data_type`;
const graphType = (g: OnnxValueInfo): string =>
  g.datatype === undefined ? `ONNX element type ${g.onnxElemType}` : toConfigName(g.datatype);
