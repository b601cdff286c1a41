import { invalidArgument } from '../runtime/status';
import { countVarints, WIRE_LEN, WIRE_VARINT, WireCursor } from './protobuf-wire';

/**
 * A ModelInferRequest's repeated entries outside tensor data (inputs, outputs,
 * raw_input_contents entries, shape dims, parameters), counted from its wire bytes before
 * protobufjs decodes it. protobufjs makes a JS object per entry (an empty input is 2 bytes on the
 * wire and a few hundred in the heap; a shape dim is 1 byte and a ~60-byte Long), so without this
 * bound one 64 MiB message could ask for gigabytes of heap and block the event loop for seconds.
 */

/** Most such entries one request may hold, all kinds together. */
export const MAX_REQUEST_ENTRIES = 65_536;

const REQUEST = { parameters: 4, inputs: 5, outputs: 6, raw: 7 } as const;
const INPUT = { shape: 3, parameters: 4 } as const;
const OUTPUT = { parameters: 2 } as const;

/** Throws INVALID_ARGUMENT when the request holds more than MAX_REQUEST_ENTRIES entries. */
export function checkRequestEntries(bytes: Uint8Array): void {
  // Every entry takes at least one byte on the wire (a packed dim), so a message no longer than
  // the bound cannot pass it: most requests skip the walk.
  if (bytes.length <= MAX_REQUEST_ENTRIES) return;
  const c = new WireCursor(bytes, 'ModelInferRequest');
  let entries = 0;
  const add = (n: number, where: string): void => {
    entries += n;
    if (entries > MAX_REQUEST_ENTRIES) {
      throw invalidArgument(`ModelInferRequest holds more than ${MAX_REQUEST_ENTRIES} inputs, ` +
        `outputs, raw_input_contents entries, shape dims and parameters in all (passed at ${where}); ` +
        'refused without decoding it');
    }
  };
  let inputs = 0;
  let outputs = 0;
  while (!c.done) {
    const tag = c.readTag();
    const field = tag >>> 3;
    if ((tag & 7) !== WIRE_LEN) { c.skip(tag & 7); continue; }
    const length = c.readLength();
    const start = c.pos;
    c.pos += length;
    switch (field) {
      case REQUEST.parameters: add(1, 'parameters'); break;
      case REQUEST.raw: add(1, 'raw_input_contents'); break;
      case REQUEST.inputs: {
        const where = `inputs[${inputs++}]`;
        add(1 + nestedEntries(new WireCursor(bytes, `ModelInferRequest ${where}`, start, start + length),
          INPUT.parameters, INPUT.shape), where);
        break;
      }
      case REQUEST.outputs: {
        const where = `outputs[${outputs++}]`;
        add(1 + nestedEntries(new WireCursor(bytes, `ModelInferRequest ${where}`, start, start + length),
          OUTPUT.parameters, undefined), where);
        break;
      }
      default: break;
    }
  }
}

/** Parameters entries plus shape dims (packed or not) in one input or output message. */
function nestedEntries(c: WireCursor, parametersField: number, shapeField: number | undefined): number {
  let n = 0;
  while (!c.done) {
    const tag = c.readTag();
    const field = tag >>> 3;
    const type = tag & 7;
    if (field === shapeField && type === WIRE_LEN) {
      const length = c.readLength();
      n += countVarints(c, c.pos, c.pos + length);
      c.pos += length;
    } else {
      if ((field === parametersField && type === WIRE_LEN) || (field === shapeField && type === WIRE_VARINT)) n++;
      c.skip(type);
    }
  }
  return n;
}
