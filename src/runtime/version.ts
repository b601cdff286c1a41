import { invalidArgument, printable } from './status';

/**
 * Parses a requested model version. "" or undefined means "the default version" (undefined is
 * returned); anything else must be a non-negative decimal integer and is returned normalised
 * ("007" → "7"), so it can be compared with repository version directory names.
 */
export function parseVersion(v: string | number | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`model version must be a non-negative integer, got ${v}`);
    return String(v);
  }
  if (!/^[0-9]{1,18}$/.test(v)) {
    throw invalidArgument(`model version must be a non-negative integer, got '${printable(v, 64)}'`);
  }
  return BigInt(v).toString();
}

