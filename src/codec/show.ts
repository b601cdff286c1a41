/** Client values quoted in error messages. */

/** At most this much of an offending value is quoted in an error message. */
const SHOWN_CHARS = 40;

/**
 * A client's JSON value quoted in an error message, cut to SHOWN_CHARS. Never throws: JSON.parse
 * accepts nesting far deeper than JSON.stringify can recurse, and a RangeError here would turn a
 * client's mistake into an INTERNAL error. A long string is cut before it is stringified.
 */
export function showJson(v: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(typeof v === 'string' ? v.slice(0, SHOWN_CHARS) : v);
  } catch {
    text = Array.isArray(v) ? '[...]' : '{...}';
  }
  return (text ?? String(v)).slice(0, SHOWN_CHARS);
}
