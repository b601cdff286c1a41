/**
 * 64-bit integers as they reach the codec: protobufjs decodes int64/uint64 as Long objects (the
 * `long` package is installed), JSON gives numbers or decimal strings, callers may use bigint.
 * Everything here converts exactly or reports that it cannot; nothing rounds silently.
 */
import { showJson } from './show';

/** The parts of a protobufjs Long the codec needs (duck-typed so the codec does not import `long`). */
export interface LongLike {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}

export function isLongLike(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' &&
    typeof (v as LongLike).high === 'number' && typeof (v as LongLike).unsigned === 'boolean';
}

const TWO_32 = 2 ** 32;
/** A decimal integer as text (JSON 64-bit values, shapes written as strings). */
export const DECIMAL_INTEGER = /^-?[0-9]+$/;

/**
 * Decimal text longer than this is refused without being parsed: every int64 and uint64 fits in
 * a sign and 20 digits (the rest is room for leading zeros), and BigInt() on a client's
 * million-digit string holds the event loop for a fraction of a second per million digits, longer
 * than linearly.
 */
export const MAX_DECIMAL_CHARS = 40;

/** `v` is decimal integer text short enough to parse (see MAX_DECIMAL_CHARS). */
function isShortDecimal(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_DECIMAL_CHARS && DECIMAL_INTEGER.test(v);
}

/**
 * The exact value as a JS number, or undefined when `v` is not an integer or not a safe one.
 * Accepts number, Long, bigint and decimal strings.
 */
export function toSafeInteger(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (isLongLike(v)) {
    // Rounding is monotonic, so a true value beyond 2^53 never lands on a safe integer.
    n = (v.unsigned ? v.high >>> 0 : v.high | 0) * TWO_32 + (v.low >>> 0);
  } else if (typeof v === 'bigint') n = Number(v);
  else if (isShortDecimal(v)) n = Number(v);
  else return undefined;
  if (!Number.isSafeInteger(n)) return undefined;
  // Number(bigint) and Number(string) round; reject values that only became safe by rounding.
  if (typeof v === 'bigint' && BigInt(n) !== v) return undefined;
  if (typeof v === 'string' && BigInt(n) !== BigInt(v)) return undefined;
  return n === 0 ? 0 : n; // never -0
}

function longToBigInt(v: LongLike): bigint {
  const high = BigInt(v.unsigned ? v.high >>> 0 : v.high | 0);
  return (high << 32n) + BigInt(v.low >>> 0);
}

/** Exact decimal text of a Long, number or bigint (anything else as cut JSON), for error messages. */
export function integerText(v: unknown): string {
  if (isLongLike(v)) return longToBigInt(v).toString();
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return showJson(v);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * A JSON value (integer number or decimal string) as an int64/uint64 bigint; undefined when it is
 * not an integer, not exact (an unsafe number already lost digits in JSON.parse) or out of range.
 */
export function jsonToBigInt64(v: unknown, unsigned: boolean): bigint | undefined {
  let b: bigint;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return undefined;
    b = BigInt(v);
  } else if (isShortDecimal(v)) b = BigInt(v);
  else return undefined;
  const [min, max] = unsigned ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
  return b < min || b > max ? undefined : b;
}
