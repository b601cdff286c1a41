import { readdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { internal, invalidArgument, notFound, unimplemented } from '../runtime/status';
import type { OnnxValueInfo } from '../onnx/signature';
import { readNpy } from './npy';

/**
 * Sample sets for calibration and for the accuracy report: one array per model input, all with
 * the same number of samples along axis 0, converted to the input's element type and checked
 * against its shape.
 *
 * On disk a sample set is
 *   - a .npy file (models with exactly one input),
 *   - a directory holding <input name>.npy for every input, or
 *   - a .json file: {"input": nested array, ...}, or a list of such objects (concatenated).
 * An array either has the input's rank (axis 0 counts samples) or one less (a single sample).
 */

export interface InputData {
  readonly datatype: DataType;
  /** [samples, ...the input's other dims]. */
  readonly dims: readonly number[];
  readonly data: NumericArray;
}

export interface SampleSet {
  /** Where it came from, for messages. */
  readonly source: string;
  readonly count: number;
  /** Keyed by input name, in the model's input order. */
  readonly inputs: ReadonlyMap<string, InputData>;
}

/** An array before it is checked: a shape and its elements in C order. */
export interface RawArray {
  readonly shape: readonly number[];
  readonly values: NumericArray | readonly (number | boolean)[];
}

/** `what` names the data in messages ("--calibration"). */
export async function loadSampleSet(file: string, inputs: readonly OnnxValueInfo[], maxSamples?: number,
  what = 'data'): Promise<SampleSet> {
  const info = await statOrThrow(file, what);
  let arrays: Map<string, RawArray[]>;
  if (info.isDirectory()) {
    arrays = await readNpyDirectory(file, inputs);
  } else if (file.endsWith('.npy')) {
    const only = inputs[0];
    if (inputs.length !== 1 || only === undefined) {
      throw invalidArgument(`${file}: the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); ` +
        'give a directory with one <input>.npy per input, or a .json file');
    }
    const a = readNpy(await readFile(file), file);
    arrays = new Map([[only.name, [{ shape: a.shape, values: a.data }]]]);
  } else if (file.endsWith('.json')) {
    arrays = parseJsonSamples(await readFile(file, 'utf8'), file);
  } else {
    throw invalidArgument(`${file}: unknown data format; use .npy, .json or a directory of <input>.npy files`);
  }
  return sampleSetFromArrays(file, arrays, inputs, maxSamples);
}

/** Checks and converts arrays (several per input are concatenated along axis 0). */
export function sampleSetFromArrays(source: string, arrays: ReadonlyMap<string, readonly RawArray[]>,
  inputs: readonly OnnxValueInfo[], maxSamples?: number): SampleSet {
  const known = new Set(inputs.map((i) => i.name));
  for (const name of arrays.keys()) {
    if (!known.has(name)) {
      throw invalidArgument(`${source}: the model has no input '${name}' (its inputs: ${[...known].join(', ')})`);
    }
  }
  const out = new Map<string, InputData>();
  let count: number | undefined;
  for (const input of inputs) {
    const parts = arrays.get(input.name);
    if (parts === undefined || parts.length === 0) throw invalidArgument(`${source}: no data for input '${input.name}'`);
    const data = toInputData(input, parts, source);
    const rows = data.dims[0] as number;
    if (count !== undefined && rows !== count) {
      throw invalidArgument(`${source}: inputs disagree on the number of samples (${count} vs ${rows} for '${input.name}')`);
    }
    count = rows;
    out.set(input.name, data);
  }
  if (count === undefined || count === 0) throw invalidArgument(`${source}: no samples`);
  if (maxSamples !== undefined && maxSamples < count) {
    // A fixed batch axis runs whole batches only: round down to a multiple of it.
    const fixed = Math.max(1, ...inputs.map((i) => i.shape[0] ?? 1));
    const rows = maxSamples - (maxSamples % fixed);
    if (rows === 0) throw invalidArgument(`${source}: --max-samples ${maxSamples} is less than the model's fixed batch (${fixed})`);
    for (const [name, d] of out) out.set(name, sliceRows(d, rows));
    count = rows;
  }
  return { source, count, inputs: out };
}

/** Labels for the report: integers, one per sample, from .npy or a JSON array. */
export async function loadLabels(file: string, what = 'labels'): Promise<Int32Array> {
  await statOrThrow(file, what);
  let raw: RawArray;
  if (file.endsWith('.npy')) {
    const a = readNpy(await readFile(file), file);
    raw = { shape: a.shape, values: a.data };
  } else if (file.endsWith('.json')) {
    const doc = parseJson(await readFile(file, 'utf8'), file);
    if (!Array.isArray(doc)) throw invalidArgument(`${file}: expected a JSON array of class indices`);
    raw = nestedToRaw(doc, file);
  } else {
    throw invalidArgument(`${file}: unknown labels format; use .npy or .json (an array of integers)`);
  }
  const labels = new Int32Array(raw.values.length);
  for (let i = 0; i < labels.length; i++) {
    const v = Number(raw.values[i]);
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) throw invalidArgument(`${file}: label ${i} is ${String(raw.values[i])}, not a class index`);
    labels[i] = v;
  }
  return labels;
}

async function statOrThrow(file: string, what: string): Promise<Awaited<ReturnType<typeof stat>>> {
  try {
    return await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`${what} ${file}: no such file or directory`);
    throw internal(`${what} ${file}: ${(e as Error).message}`, e);
  }
}

async function readNpyDirectory(dir: string, inputs: readonly OnnxValueInfo[]): Promise<Map<string, RawArray[]>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.npy'));
  const arrays = new Map<string, RawArray[]>();
  for (const f of files) {
    const a = readNpy(await readFile(path.join(dir, f)), path.join(dir, f));
    arrays.set(f.slice(0, -'.npy'.length), [{ shape: a.shape, values: a.data }]);
  }
  const missing = inputs.filter((i) => !arrays.has(i.name)).map((i) => `${i.name}.npy`);
  if (missing.length > 0) throw invalidArgument(`${dir}: missing ${missing.join(', ')} (one .npy per model input)`);
  return arrays;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw invalidArgument(`${source}: not valid JSON (${(e as Error).message})`);
  }
}

function parseJsonSamples(text: string, source: string): Map<string, RawArray[]> {
  const doc = parseJson(text, source);
  const objects = Array.isArray(doc) ? doc : [doc];
  const arrays = new Map<string, RawArray[]>();
  objects.forEach((o, k) => {
    const where = Array.isArray(doc) ? `${source}[${k}]` : source;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      throw invalidArgument(`${where}: expected an object {"input name": array, ...}`);
    }
    for (const [name, value] of Object.entries(o as Record<string, unknown>)) {
      const list = arrays.get(name) ?? [];
      list.push(nestedToRaw(value, `${where}.${name}`));
      arrays.set(name, list);
    }
  });
  return arrays;
}

/** A rectangular nested JSON array of numbers/booleans → shape + flat values. */
function nestedToRaw(value: unknown, where: string): RawArray {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0] as unknown) shape.push(v.length);
  const values: (number | boolean)[] = [];
  const walk = (v: unknown, depth: number, at: string): void => {
    if (depth === shape.length) {
      if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) { values.push(v); return; }
      throw invalidArgument(`${at}: expected a finite number, got ${JSON.stringify(v)?.slice(0, 40) ?? String(v)}`);
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw invalidArgument(`${at}: ragged array (expected ${shape[depth]} elements at depth ${depth})`);
    }
    v.forEach((x, i) => walk(x, depth + 1, `${at}[${i}]`));
  };
  walk(value, 0, where);
  return { shape, values };
}

function toInputData(input: OnnxValueInfo, parts: readonly RawArray[], source: string): InputData {
  const what = `${source}: input '${input.name}'`;
  const datatype = input.datatype;
  if (datatype === undefined || datatype === 'BYTES' || datatype === 'FP16' || datatype === 'BF16') {
    throw unimplemented(`${what}: ${datatype ?? `ONNX type ${input.onnxElemType}`} inputs are not supported for calibration`);
  }
  const model = input.shape;
  if (model.length === 0) throw unimplemented(`${what}: scalar inputs have no sample axis; quantize needs one`);
  const shapes = parts.map((p) => {
    // One less axis than the model: a single sample (needs a batch axis that can be 1).
    const shape = p.shape.length === model.length - 1 && (model[0] === -1 || model[0] === 1) ? [1, ...p.shape] : [...p.shape];
    const fits = shape.length === model.length && shape.every((d, i) => i === 0 || model[i] === -1 || model[i] === d);
    if (!fits) {
      throw invalidArgument(`${what}: data has shape [${p.shape.join(', ')}], the model takes ` +
        `[${model.map((d) => (d === -1 ? '?' : d)).join(', ')}] (axis 0 counts samples)`);
    }
    return shape;
  });
  const first = shapes[0] as number[];
  for (const s of shapes) {
    if (s.slice(1).join() !== first.slice(1).join()) {
      throw invalidArgument(`${what}: samples have different shapes ([${first.slice(1).join(', ')}] vs [${s.slice(1).join(', ')}])`);
    }
  }
  const rows = shapes.reduce((n, s) => n + (s[0] as number), 0);
  const fixedBatch = model[0] as number;
  if (fixedBatch > 0 && rows % fixedBatch !== 0) {
    throw invalidArgument(`${what}: the model's batch axis is fixed at ${fixedBatch}, so the sample count (${rows}) must be a multiple of it`);
  }
  const dims = [rows, ...first.slice(1)];
  const total = dims.reduce((a, b) => a * b, 1);
  const Ctor = dataTypeInfo(datatype).array;
  if (Ctor === undefined) throw internal(`no typed array for ${datatype}`);
  const data = new Ctor(total);
  let offset = 0;
  for (const p of parts) {
    convertInto(p.values, data, offset, datatype, what);
    offset += p.values.length;
  }
  return { datatype, dims, data };
}

/** Integer ranges of the element types a calibration input can have. */
const INT_RANGE: Partial<Record<DataType, readonly [number, number]>> = {
  BOOL: [0, 1], UINT8: [0, 255], UINT16: [0, 65_535], UINT32: [0, 2 ** 32 - 1],
  INT8: [-128, 127], INT16: [-32_768, 32_767], INT32: [-(2 ** 31), 2 ** 31 - 1],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], UINT64: [0, Number.MAX_SAFE_INTEGER],
};

function convertInto(src: RawArray['values'], dst: NumericArray, offset: number, datatype: DataType, what: string): void {
  const range = INT_RANGE[datatype];
  const big = dst instanceof BigInt64Array || dst instanceof BigUint64Array;
  for (let i = 0; i < src.length; i++) {
    const raw = src[i] as number | bigint | boolean;
    if (big && typeof raw === 'bigint') {
      (dst as BigInt64Array)[offset + i] = raw; // the typed array's store wraps; i8/u8 .npy into the same width
      continue;
    }
    const v = Number(raw); // booleans → 0/1; bigints only when the target is not 64-bit
    if (range !== undefined && (!Number.isInteger(v) || v < range[0] || v > range[1])) {
      throw invalidArgument(`${what}: element ${i} (${String(raw)}) is not a valid ${datatype} value`);
    }
    if (big) (dst as BigInt64Array)[offset + i] = BigInt(v);
    else (dst as Float64Array)[offset + i] = v;
  }
}

function sliceRows(d: InputData, rows: number): InputData {
  const perRow = d.dims.slice(1).reduce((a, b) => a * b, 1);
  return { datatype: d.datatype, dims: [rows, ...d.dims.slice(1)], data: d.data.slice(0, rows * perRow) };
}
