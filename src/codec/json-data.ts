import { dataTypeInfo, type DataType, type NumericArray } from '../runtime/datatypes';
import { internal, invalidArgument } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';
import { jsonToBigInt64 } from './int64';
import { checkTensorData } from './raw';
import { checkAllocation, formatShape } from './shape';
import { showJson } from './show';
import { INT_RANGE } from './typed-contents';

/**
 * The KServe v2 HTTP `data` field ⇄ Tensor. Element encodings: BOOL true/false, integers and
 * floats as numbers, INT64/UINT64 as numbers or decimal strings (JSON numbers lose digits past
 * 2^53, so unsafe numbers are refused rather than rounded), BYTES as UTF-8 strings. FP16/BF16
 * have no JSON form: they travel in the binary extension only.
 */

const RAW_ONLY: ReadonlySet<DataType> = new Set<DataType>(['FP16', 'BF16']);

/** JSON `data` (flat, or nested exactly as the shape) → Tensor. `count` is product(shape). */
export function tensorFromJson(datatype: DataType, shape: number[], count: number, data: unknown,
  what: string): Tensor {
  if (RAW_ONLY.has(datatype)) {
    throw invalidArgument(`${what}: ${datatype} cannot be sent as JSON data; send it as binary ` +
      'data (binary_data_size and the Inference-Header-Content-Length header)');
  }
  if (!Array.isArray(data)) throw invalidArgument(`${what}: data must be an array`);
  const values = Array.isArray(data[0]) ? flattenNested(data, shape, what) : data;
  if (values.length !== count) {
    throw invalidArgument(`${what}: data has ${values.length} elements, but shape ` +
      `${formatShape(shape)} needs ${count}`);
  }
  if (datatype === 'BYTES') return { datatype, shape, data: bytesElements(values, what) };
  checkAllocation(count, dataTypeInfo(datatype).size, what);
  return { datatype, shape, data: numericData(datatype, values, what) };
}

/**
 * Nested arrays → leaves, one level per dim, checking each level's lengths against the shape.
 * Iterative, so a deep shape cannot overflow the stack.
 */
function flattenNested(data: readonly unknown[], shape: readonly number[], what: string): unknown[] {
  let level: unknown[] = [data];
  for (let depth = 0; depth < shape.length; depth++) {
    const next: unknown[] = [];
    for (const node of level) {
      if (!Array.isArray(node) || node.length !== shape[depth]) {
        throw invalidArgument(`${what}: nested data does not match shape ${formatShape(shape)}: ` +
          `expected ${shape[depth]} elements at depth ${depth}, got ` +
          `${Array.isArray(node) ? node.length : showJson(node)}`);
      }
      for (const child of node) next.push(child);
    }
    level = next;
  }
  return level;
}

function bytesElements(values: readonly unknown[], what: string): Uint8Array[] {
  return values.map((v, i) => {
    if (typeof v !== 'string') {
      throw invalidArgument(`${what}: data[${i}] is ${showJson(v)}; BYTES needs a string`);
    }
    return Buffer.from(v, 'utf8');
  });
}

function numericData(datatype: DataType, values: readonly unknown[], what: string): NumericArray {
  const bad = (i: number, needs: string): never => {
    throw invalidArgument(`${what}: data[${i}] is ${showJson(values[i])}; ${datatype} needs ${needs}`);
  };
  const n = values.length;
  switch (datatype) {
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'boolean') bad(i, 'true or false');
        out[i] = v === true ? 1 : 0;
      }
      return out;
    }
    case 'FP32':
    case 'FP64': {
      for (let i = 0; i < n; i++) if (typeof values[i] !== 'number') bad(i, 'a number');
      const numbers = values as readonly number[];
      return datatype === 'FP32' ? new Float32Array(numbers) : new Float64Array(numbers);
    }
    case 'INT64':
    case 'UINT64': {
      const unsigned = datatype === 'UINT64';
      const out = unsigned ? new BigUint64Array(n) : new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const b = jsonToBigInt64(values[i], unsigned);
        if (b === undefined) bad(i, 'an integer in range (a number up to 2^53 or a decimal string)');
        else out[i] = b;
      }
      return out;
    }
    default: {
      const range = INT_RANGE[datatype];
      const Ctor = dataTypeInfo(datatype).array;
      if (range === undefined || Ctor === undefined) throw internal(`no JSON decoding for ${datatype}`);
      const [lo, hi] = range;
      const out = new Ctor(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (!(typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi)) {
          bad(i, `an integer in [${lo}, ${hi}]`);
        }
        out[i] = v as number;
      }
      return out;
    }
  }
}

/**
 * A tensor's flat `data` array as JSON text. INT64/UINT64 are written with all their digits
 * (exact, though many JSON readers round past 2^53); non-finite floats become null, as
 * JSON.stringify writes them, because JSON has no NaN or Infinity. BYTES are decoded as UTF-8:
 * clients needing arbitrary bytes should ask for binary output.
 */
export function tensorToJsonText(tensor: Tensor, what: string): string {
  checkTensorData(tensor, what);
  const { datatype, data } = tensor;
  if (Array.isArray(data)) {
    return JSON.stringify((data as readonly Uint8Array[]).map((e) =>
      Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('utf8')));
  }
  const array = data as NumericArray;
  switch (datatype) {
    case 'BOOL': {
      const parts = new Array<string>(array.length);
      for (let i = 0; i < array.length; i++) parts[i] = array[i] ? 'true' : 'false';
      return `[${parts.join(',')}]`;
    }
    case 'FP32':
    case 'FP64':
      return JSON.stringify(Array.from(array as Float32Array | Float64Array));
    case 'FP16':
    case 'BF16':
      throw internal(`${what}: ${datatype} has no JSON form; it must be sent as binary`);
    default:
      return `[${array.join(',')}]`; // integers, bigints included: join writes exact decimals
  }
}
