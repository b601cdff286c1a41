import { invalidArgument, printableName, unimplemented } from '../runtime/status';
import { integerText, toSafeInteger, type LongLike } from './int64';
import { showJson } from './show';

/**
 * KServe v2 parameters maps (request, input and output level) → the few settings Sluice acts on.
 * gRPC maps hold InferParameter messages (a oneof; int64/uint64 as Long); HTTP maps hold plain
 * JSON values. Unknown keys are accepted and ignored, as Triton does (they are meant for
 * backends), except the reserved `triton_` prefix and features Sluice does not support, which are
 * refused so the client learns why instead of getting a silently different answer.
 */

export type Wire = 'grpc' | 'json';

/** An InferParameter as protobufjs decodes it; `parameter_choice` names the field that is set. */
export interface ProtoParameter {
  readonly parameter_choice?: string;
  readonly bool_param?: boolean;
  readonly int64_param?: LongLike | number;
  readonly string_param?: string;
  readonly double_param?: number;
  readonly uint64_param?: LongLike | number;
}

/** One parameter value, whichever wire it came from. */
type Value =
  | { readonly kind: 'bool'; readonly value: boolean; readonly shown: string }
  /** value undefined: an integer beyond 2^53 - 1. */
  | { readonly kind: 'int'; readonly value: number | undefined; readonly shown: string }
  | { readonly kind: 'double' | 'string' | 'none'; readonly value: unknown; readonly shown: string };

function readProto(p: ProtoParameter): Value {
  switch (p.parameter_choice) {
    case 'bool_param':
      return { kind: 'bool', value: p.bool_param === true, shown: `bool_param ${String(p.bool_param)}` };
    case 'int64_param':
    case 'uint64_param': {
      const raw = p[p.parameter_choice];
      return { kind: 'int', value: toSafeInteger(raw),
        shown: `${p.parameter_choice} ${integerText(raw)}` };
    }
    case 'double_param':
      return { kind: 'double', value: p.double_param, shown: `double_param ${String(p.double_param)}` };
    case 'string_param':
      return { kind: 'string', value: p.string_param,
        shown: `string_param ${showJson(p.string_param)}` };
    default: return { kind: 'none', value: undefined, shown: 'no value' };
  }
}

function readJson(key: string, v: unknown, where: string): Value {
  const shown = showJson(v);
  switch (typeof v) {
    case 'boolean': return { kind: 'bool', value: v, shown };
    case 'string': return { kind: 'string', value: v, shown };
    case 'number':
      return Number.isInteger(v) ? { kind: 'int', value: toSafeInteger(v), shown }
        : { kind: 'double', value: v, shown };
    default:
      throw invalidArgument(`${where}parameter '${printableName(key)}': value ${shown} is not a boolean, number ` +
        'or string');
  }
}

/**
 * Entries of a parameters map; `undefined` (absent) is an empty map. `where` prefixes messages
 * ("request ", "input 'x': ").
 */
function entries(params: unknown, wire: Wire, where: string): [string, Value][] {
  if (params === undefined) return [];
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw invalidArgument(`${where}parameters must be an object`);
  }
  // A protobuf map entry without a value decodes as null: read it as an unset oneof.
  return Object.entries(params as Record<string, unknown>).map(([k, v]) =>
    [k, wire === 'grpc' ? readProto((v ?? {}) as ProtoParameter) : readJson(k, v, where)]);
}

function nonNegativeInteger(key: string, v: Value, where: string): number {
  if (v.kind !== 'int' || v.value === undefined || v.value < 0) {
    throw invalidArgument(`${where}parameter '${printableName(key)}' must be a non-negative integer ` +
      `(int64_param or uint64_param in gRPC), got ${v.shown}`);
  }
  return v.value;
}

function boolean(key: string, v: Value, where: string): boolean {
  if (v.kind !== 'bool') {
    throw invalidArgument(`${where}parameter '${printableName(key)}' must be a boolean, got ${v.shown}`);
  }
  return v.value;
}

/** sequence_id 0 / "" and sequence_start/end false are what "no sequence" looks like on the wire. */
const noSequence = (v: Value): boolean =>
  v.kind === 'none' || v.value === false || v.value === 0 || v.value === '';

const SHARED_MEMORY = new Set(['shared_memory_region', 'shared_memory_byte_size', 'shared_memory_offset']);

function refuseSharedMemory(key: string, where: string): void {
  if (SHARED_MEMORY.has(key)) {
    throw unimplemented(`${where}parameter '${printableName(key)}': shared-memory tensors are not supported; ` +
      'send the data in the request');
  }
}

export interface RequestParameters {
  /** 0 = default level; lower = higher priority. */
  priority: number | undefined;
  /** Queue timeout, microseconds. */
  timeoutMicroseconds: number | undefined;
  /** HTTP `binary_data_output`: the default for outputs that do not set `binary_data`. */
  binaryDataOutput: boolean | undefined;
}

/** The request-level parameters map. */
export function parseRequestParameters(params: unknown, wire: Wire): RequestParameters {
  const out: RequestParameters =
    { priority: undefined, timeoutMicroseconds: undefined, binaryDataOutput: undefined };
  for (const [key, v] of entries(params, wire, 'request ')) {
    if (key.startsWith('triton_')) {
      throw invalidArgument(`request parameter '${printableName(key)}': keys starting with 'triton_' are reserved`);
    }
    switch (key) {
      case 'priority': out.priority = nonNegativeInteger(key, v, 'request '); break;
      case 'timeout': out.timeoutMicroseconds = nonNegativeInteger(key, v, 'request '); break;
      case 'binary_data_output': out.binaryDataOutput = boolean(key, v, 'request '); break;
      case 'sequence_id':
      case 'sequence_start':
      case 'sequence_end':
        if (!noSequence(v)) {
          throw unimplemented(`request parameter '${printableName(key)}' (${v.shown}): sequence batching is not ` +
            'supported; Sluice serves stateless models only');
        }
        break;
      default: break; // custom parameters are for backends; Sluice's backends take none
    }
  }
  return out;
}

/** An input tensor's parameters map. `what` names the input ("input 'x'"). */
export function parseInputParameters(params: unknown, wire: Wire, what: string):
  { binaryDataSize: number | undefined } {
  let binaryDataSize: number | undefined;
  for (const [key, v] of entries(params, wire, `${what}: `)) {
    refuseSharedMemory(key, `${what}: `);
    if (key === 'binary_data_size') binaryDataSize = nonNegativeInteger(key, v, `${what}: `);
  }
  return { binaryDataSize };
}

/** A requested output's parameters map. `what` names the output ("output 'y'"). */
export function parseOutputParameters(params: unknown, wire: Wire, what: string):
  { binary: boolean | undefined } {
  let binary: boolean | undefined;
  for (const [key, v] of entries(params, wire, `${what}: `)) {
    refuseSharedMemory(key, `${what}: `);
    if (key === 'classification') {
      throw unimplemented(`${what}: parameter 'classification': the classification extension is ` +
        'not supported; request the raw output');
    }
    if (key === 'binary_data') binary = boolean(key, v, `${what}: `);
  }
  return { binary };
}
