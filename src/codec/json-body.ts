import { invalidArgument } from '../runtime/status';

/**
 * Most JSON objects and arrays one HTTP request body may hold. JSON.parse makes a heap object for
 * each: 63 MB of `{},` took 14 s of the event loop and 1.3 GB of heap (`[],` 8.7 s, 0.8 GB),
 * against 0.6 s and 0.1 GB for the same bytes of flat numbers. A real request needs one object
 * per input and output, one array per shape, and one per row only when data is nested.
 */
export const MAX_JSON_CONTAINERS = 2 ** 18;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/**
 * An HTTP request body's JSON, bytes [0, end): refused (INVALID_ARGUMENT) when it holds more than
 * MAX_JSON_CONTAINERS objects and arrays, or is not JSON. The one place the server parses a body.
 */
export function parseJsonBody(bytes: Buffer, end: number): unknown {
  checkJsonContainers(bytes, end);
  try {
    return JSON.parse(bytes.toString('utf8', 0, end));
  } catch (e) {
    throw invalidArgument(`malformed JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * Counts `{` and `[` outside strings in bytes [0, end) and throws INVALID_ARGUMENT past
 * MAX_JSON_CONTAINERS, before JSON.parse sees the text. Malformed JSON is left to JSON.parse.
 */
function checkJsonContainers(bytes: Uint8Array, end: number): void {
  let containers = 0;
  for (let i = 0; i < end; i++) {
    const b = bytes[i];
    if (b === QUOTE) {
      for (i++; i < end; i++) { // to the closing quote, stepping over escapes
        const c = bytes[i];
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++containers > MAX_JSON_CONTAINERS) {
        throw invalidArgument(`JSON body holds more than ${MAX_JSON_CONTAINERS} objects and arrays; ` +
          'send tensor data flat (one array per input) or as binary data');
      }
    }
  }
}
