import { showJson } from '../codec/show';
import type { ModelConfig, ModelTensorConfig } from '../repository/model-config';
import { isDataType } from './datatypes';
import { invalidArgument, printableName } from './status';
import { formatShape, tensorDataProblem, type Tensor } from './tensor';

/**
 * Model-level checks of a request, after the codec has checked the wire format: every input the
 * model declares is present, no others; datatypes match; shapes match the config's dims (with the
 * batch dim in [1, max_batch_size] when the model batches); requested outputs exist.
 * Returns the batch size in rows (1 for a model that does not batch).
 */
export function validateInferInputs(model: string, config: ModelConfig,
  inputs: ReadonlyMap<string, Tensor>): number {
  // Linear scans, not a Set per request: models declare a handful of tensors.
  for (const [name, tensor] of inputs) {
    if (!config.input.some((t) => t.name === name)) {
      throw invalidArgument(`unexpected input '${printableName(name)}' for model '${model}'; expected ${list(config.input)}`);
    }
    checkTensorForm(name, tensor);
  }
  let batch: number | undefined;
  for (const spec of config.input) {
    const t = inputs.get(spec.name);
    if (t === undefined) {
      throw invalidArgument(`missing input '${spec.name}' for model '${model}'; expected ${list(config.input)}`);
    }
    if (t.datatype !== spec.dataType) {
      throw invalidArgument(`input '${spec.name}': datatype ${t.datatype} does not match the model's ${spec.dataType}`);
    }
    const rows = checkShape(spec, t.shape, config.maxBatchSize);
    if (batch === undefined) batch = rows;
    else if (rows !== batch) {
      throw invalidArgument(`input '${spec.name}': batch size ${rows} differs from the other inputs' ${batch}`);
    }
  }
  return batch ?? 1;
}

export function validateRequestedOutputs(model: string, config: ModelConfig,
  requested: readonly string[] | undefined): string[] {
  if (requested === undefined || requested.length === 0) return config.output.map((o) => o.name);
  if (!Array.isArray(requested) || requested.some((n) => typeof n !== 'string')) {
    throw invalidArgument(`outputs must be an array of output names, got ${showJson(requested)}`);
  }
  requested.forEach((name, i) => {
    if (!config.output.some((o) => o.name === name)) {
      throw invalidArgument(`unknown output '${printableName(name)}' requested from model '${model}'; it has ${list(config.output)}`);
    }
    if (requested.indexOf(name) !== i) throw invalidArgument(`output '${printableName(name)}' requested more than once`);
  });
  return [...requested];
}

/**
 * A tensor's own form: a known datatype, a shape of non-negative integers, and data of the
 * datatype's typed array (one Uint8Array per element for BYTES) holding product(shape) elements.
 * The codec builds tensors that way; an in-process caller can hand over anything, and a Float32
 * model fed an Int32Array of the right byte length would otherwise run on reinterpreted bits.
 */
function checkTensorForm(name: string, t: unknown): void {
  const what = `input '${printableName(name)}'`;
  if (typeof t !== 'object' || t === null) {
    throw invalidArgument(`${what}: must be a tensor { datatype, shape, data }, got ${showJson(t)}`);
  }
  const { datatype, shape } = t as { datatype?: unknown; shape?: unknown };
  if (!isDataType(datatype)) throw invalidArgument(`${what}: unknown datatype ${showJson(datatype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw invalidArgument(`${what}: shape must be an array of non-negative integers, got ` +
      `${Array.isArray(shape) ? formatShape(shape, (d) => (typeof d === 'number' ? String(d) : showJson(d))) : showJson(shape)}`);
  }
  const problem = tensorDataProblem(t as Tensor);
  if (problem !== undefined) throw invalidArgument(`${what}: ${problem}`);
}

function checkShape(spec: ModelTensorConfig, shape: readonly number[], maxBatchSize: number): number {
  const batching = maxBatchSize > 0;
  const expected = batching ? [-1, ...spec.dims] : [...spec.dims];
  const mismatch = (): never => {
    throw invalidArgument(`input '${spec.name}': shape ${formatShape(shape)} does not match the model's ` +
      `${formatShape(expected)}${batching ? ` (first dim is the batch, 1..${maxBatchSize})` : ''}`);
  };
  if (shape.length !== expected.length) mismatch();
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] as number;
    if (want !== -1 && shape[i] !== want) mismatch();
  }
  if (!batching) return 1;
  const rows = shape[0] as number;
  if (rows < 1 || rows > maxBatchSize) {
    throw invalidArgument(`input '${spec.name}': batch size ${rows} is outside 1..${maxBatchSize} (max_batch_size)`);
  }
  return rows;
}

function list(ts: readonly ModelTensorConfig[]): string {
  return `[${ts.map((t) => `'${t.name}'`).join(', ')}]`;
}
