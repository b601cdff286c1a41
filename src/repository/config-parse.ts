import { basename } from 'node:path';
import { DATATYPES, toConfigName, type DataType } from '../runtime/datatypes';
import { invalidArgument } from '../runtime/status';
import { joinPath, parseJsonConfigTree } from './config-json';
import { parsePbtxt, type PbMessage, type PbPosition, type PbValue } from './pbtxt';
import type {
  DynamicBatchingConfig, InstanceGroup, InstanceKind, QueuePolicy, TimeoutAction, VersionPolicy,
} from './model-config';

/**
 * A Triton model config — a config.pbtxt tree or a config.json object, same snake_case field
 * names — read into a PartialModelConfig: what the file says, validated, with nothing taken from
 * the model yet (config-complete.ts does that).
 *
 * Both formats become one tree (pbtxt.ts's PbMessage; config-json.ts converts JSON) and one
 * reader validates it, so they accept the same fields and give the same errors. Lexical rules still follow each format's protobuf
 * mapping: JSON writes enums as strings and may write int64 as decimal strings; pbtxt writes
 * enums as bare names. Maps are repeated `{ key value }` messages in pbtxt, objects in JSON.
 *
 * Fields Triton has and Sluice does not use (model_warmup, optimization, reshape, ...) are
 * accepted and listed in `ignoredFields`; names Triton does not know are errors, as in Triton.
 * Every problem found is reported, each naming its field path (and line:column in pbtxt), in one
 * INVALID_ARGUMENT error.
 */

export interface PartialTensorConfig {
  readonly name: string;
  /** undefined: take the graph's. */
  readonly dataType: DataType | undefined;
  /** undefined: take the graph's. */
  readonly dims: readonly number[] | undefined;
}

/** undefined / empty means "not in the file"; config-complete.ts fills it in. */
export interface PartialModelConfig {
  readonly name: string | undefined;
  readonly platform: string | undefined;
  readonly backend: string | undefined;
  /** An explicit 0 is kept: it says the model does not batch, whatever the graph allows. */
  readonly maxBatchSize: number | undefined;
  readonly input: readonly PartialTensorConfig[];
  readonly output: readonly PartialTensorConfig[];
  readonly versionPolicy: VersionPolicy | undefined;
  readonly dynamicBatching: DynamicBatchingConfig | undefined;
  readonly instanceGroup: readonly InstanceGroup[];
  readonly parameters: ReadonlyMap<string, string>;
  /** File name to load in each version directory instead of model.onnx. */
  readonly defaultModelFilename: string | undefined;
}

export interface ParsedConfig {
  readonly config: PartialModelConfig;
  /** Paths of Triton fields present that Sluice does not use, e.g. "model_warmup", "input[0].reshape". */
  readonly ignoredFields: readonly string[];
}

export type ConfigFormat = 'pbtxt' | 'json';

/** A model directory with no config file. */
export const EMPTY_PARTIAL_CONFIG: PartialModelConfig = {
  name: undefined, platform: undefined, backend: undefined, maxBatchSize: undefined, input: [], output: [],
  versionPolicy: undefined, dynamicBatching: undefined, instanceGroup: [], parameters: new Map(),
  defaultModelFilename: undefined,
};

export const DEFAULT_QUEUE_POLICY: QueuePolicy = {
  timeoutAction: 'REJECT', defaultTimeoutMicroseconds: 0, allowTimeoutOverride: false, maxQueueSize: 0,
};

/** `dynamic_batching {}`: Triton's defaults (no delay, one priority level, unbounded queue). */
export const DEFAULT_DYNAMIC_BATCHING: DynamicBatchingConfig = {
  preferredBatchSize: [], maxQueueDelayMicroseconds: 0, preserveOrdering: false, priorityLevels: 0,
  defaultPriorityLevel: 0, defaultQueuePolicy: DEFAULT_QUEUE_POLICY, priorityQueuePolicy: new Map(),
};

/** Config file text → ParsedConfig. Throws SluiceError INVALID_ARGUMENT. */
export function parseConfigText(text: string, format: ConfigFormat): ParsedConfig {
  return format === 'pbtxt'
    ? readModelConfig(parsePbtxt(text), new Reader(false))
    : readModelConfig(parseJsonConfigTree(text), new Reader(true));
}

// ---- field names, per Triton message (model_config.proto) ----

interface Schema {
  readonly used: readonly string[];
  /** Triton fields Sluice accepts and does not act on. */
  readonly ignored: readonly string[];
}

const MODEL_CONFIG: Schema = {
  used: ['name', 'platform', 'backend', 'version_policy', 'max_batch_size', 'input', 'output', 'dynamic_batching',
    'instance_group', 'parameters', 'default_model_filename'],
  ignored: ['runtime', 'batch_input', 'batch_output', 'optimization', 'sequence_batching', 'ensemble_scheduling',
    'cc_model_filenames', 'metric_tags', 'model_warmup', 'model_operations', 'model_transaction_policy',
    'model_repository_agents', 'response_cache'],
};
const MODEL_INPUT: Schema = {
  used: ['name', 'data_type', 'dims'],
  ignored: ['format', 'reshape', 'is_shape_tensor', 'is_non_linear_format_io', 'allow_ragged_batch', 'optional'],
};
const MODEL_OUTPUT: Schema = {
  used: ['name', 'data_type', 'dims'],
  ignored: ['reshape', 'label_filename', 'is_shape_tensor', 'is_non_linear_format_io'],
};
const VERSION_POLICY: Schema = { used: ['latest', 'all', 'specific'], ignored: [] };
const DYNAMIC_BATCHING: Schema = {
  used: ['preferred_batch_size', 'max_queue_delay_microseconds', 'preserve_ordering', 'priority_levels',
    'default_priority_level', 'default_queue_policy', 'priority_queue_policy'],
  ignored: [],
};
const QUEUE_POLICY: Schema = {
  used: ['timeout_action', 'default_timeout_microseconds', 'allow_timeout_override', 'max_queue_size'], ignored: [],
};
const INSTANCE_GROUP: Schema = {
  used: ['count', 'kind'],
  ignored: ['name', 'gpus', 'secondary_devices', 'profile', 'passive', 'host_policy', 'rate_limiter'],
};
const MAP_ENTRY: Schema = { used: ['key', 'value'], ignored: [] };
const MODEL_PARAMETER: Schema = { used: ['string_value'], ignored: [] };

/** Integer ranges of the proto fields. uint64 fields stop at 2^53-1: 285 years of microseconds. */
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** A config with a million bad dims gets a readable message, not a million-part one. */
const MAX_REPORTED_ERRORS = 20;

const CONFIG_DATATYPES = new Map<string, DataType>(DATATYPES.map((d) => [toConfigName(d.name), d.name]));
const INSTANCE_KINDS = enumTable<InstanceKind>(['KIND_AUTO', 'KIND_CPU', 'KIND_GPU']);
const TIMEOUT_ACTIONS = enumTable<TimeoutAction>(['REJECT', 'DELAY']);
const TRUE_WORDS = new Set(['true', 'True', 't']);
const FALSE_WORDS = new Set(['false', 'False', 'f']);

// ---- the reader: scalar rules per format, error collection ----

function enumTable<T extends string>(names: readonly T[]): ReadonlyMap<string, T> {
  return new Map(names.map((n) => [n, n]));
}

const allDefined = <T>(xs: readonly (T | undefined)[]): xs is readonly T[] => xs.every((x) => x !== undefined);


function show(v: PbValue): string {
  switch (v.kind) {
    case 'string': return JSON.stringify(v.value);
    case 'int': return v.value.toString();
    case 'float': return Number.isInteger(v.value) ? v.value.toFixed(1) : String(v.value); // 8.0 is no int
    case 'identifier': return v.value;
    case 'message': return 'a message';
  }
}

/**
 * Reads scalars by the format's rules and collects errors. A read that fails reports and returns
 * undefined; since any report makes the whole parse throw, callers may then fall back to defaults.
 */
class Reader {
  readonly errors: string[] = [];
  readonly ignored: string[] = [];

  constructor(readonly json: boolean) {}

  error(at: PbValue, path: string, reason: string): undefined {
    const pos: PbPosition | undefined = at.pos;
    this.errors.push(`${pos === undefined ? '' : `${pos.line}:${pos.column}: `}${path} ${reason}`);
    return undefined;
  }

  /** A message's fields after checking every name against the schema. */
  fields(msg: PbMessage, path: string, schema: Schema): Fields {
    for (const [field, values] of msg.fields) {
      if (schema.ignored.includes(field)) this.ignored.push(joinPath(path, field));
      else if (!schema.used.includes(field)) {
        this.error(values[0] ?? msg, joinPath(path, field), 'is not a Triton model config field');
      }
    }
    return new Fields(this, msg, path);
  }

  message(v: PbValue, path: string): PbMessage | undefined {
    return v.kind === 'message' ? v : this.error(v, path, `must be a message, got ${show(v)}`);
  }

  string(v: PbValue, path: string): string | undefined {
    return v.kind === 'string' ? v.value : this.error(v, path, `must be a string, got ${show(v)}`);
  }

  bool(v: PbValue, path: string): boolean | undefined {
    if (v.kind === 'identifier' && TRUE_WORDS.has(v.value)) return true;
    if (v.kind === 'identifier' && FALSE_WORDS.has(v.value)) return false;
    return this.error(v, path, `must be true or false, got ${show(v)}`);
  }

  /** `what` completes "must be ..." for out-of-range values, e.g. "a positive integer". */
  int(v: PbValue, path: string, min: number, max: number, what: string): number | undefined {
    let n: bigint | undefined;
    if (v.kind === 'int') n = v.value;
    else if (this.json && v.kind === 'string' && /^-?\d+$/.test(v.value)) n = BigInt(v.value);
    const inRange = n !== undefined && n >= BigInt(min) && n <= BigInt(max);
    return inRange ? Number(n) : this.error(v, path, `must be ${what}, got ${show(v)}`);
  }

  enumName<T>(v: PbValue, path: string, names: ReadonlyMap<string, T>): T | undefined {
    const text = v.kind === 'identifier' || (this.json && v.kind === 'string') ? v.value : undefined;
    const found = text === undefined ? undefined : names.get(text);
    return found ?? this.error(v, path, `must be one of ${[...names.keys()].join(', ')}, got ${show(v)}`);
  }

  /**
   * A map field's entries with their keys unread: pbtxt gives repeated `{ key: K value: V }`
   * messages, JSON one object whose member names are the keys.
   */
  mapEntries(f: Fields, field: string): { key: PbValue; value: PbValue | undefined }[] {
    const path = f.path(field);
    const entries: { key: PbValue; value: PbValue | undefined }[] = [];
    for (const v of f.all(field)) {
      const m = this.message(v, path);
      if (m === undefined) continue;
      if (this.json) {
        for (const [key, values] of m.fields) {
          if (values.length !== 1) this.error(m, `${path}[${JSON.stringify(key)}]`, 'must be a single message');
          else entries.push({ key: { kind: 'string', value: key }, value: values[0] });
        }
        continue;
      }
      const ef = this.fields(m, path, MAP_ENTRY);
      const key = ef.one('key');
      if (key === undefined) this.error(m, path, 'entry has no key');
      else entries.push({ key, value: ef.one('value') });
    }
    return entries;
  }
}

class Fields {
  /** Fields already reported as given twice, so a second look does not report again. */
  private readonly repeated = new Set<string>();

  constructor(private readonly r: Reader, private readonly msg: PbMessage, private readonly base: string) {}

  path(field: string): string {
    return joinPath(this.base, field);
  }

  has(field: string): boolean {
    return this.msg.fields.has(field);
  }

  all(field: string): readonly PbValue[] {
    return this.msg.fields.get(field) ?? [];
  }

  /** The value of a non-repeated field; undefined when absent. */
  one(field: string): PbValue | undefined {
    const values = this.all(field);
    const second = values[1];
    if (second !== undefined && !this.repeated.has(field)) {
      this.repeated.add(field);
      this.r.error(second, this.path(field), `must be given once, got ${values.length} values`);
    }
    return values[0];
  }

  /** read(value, path) for a non-repeated field, or undefined when absent. */
  opt<T>(field: string, read: (v: PbValue, path: string) => T | undefined): T | undefined {
    const v = this.one(field);
    return v === undefined ? undefined : read(v, this.path(field));
  }
}

// ---- ModelConfig and its parts ----

function readModelConfig(tree: PbMessage, r: Reader): ParsedConfig {
  const f = r.fields(tree, '', MODEL_CONFIG);
  const nonEmpty = (v: PbValue, path: string): string | undefined => {
    const s = r.string(v, path);
    return s === '' ? r.error(v, path, 'must not be empty') : s;
  };
  const config: PartialModelConfig = {
    name: f.opt('name', nonEmpty),
    platform: f.opt('platform', nonEmpty),
    backend: f.opt('backend', nonEmpty),
    maxBatchSize: f.opt('max_batch_size', (v, p) => r.int(v, p, 0, INT32_MAX, 'a non-negative integer')),
    input: readTensors(r, f, 'input', MODEL_INPUT),
    output: readTensors(r, f, 'output', MODEL_OUTPUT),
    versionPolicy: f.opt('version_policy', (v, p) => readVersionPolicy(r, v, p)),
    dynamicBatching: f.opt('dynamic_batching', (v, p) => readDynamicBatching(r, v, p)),
    instanceGroup: f.all('instance_group').flatMap((v, i) => readInstanceGroup(r, v, `instance_group[${i}]`) ?? []),
    parameters: readParameters(r, f),
    defaultModelFilename: f.opt('default_model_filename', (v, p) => {
      const s = r.string(v, p);
      // A path here would let a config load files outside its version directory.
      const plainName = s === undefined || (s !== '.' && s !== '..' && s !== '' && basename(s) === s);
      return plainName ? s : r.error(v, p, `must be a file name without directories, got ${show(v)}`);
    }),
  };
  if (r.errors.length > MAX_REPORTED_ERRORS) {
    const more = r.errors.length - MAX_REPORTED_ERRORS;
    throw invalidArgument(`${r.errors.slice(0, MAX_REPORTED_ERRORS).join('; ')}; and ${more} more`);
  }
  if (r.errors.length > 0) throw invalidArgument(r.errors.join('; '));
  return { config, ignoredFields: r.ignored };
}

function readTensors(r: Reader, f: Fields, field: 'input' | 'output', schema: Schema): PartialTensorConfig[] {
  const tensors: PartialTensorConfig[] = [];
  const seen = new Map<string, string>();
  f.all(field).forEach((v, i) => {
    const path = `${field}[${i}]`;
    const m = r.message(v, path);
    if (m === undefined) return;
    const tf = r.fields(m, path, schema);
    const nameValue = tf.one('name');
    const name = nameValue === undefined
      ? r.error(m, `${path}.name`, 'is required')
      : r.string(nameValue, `${path}.name`);
    const dataType = tf.opt('data_type', (d, p) => r.enumName(d, p, CONFIG_DATATYPES));
    const dims = tf.has('dims')
      ? tf.all('dims').map((d, j) => r.int(d, `${path}.dims[${j}]`, -1, SAFE_MAX, '-1 or a non-negative integer'))
      : undefined;
    if (name === undefined || nameValue === undefined || (dims !== undefined && !allDefined(dims))) return;
    if (name === '') return void r.error(nameValue, `${path}.name`, 'must not be empty');
    const first = seen.get(name);
    if (first !== undefined) return void r.error(nameValue, `${path}.name`, `"${name}" is already used by ${first}`);
    seen.set(name, path);
    tensors.push({ name, dataType, dims });
  });
  return tensors;
}

function readVersionPolicy(r: Reader, v: PbValue, path: string): VersionPolicy | undefined {
  const m = r.message(v, path);
  if (m === undefined) return undefined;
  const f = r.fields(m, path, VERSION_POLICY);
  const set = VERSION_POLICY.used.filter((k) => f.has(k));
  if (set.length !== 1) {
    return r.error(m, path, set.length === 0
      ? 'must set one of latest, all, specific'
      : `must set only one of latest, all, specific, got ${set.join(' and ')}`);
  }
  const which = set[0] as string;
  const inner = f.opt(which, (x, p) => r.message(x, p));
  if (inner === undefined) return undefined;
  const innerPath = f.path(which);
  if (which === 'all') {
    r.fields(inner, innerPath, { used: [], ignored: [] });
    return { kind: 'all' };
  }
  if (which === 'latest') {
    const lf = r.fields(inner, innerPath, { used: ['num_versions'], ignored: [] });
    // Absent means 1 (Triton's proto would read 0 and serve nothing, which no one means).
    const n = lf.opt('num_versions', (x, p) => r.int(x, p, 1, UINT32_MAX, 'a positive integer')) ?? 1;
    return { kind: 'latest', numVersions: n };
  }
  const sf = r.fields(inner, innerPath, { used: ['versions'], ignored: [] });
  const versions = sf.all('versions').map((x, i) =>
    r.int(x, `${sf.path('versions')}[${i}]`, 1, SAFE_MAX, 'a positive integer'));
  if (versions.length === 0) return r.error(inner, sf.path('versions'), 'must list at least one version');
  return allDefined(versions) ? { kind: 'specific', versions } : undefined;
}

function readDynamicBatching(r: Reader, v: PbValue, path: string): DynamicBatchingConfig | undefined {
  const m = r.message(v, path);
  if (m === undefined) return undefined;
  const f = r.fields(m, path, DYNAMIC_BATCHING);
  const uint = (field: string): number | undefined =>
    f.opt(field, (x, p) => r.int(x, p, 0, SAFE_MAX, 'a non-negative integer'));
  const preferred = f.all('preferred_batch_size').map((x, i) =>
    r.int(x, `${f.path('preferred_batch_size')}[${i}]`, 1, INT32_MAX, 'a positive integer'));
  // Cross-field checks only between values that were read; a bad value is reported once, by itself.
  const levels = uint('priority_levels');
  const levelsKnown = levels !== undefined || !f.has('priority_levels');
  const defaultLevel = uint('default_priority_level');
  const policies = new Map<number, QueuePolicy>();
  for (const { key, value } of r.mapEntries(f, 'priority_queue_policy')) {
    const keyPath = `${f.path('priority_queue_policy')}[${show(key)}]`;
    const level = r.int(key, `${keyPath} key`, 1, SAFE_MAX, 'a priority level (a positive integer)');
    const policy = value === undefined ? DEFAULT_QUEUE_POLICY : readQueuePolicy(r, value, keyPath);
    if (level === undefined || policy === undefined) continue;
    if (policies.has(level)) r.error(key, keyPath, 'is given more than once');
    else if (levelsKnown && level > (levels ?? 0)) {
      r.error(key, keyPath, levels === undefined
        ? 'needs priority_levels to be set'
        : `is a priority level over priority_levels (${levels})`);
    }
    policies.set(level, policy);
  }
  const defaultKnown = defaultLevel !== undefined || !f.has('default_priority_level');
  if (levelsKnown && defaultKnown) {
    const nLevels = levels ?? 0;
    const at = f.all('default_priority_level')[0] ?? m;
    const where = f.path('default_priority_level');
    if (nLevels === 0 && defaultLevel !== undefined && defaultLevel !== 0) {
      r.error(at, where, `must be 0 when priority_levels is 0 or unset, got ${defaultLevel}`);
    } else if (nLevels > 0 && defaultLevel === undefined) {
      r.error(at, where, `must be set, between 1 and priority_levels (${nLevels})`);
    } else if (nLevels > 0 && defaultLevel !== undefined && (defaultLevel < 1 || defaultLevel > nLevels)) {
      r.error(at, where, `must be between 1 and priority_levels (${nLevels}), got ${defaultLevel}`);
    }
  }
  return {
    preferredBatchSize: preferred.filter((x): x is number => x !== undefined),
    maxQueueDelayMicroseconds: uint('max_queue_delay_microseconds') ?? 0,
    preserveOrdering: f.opt('preserve_ordering', (x, p) => r.bool(x, p)) ?? false,
    priorityLevels: levels ?? 0,
    defaultPriorityLevel: defaultLevel ?? 0,
    defaultQueuePolicy: f.opt('default_queue_policy', (x, p) => readQueuePolicy(r, x, p)) ?? DEFAULT_QUEUE_POLICY,
    priorityQueuePolicy: policies,
  };
}

function readQueuePolicy(r: Reader, v: PbValue, path: string): QueuePolicy | undefined {
  const m = r.message(v, path);
  if (m === undefined) return undefined;
  const f = r.fields(m, path, QUEUE_POLICY);
  const d = DEFAULT_QUEUE_POLICY;
  return {
    timeoutAction: f.opt('timeout_action', (x, p) => r.enumName(x, p, TIMEOUT_ACTIONS)) ?? d.timeoutAction,
    defaultTimeoutMicroseconds: f.opt('default_timeout_microseconds',
      (x, p) => r.int(x, p, 0, SAFE_MAX, 'a non-negative integer')) ?? d.defaultTimeoutMicroseconds,
    allowTimeoutOverride: f.opt('allow_timeout_override', (x, p) => r.bool(x, p)) ?? d.allowTimeoutOverride,
    maxQueueSize: f.opt('max_queue_size',
      (x, p) => r.int(x, p, 0, UINT32_MAX, 'a non-negative integer')) ?? d.maxQueueSize,
  };
}

function readInstanceGroup(r: Reader, v: PbValue, path: string): InstanceGroup | undefined {
  const m = r.message(v, path);
  if (m === undefined) return undefined;
  const f = r.fields(m, path, INSTANCE_GROUP);
  return {
    count: f.opt('count', (x, p) => r.int(x, p, 1, INT32_MAX, 'a positive integer')) ?? 1,
    kind: f.opt('kind', (x, p) => r.enumName(x, p, INSTANCE_KINDS)) ?? 'KIND_AUTO',
  };
}

/** Triton's `parameters` map: string keys, values `{ string_value: "..." }`. */
function readParameters(r: Reader, f: Fields): Map<string, string> {
  const params = new Map<string, string>();
  for (const { key, value } of r.mapEntries(f, 'parameters')) {
    const name = r.string(key, `${f.path('parameters')} key`);
    if (name === undefined) continue;
    const path = `${f.path('parameters')}[${JSON.stringify(name)}]`;
    const m = value === undefined ? undefined : r.message(value, path);
    const s = m === undefined
      ? undefined
      : r.fields(m, path, MODEL_PARAMETER).opt('string_value', (x, p) => r.string(x, p));
    if (params.has(name)) r.error(key, path, 'is given more than once');
    params.set(name, s ?? '');
  }
  return params;
}
