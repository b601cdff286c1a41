import { invalidArgument } from '../runtime/status';

/**
 * A parser for the protobuf text format as Triton model configs (config.pbtxt) use it.
 *
 * It is schema-less: the result is a tree of field → values, and typing is left to
 * config-parse.ts. So a field given once and a repeated field look alike (both are lists), and
 * integers stay bigints: uint64/int64 fields must not lose precision before a schema has looked
 * at them. Every value keeps its position so later errors can point into the file.
 *
 * Grammar accepted (that of protobuf's TextFormat, minus extensions and Any):
 *   field: scalar        field: [scalar, ...]      (the colon is required before scalars)
 *   field { ... }        field: { ... }            field < ... >     field [ {...}, {...} ]
 *   fields separated by whitespace, ',' or ';';   '#' starts a comment to the end of the line
 *   scalars: "..." or '...' (C escapes, adjacent literals concatenate), integers (decimal, 0x hex,
 *   0 octal, leading '-'), floats (1.5, .5, 1e3, 2f, inf, nan), bare identifiers (enums, true/false)
 * Maps are ordinary repeated messages here (`parameters { key: "k" value { ... } }`).
 */

/** Longest config text accepted (characters); Triton configs are a few KiB. */
export const PBTXT_MAX_CHARS = 4 * 1024 * 1024;
/** Deepest message nesting accepted; Triton's own schema nests about five levels. */
export const PBTXT_MAX_DEPTH = 64;

/** 1-based; columns count UTF-16 code units, tabs as one. */
export interface PbPosition {
  readonly line: number;
  readonly column: number;
}

/** `pos` is absent for trees built from JSON (config-parse.ts), which has no positions to give. */
export type PbScalar =
  | { readonly kind: 'string'; readonly value: string; readonly pos?: PbPosition }
  | { readonly kind: 'int'; readonly value: bigint; readonly pos?: PbPosition }
  | { readonly kind: 'float'; readonly value: number; readonly pos?: PbPosition }
  /** Enum names and true/false: what they mean depends on the field, so they stay text. */
  | { readonly kind: 'identifier'; readonly value: string; readonly pos?: PbPosition };

export interface PbMessage {
  readonly kind: 'message';
  /** In the order fields first appear; each field's values in the order given. */
  readonly fields: ReadonlyMap<string, readonly PbValue[]>;
  readonly pos?: PbPosition;
}

export type PbValue = PbScalar | PbMessage;

/**
 * Parses protobuf text into a tree. `source` (a file name) prefixes error messages, which read
 * `source:line:column: reason`. Throws SluiceError INVALID_ARGUMENT.
 */
export function parsePbtxt(text: string, source?: string): PbMessage {
  const prefix = source === undefined ? '' : `${source}: `;
  if (text.length > PBTXT_MAX_CHARS) {
    throw invalidArgument(`${prefix}text is ${text.length} characters; the limit is ${PBTXT_MAX_CHARS}`);
  }
  return new Parser(new Lexer(text, source)).parse();
}

type Token =
  | { readonly type: 'ident'; readonly text: string; readonly pos: PbPosition }
  | { readonly type: 'int'; readonly text: string; readonly value: bigint; readonly pos: PbPosition }
  | { readonly type: 'float'; readonly text: string; readonly value: number; readonly pos: PbPosition }
  | { readonly type: 'string'; readonly value: string; readonly pos: PbPosition }
  | { readonly type: 'symbol'; readonly text: string; readonly pos: PbPosition }
  | { readonly type: 'eof'; readonly pos: PbPosition };

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
/** Hex, or digits with an optional fraction, exponent and float suffix; must not run into a name. */
const NUMBER = /(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)(?![A-Za-z0-9_.])/y;
const FLOAT_WORDS = new Map([['inf', Infinity], ['infinity', Infinity], ['nan', NaN]]);
const SYMBOLS = new Set(['{', '}', '[', ']', '<', '>', ':', ',', ';', '-']);
const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  n: 0x0a, t: 0x09, r: 0x0d, a: 0x07, b: 0x08, f: 0x0c, v: 0x0b, '\\': 0x5c, "'": 0x27, '"': 0x22, '?': 0x3f,
};
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(private readonly src: string, private readonly source: string | undefined) {
    if (src.startsWith('\uFEFF')) this.i = this.lineStart = 1;
  }

  fail(pos: PbPosition, reason: string): never {
    const where = `${pos.line}:${pos.column}`;
    throw invalidArgument(this.source === undefined ? `${where}: ${reason}` : `${this.source}:${where}: ${reason}`);
  }

  peek(): Token {
    this.peeked ??= this.scan();
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private pos(): PbPosition {
    return { line: this.line, column: this.i - this.lineStart + 1 };
  }

  private skipSpaceAndComments(): void {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '\n') {
        this.i++;
        this.line++;
        this.lineStart = this.i;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.i++;
      } else if (c === '#') {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else {
        return;
      }
    }
  }

  private scan(): Token {
    this.skipSpaceAndComments();
    const pos = this.pos();
    const s = this.src;
    if (this.i >= s.length) return { type: 'eof', pos };
    const c = s[this.i] as string;
    if (c === '"' || c === "'") return { type: 'string', value: this.string(c, pos), pos };
    IDENT.lastIndex = this.i;
    const ident = IDENT.exec(s);
    if (ident !== null) {
      this.i += ident[0].length;
      return { type: 'ident', text: ident[0], pos };
    }
    if (/[0-9.]/.test(c)) return this.number(pos);
    if (SYMBOLS.has(c)) {
      this.i++;
      return { type: 'symbol', text: c, pos };
    }
    return this.fail(pos, `unexpected character ${JSON.stringify(c)}`);
  }

  private number(pos: PbPosition): Token {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.src);
    if (m === null) {
      const bad = /[A-Za-z0-9_.]*/y;
      bad.lastIndex = this.i;
      return this.fail(pos, `invalid number "${bad.exec(this.src)?.[0] ?? ''}"`);
    }
    const text = m[0];
    this.i += text.length;
    if (/^0[xX]/.test(text)) return { type: 'int', text, value: BigInt(text), pos };
    if (/[.eEfF]/.test(text)) return { type: 'float', text, value: Number.parseFloat(text), pos };
    if (text.length > 1 && text.startsWith('0')) {
      // C-style octal, as protobuf's tokenizer reads it.
      if (!/^[0-7]+$/.test(text)) this.fail(pos, `invalid octal number "${text}"`);
      return { type: 'int', text, value: BigInt(`0o${text.slice(1)}`), pos };
    }
    return { type: 'int', text, value: BigInt(text), pos };
  }

  /** Protobuf strings are bytes; escapes build the bytes, which must then be UTF-8. */
  private string(quote: string, pos: PbPosition): string {
    const s = this.src;
    // Chunks, not one number[]: spreading a multi-megabyte run into push() overflows the stack.
    const chunks: Uint8Array[] = [];
    let runStart = ++this.i;
    const flushRun = (): void => {
      if (this.i > runStart) chunks.push(utf8.encode(s.slice(runStart, this.i)));
    };
    for (;;) {
      if (this.i >= s.length || s[this.i] === '\n') this.fail(pos, 'unterminated string');
      const c = s[this.i];
      if (c === quote) {
        flushRun();
        this.i++;
        break;
      }
      if (c === '\\') {
        flushRun();
        chunks.push(this.escape());
        runStart = this.i;
      } else {
        this.i++;
      }
    }
    try {
      return strictUtf8.decode(Buffer.concat(chunks));
    } catch {
      return this.fail(pos, 'string is not valid UTF-8');
    }
  }

  /** The bytes of the escape at this.i (a backslash); leaves this.i after it. */
  private escape(): Uint8Array {
    const s = this.src;
    const pos = this.pos();
    const c = s[this.i + 1] ?? '';
    const hexDigits = (max: number): string => {
      let d = '';
      while (d.length < max && /[0-9a-fA-F]/.test(s[this.i + 2 + d.length] ?? '')) d += s[this.i + 2 + d.length];
      return d;
    };
    const simple = SIMPLE_ESCAPES[c];
    if (simple !== undefined) {
      this.i += 2;
      return Uint8Array.of(simple);
    }
    if (/[0-7]/.test(c)) {
      let oct = c;
      while (oct.length < 3 && /[0-7]/.test(s[this.i + 1 + oct.length] ?? '')) oct += s[this.i + 1 + oct.length];
      const v = Number.parseInt(oct, 8);
      if (v > 0xff) this.fail(pos, `octal escape "\\${oct}" is over \\377`);
      this.i += 1 + oct.length;
      return Uint8Array.of(v);
    }
    if (c === 'x' || c === 'X') {
      const hex = hexDigits(2);
      if (hex === '') this.fail(pos, 'escape "\\x" needs hex digits');
      this.i += 2 + hex.length;
      return Uint8Array.of(Number.parseInt(hex, 16));
    }
    if (c === 'u' || c === 'U') {
      const want = c === 'u' ? 4 : 8;
      const hex = hexDigits(want);
      const cp = Number.parseInt(hex, 16);
      if (hex.length !== want || cp > 0x10ffff) {
        this.fail(pos, `escape "\\${c}" needs ${want} hex digits of a Unicode code point`);
      }
      this.i += 2 + want;
      return utf8.encode(String.fromCodePoint(cp));
    }
    return this.fail(pos, `invalid escape "\\${c}"`);
  }
}

function describe(t: Token): string {
  switch (t.type) {
    case 'eof': return 'end of input';
    case 'string': return 'a string';
    case 'int': case 'float': case 'ident': case 'symbol': return `"${t.text}"`;
  }
}

class Parser {
  constructor(private readonly lex: Lexer) {}

  parse(): PbMessage {
    return this.fields(undefined, 0, { line: 1, column: 1 });
  }

  /** Fields up to `close` ('}' or '>'), or to the end of input for the top level. */
  private fields(open: { close: string; name: string } | undefined, depth: number, pos: PbPosition): PbMessage {
    const fields = new Map<string, PbValue[]>();
    for (;;) {
      const t = this.lex.next();
      if (t.type === 'eof') {
        if (open === undefined) break;
        this.lex.fail(t.pos, `missing "${open.close}" to close "${open.name}" opened at ${pos.line}:${pos.column}`);
      }
      if (t.type === 'symbol' && t.text === open?.close) break;
      if (t.type !== 'ident') {
        this.lex.fail(t.pos, t.type === 'symbol' && t.text === '['
          ? 'extension and Any fields ("[...]") are not supported'
          : `expected a field name, got ${describe(t)}`);
      }
      const values = this.values(t.text, depth);
      const list = fields.get(t.text) ?? [];
      // A loop, not push(...values): spreading a million-element list overflows the stack.
      for (const v of values) list.push(v);
      fields.set(t.text, list);
      const sep = this.lex.peek();
      if (sep.type === 'symbol' && (sep.text === ',' || sep.text === ';')) this.lex.next();
    }
    return { kind: 'message', fields, pos };
  }

  /** What follows a field name: a message, a list, or (after ':') a scalar. */
  private values(name: string, depth: number): PbValue[] {
    let t = this.lex.peek();
    const colon = t.type === 'symbol' && t.text === ':';
    if (colon) {
      this.lex.next();
      t = this.lex.peek();
    }
    if (t.type === 'symbol' && (t.text === '{' || t.text === '<')) return [this.message(name, depth)];
    if (t.type === 'symbol' && t.text === '[') return this.list(name, depth, colon);
    if (!colon) this.lex.fail(t.pos, `expected ":" or "{" after field name "${name}", got ${describe(t)}`);
    return [this.scalar(name)];
  }

  private list(name: string, depth: number, colon: boolean): PbValue[] {
    this.lex.next();
    const values: PbValue[] = [];
    if (this.isSymbol(']')) {
      this.lex.next();
      return values;
    }
    for (;;) {
      const t = this.lex.peek();
      if (t.type === 'symbol' && (t.text === '{' || t.text === '<')) {
        values.push(this.message(name, depth));
      } else {
        if (!colon) this.lex.fail(t.pos, `expected ":" before the list of values for "${name}"`);
        values.push(this.scalar(name));
      }
      const sep = this.lex.next();
      if (sep.type === 'symbol' && sep.text === ']') return values;
      if (sep.type !== 'symbol' || sep.text !== ',') {
        this.lex.fail(sep.pos, `expected "," or "]" in the list for "${name}", got ${describe(sep)}`);
      }
    }
  }

  private message(name: string, depth: number): PbMessage {
    const open = this.lex.next();
    if (depth + 1 > PBTXT_MAX_DEPTH) this.lex.fail(open.pos, `messages nest deeper than ${PBTXT_MAX_DEPTH} levels`);
    const close = open.type === 'symbol' && open.text === '<' ? '>' : '}';
    return this.fields({ close, name }, depth + 1, open.pos);
  }

  private scalar(name: string): PbScalar {
    const t = this.lex.next();
    switch (t.type) {
      case 'string': {
        let value = t.value;
        for (let n = this.lex.peek(); n.type === 'string'; n = this.lex.peek()) {
          value += n.value;
          this.lex.next();
        }
        return { kind: 'string', value, pos: t.pos };
      }
      case 'int': return { kind: 'int', value: t.value, pos: t.pos };
      case 'float': return { kind: 'float', value: t.value, pos: t.pos };
      case 'ident': {
        const word = FLOAT_WORDS.get(t.text.toLowerCase());
        return word === undefined
          ? { kind: 'identifier', value: t.text, pos: t.pos }
          : { kind: 'float', value: word, pos: t.pos };
      }
      case 'symbol':
        if (t.text === '-') return this.negative(t.pos);
        break;
      case 'eof':
        break;
    }
    return this.lex.fail(t.pos, `expected a value for "${name}", got ${describe(t)}`);
  }

  private negative(pos: PbPosition): PbScalar {
    const n = this.lex.next();
    if (n.type === 'int') return { kind: 'int', value: -n.value, pos };
    if (n.type === 'float') return { kind: 'float', value: -n.value, pos };
    const word = n.type === 'ident' ? FLOAT_WORDS.get(n.text.toLowerCase()) : undefined;
    if (word !== undefined) return { kind: 'float', value: -word, pos };
    return this.lex.fail(n.pos, `expected a number after "-", got ${describe(n)}`);
  }

  private isSymbol(text: string): boolean {
    const t = this.lex.peek();
    return t.type === 'symbol' && t.text === text;
  }
}
