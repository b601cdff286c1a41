import { invalidArgument } from '../runtime/status';
import { PBTXT_MAX_CHARS, PBTXT_MAX_DEPTH, type PbMessage, type PbValue } from './pbtxt';

/**
 * config.json text → the tree config.pbtxt parses into (pbtxt.ts's PbMessage), so that
 * config-parse.ts reads and validates both formats alike. Size and nesting are capped as pbtxt's.
 */

/** A field path: "dynamic_batching.preferred_batch_size". */
export const joinPath = (path: string, field: string): string => (path === '' ? field : `${path}.${field}`);

/** Config file text → tree. Throws SluiceError INVALID_ARGUMENT. */
export function parseJsonConfigTree(text: string): PbMessage {
  if (text.length > PBTXT_MAX_CHARS) {
    throw invalidArgument(`text is ${text.length} characters; the limit is ${PBTXT_MAX_CHARS}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`invalid JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(value)) throw invalidArgument(`a JSON model config must be an object, got ${jsonKind(value)}`);
  return jsonMessage(value, '', 0);
}

function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonKind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

/**
 * JSON objects become messages, arrays become a field's value list, and null means "absent" (as
 * in protobuf's JSON mapping). Nesting is capped like pbtxt's.
 */
function jsonMessage(obj: Record<string, unknown>, path: string, depth: number): PbMessage {
  if (depth > PBTXT_MAX_DEPTH) throw invalidArgument(`${path || 'config'} nests deeper than ${PBTXT_MAX_DEPTH} levels`);
  const fields = new Map<string, PbValue[]>();
  for (const [field, v] of Object.entries(obj)) {
    const p = joinPath(path, field);
    if (v === null) continue;
    fields.set(field, Array.isArray(v)
      ? v.map((e: unknown, i) => jsonValue(e, `${p}[${i}]`, depth))
      : [jsonValue(v, p, depth)]);
  }
  return { kind: 'message', fields };
}

function jsonValue(v: unknown, path: string, depth: number): PbValue {
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { kind: 'int', value: BigInt(v) } : { kind: 'float', value: v };
  }
  if (typeof v === 'boolean') return { kind: 'identifier', value: String(v) };
  if (isJsonObject(v)) return jsonMessage(v, path, depth + 1);
  throw invalidArgument(`${path} must not be ${jsonKind(v)}`);
}
