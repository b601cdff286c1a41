import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PBTXT_MAX_CHARS, PBTXT_MAX_DEPTH, parsePbtxt, type PbMessage, type PbValue } from '../../src/repository/pbtxt';

/** A tree without positions, as plain data: scalars become their values, messages objects of arrays. */
function plain(v: PbValue): unknown {
  if (v.kind !== 'message') return v.value;
  return Object.fromEntries([...v.fields].map(([k, vs]) => [k, vs.map(plain)]));
}
const parse = (text: string): unknown => plain(parsePbtxt(text));
const syntaxError = (message: RegExp): object => ({ name: 'SluiceError', code: 'INVALID_ARGUMENT', message });

/** A config as Triton's docs and model zoo write them, exercising every construct at once. */
const RESNET_CONFIG = `
# ResNet-50 served by the ONNX Runtime backend.
name: "resnet50"
platform: 'onnxruntime_onnx'
max_batch_size: 32  # rows
input [
  {
    name: "input__0"
    data_type: TYPE_FP32
    format: FORMAT_NCHW
    dims: [ 3, 224, 224 ]
  }
]
output {
  name: "output__0",
  data_type: TYPE_FP32;
  dims: [ 1000 ]
  label_filename: "labels.txt"
}
instance_group [ { count: 2, kind: KIND_CPU }, { kind: KIND_GPU gpus: [ 0, 1 ] } ]
dynamic_batching {
  preferred_batch_size: [ 8, 16 ]
  max_queue_delay_microseconds: 100
  priority_levels: 2
  default_priority_level: 2
  default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 5000 }
  priority_queue_policy {
    key: 1
    value: { timeout_action: DELAY, allow_timeout_override: true, max_queue_size: 10 }
  }
  priority_queue_policy < key: 2 value < max_queue_size: 4 > >
}
parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
parameters: { key: "execution_mode" value { string_value: "0" } }
version_policy: { specific: { versions: [1, 3] versions: 5 } };
model_warmup [ ]
`;

describe('parsePbtxt: a real Triton config', () => {
  const tree = parse(RESNET_CONFIG);

  test('scalars, nested messages and repeated fields become field → value lists', () => {
    assert.deepEqual(tree, {
      name: ['resnet50'],
      platform: ['onnxruntime_onnx'],
      max_batch_size: [32n],
      input: [{ name: ['input__0'], data_type: ['TYPE_FP32'], format: ['FORMAT_NCHW'], dims: [3n, 224n, 224n] }],
      output: [{ name: ['output__0'], data_type: ['TYPE_FP32'], dims: [1000n], label_filename: ['labels.txt'] }],
      instance_group: [{ count: [2n], kind: ['KIND_CPU'] }, { kind: ['KIND_GPU'], gpus: [0n, 1n] }],
      dynamic_batching: [{
        preferred_batch_size: [8n, 16n],
        max_queue_delay_microseconds: [100n],
        priority_levels: [2n],
        default_priority_level: [2n],
        default_queue_policy: [{ timeout_action: ['REJECT'], default_timeout_microseconds: [5000n] }],
        priority_queue_policy: [
          {
            key: [1n],
            value: [{ timeout_action: ['DELAY'], allow_timeout_override: ['true'], max_queue_size: [10n] }],
          },
          { key: [2n], value: [{ max_queue_size: [4n] }] },
        ],
      }],
      parameters: [
        { key: ['intra_op_thread_count'], value: [{ string_value: ['2'] }] },
        { key: ['execution_mode'], value: [{ string_value: ['0'] }] },
      ],
      version_policy: [{ specific: [{ versions: [1n, 3n, 5n] }] }],
      model_warmup: [],
    });
  });

  test('values keep their kinds and 1-based positions', () => {
    const t = parsePbtxt(RESNET_CONFIG);
    assert.deepEqual(t.fields.get('max_batch_size'), [{ kind: 'int', value: 32n, pos: { line: 5, column: 17 } }]);
    const input = t.fields.get('input')?.[0] as PbMessage;
    assert.deepEqual(input.pos, { line: 7, column: 3 });
    assert.deepEqual(input.fields.get('data_type'),
      [{ kind: 'identifier', value: 'TYPE_FP32', pos: { line: 9, column: 16 } }]);
    assert.equal(t.fields.get('name')?.[0]?.kind, 'string');
  });
});

describe('parsePbtxt: scalars', () => {
  test('integers: decimal, negative, hex, octal, beyond 2^53', () => {
    assert.deepEqual(parse('a: 0 a: -1 a: 0x1F a: -0x10 a: 017 a: 18446744073709551615'),
      { a: [0n, -1n, 31n, -16n, 15n, 18446744073709551615n] });
  });

  test('floats: fraction, exponent, f suffix, inf and nan', () => {
    const t = parsePbtxt('f: 1.5 f: .25 f: -2e3 f: 3f f: 1E-2 f: inf f: -Infinity f: nan');
    const values = (t.fields.get('f') ?? []).map((v) => (v.kind === 'float' ? v.value : v.kind));
    assert.deepEqual(values, [1.5, 0.25, -2000, 3, 0.01, Infinity, -Infinity, NaN]);
  });

  test('strings: both quotes, escapes, adjacent literals concatenate, UTF-8 kept', () => {
    assert.deepEqual(parse(String.raw`s: "tab\there \"q\" \'s\' \\ \x41\101\u00e9\U0001F600" s: 'it''s' "→ok"`),
      { s: ['tab\there "q" \'s\' \\ AAé😀', 'its→ok'] });
    assert.deepEqual(parse(String.raw`s: "\303\251"`), { s: ['é'] }, 'octal escapes build UTF-8 bytes');
  });

  test('identifiers: enums and booleans stay text for the schema to read', () => {
    assert.deepEqual(parse('k: KIND_CPU b: true c: False'), { k: ['KIND_CPU'], b: ['true'], c: ['False'] });
  });

  test('lists: scalars, messages, empty, and mixed with repeated single values', () => {
    assert.deepEqual(parse('d: [1, 2] d: 3 e: [] m [ {x: 1}, <x: 2> ] m: [{x: 3}]'),
      { d: [1n, 2n, 3n], e: [], m: [{ x: [1n] }, { x: [2n] }, { x: [3n] }] });
  });

  test('comments, separators and a byte-order mark are skipped', () => {
    assert.deepEqual(parse('\uFEFF# top\na: 1, # after a value\nb: [ # inside a list\n 2 # here\n ];\nc { } # end'),
      { a: [1n], b: [2n], c: [{}] });
    assert.deepEqual(parse(''), {});
    assert.deepEqual(parse('# only a comment'), {});
  });
});

describe('parsePbtxt: errors carry line:column and say what was expected', () => {
  const cases: [string, string, RegExp][] = [
    ['missing colon before a scalar', 'max_batch_size 8',
      /^1:16: expected ":" or "\{" after field name "max_batch_size", got "8"$/],
    ['scalar list without a colon', 'dims [ 4 ]', /^1:8: expected ":" before the list of values for "dims"$/],
    ['trailing comma in a list', 'dims: [1, 2,]', /^1:13: expected a value for "dims", got "\]"$/],
    ['missing list separator', 'dims: [1 2]', /^1:10: expected "," or "\]" in the list for "dims", got "2"$/],
    ['unclosed message', 'a: 1\ninput {\n  name: "x"\n', /^4:1: missing "\}" to close "input" opened at 2:7$/],
    ['unmatched close', 'a: 1 }', /^1:6: expected a field name, got "\}"$/],
    ['mismatched close', 'a < b: 1 }', /^1:10: expected a field name, got "\}"$/],
    ['unterminated string', 'name: "abc\n', /^1:7: unterminated string$/],
    ['bad escape', 'name: "a\\qb"', /^1:9: invalid escape "\\q"$/],
    ['octal escape too large', 'name: "\\777"', /^1:8: octal escape "\\777" is over \\377$/],
    ['short unicode escape', 'name: "\\u12"', /^1:8: escape "\\u" needs 4 hex digits/],
    ['invalid UTF-8 from escapes', 'name: "\\xff"', /^1:7: string is not valid UTF-8$/],
    ['number running into a name', 'a: 12abc', /^1:4: invalid number "12abc"$/],
    ['bad octal', 'a: 09', /^1:4: invalid octal number "09"$/],
    ['two dots', 'a: 1.2.3', /^1:4: invalid number "1.2.3"$/],
    ['minus without a number', 'a: -KIND_CPU', /^1:5: expected a number after "-", got "KIND_CPU"$/],
    ['stray character', 'a: 1\n  @', /^2:3: unexpected character "@"$/],
    ['extension field', '[ext.field]: 1', /^1:1: extension and Any fields \("\[\.\.\.\]"\) are not supported$/],
    ['value missing at the end', 'a:', /^1:3: expected a value for "a", got end of input$/],
    ['field name missing', ': 1', /^1:1: expected a field name, got ":"$/],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => assert.throws(() => parsePbtxt(text), syntaxError(message)));
  }

  test('the source name prefixes the position', () => {
    assert.throws(() => parsePbtxt('a: 1\nb 2', 'models/x/config.pbtxt'),
      syntaxError(/^models\/x\/config\.pbtxt:2:3: expected ":"/));
  });
});

describe('parsePbtxt: pathological input', () => {
  const nested = (depth: number): string => `${'m { '.repeat(depth)}${'} '.repeat(depth)}`;

  test(`nesting is capped at ${PBTXT_MAX_DEPTH} levels`, () => {
    assert.doesNotThrow(() => parsePbtxt(nested(PBTXT_MAX_DEPTH)));
    assert.throws(() => parsePbtxt(nested(PBTXT_MAX_DEPTH + 1)),
      syntaxError(new RegExp(`^1:${4 * PBTXT_MAX_DEPTH + 3}: messages nest deeper than ${PBTXT_MAX_DEPTH} levels$`)));
    assert.throws(() => parsePbtxt(nested(100_000)), syntaxError(/nest deeper/), 'no stack overflow');
  });

  test('text over the size limit is refused before parsing', () => {
    assert.throws(() => parsePbtxt('#'.repeat(PBTXT_MAX_CHARS + 1), 'big.pbtxt'),
      syntaxError(new RegExp(
        `^big\\.pbtxt: text is ${PBTXT_MAX_CHARS + 1} characters; the limit is ${PBTXT_MAX_CHARS}$`)));
  });

  test('a multi-megabyte string literal parses (no argument-spread overflow)', () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    assert.equal((parse(`s: "${big}"`) as { s: string[] }).s[0]?.length, big.length);
  });

  test('a field repeated with a million-element list parses', () => {
    const list = `[${'0,'.repeat(999_999)}0]`;
    const t = parsePbtxt(`d: ${list}\nd: ${list}`);
    assert.equal(t.fields.get('d')?.length, 2_000_000);
  });

  test('random byte soup fails with a SluiceError, never anything else', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = 'ab_:{}[]<>,;-"\'\\#\n 0123456789.xeE';
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: rand(40) }, () => alphabet[rand(alphabet.length)]).join('');
      try {
        parsePbtxt(text);
      } catch (e) {
        assert.equal((e as Error).name, 'SluiceError', `${JSON.stringify(text)} threw ${String(e)}`);
        assert.match((e as Error).message, /^\d+:\d+: /, JSON.stringify(text));
      }
    }
  });
});
