import type * as protobuf from 'protobufjs';
import { isDataType } from '../runtime/datatypes';
import { invalidArgument, printableName } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';
import type { InferResult } from '../runtime/types';
import type { DecodedInferRequest, RequestedOutput } from './decoded-request';
import { parseInputParameters, parseOutputParameters, parseRequestParameters } from './parameters';
import { checkRequestEntries } from './grpc-request-scan';
import { inferRequestWithContentsBytes, protoType } from './proto';
import { tensorFromRaw, tensorToRaw } from './raw';
import { checkShape, countBytesElements } from './shape';
import { hasTypedContents, scanContents, tensorFromContents, type ScannedContents } from './typed-contents';

/**
 * gRPC ModelInfer / ModelStreamInfer messages ⇄ DecodedInferRequest / InferResult. Works on the
 * protobufjs-decoded message directly (no JSON or toObject round trip); raw contents stay views
 * into the request bytes where alignment allows.
 */

/** ModelInferRequest as protobufjs decodes it: absent proto3 fields read as their defaults. */
interface WireRequest {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly parameters: Record<string, unknown>;
  readonly inputs: readonly WireInput[];
  readonly outputs: readonly WireRequestedOutput[];
  readonly raw_input_contents: readonly Uint8Array[];
}
interface WireInput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly unknown[];
  readonly parameters: Record<string, unknown>;
  /** The InferTensorContents message's bytes (see inferRequestWithContentsBytes); empty when absent. */
  readonly contents: Uint8Array | readonly number[];
}
interface WireRequestedOutput {
  readonly name: string;
  readonly parameters: Record<string, unknown>;
}

/** ModelInferResponse as a plain object protobufjs can encode. */
export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: { name: string; datatype: string; shape: readonly number[] }[];
  raw_output_contents: Uint8Array[];
}

let types: { request: protobuf.Type; response: protobuf.Type; stream: protobuf.Type } | undefined;

/** Looked up on first use so importing the codec does not parse the protos. */
function wireTypes(): NonNullable<typeof types> {
  types ??= {
    request: inferRequestWithContentsBytes(),
    response: protoType('inference.ModelInferResponse'),
    stream: protoType('inference.ModelStreamInferResponse'),
  };
  return types;
}

const EMPTY = new Uint8Array(0);

export function decodeGrpcInferRequest(bytes: Uint8Array): DecodedInferRequest {
  const { request } = wireTypes();
  checkRequestEntries(bytes);
  let msg: WireRequest;
  try {
    msg = request.decode(bytes) as unknown as WireRequest;
  } catch (e) {
    throw invalidArgument(`malformed ModelInferRequest: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { priority, timeoutMicroseconds } = parseRequestParameters(msg.parameters, 'grpc');
  return {
    modelName: msg.model_name,
    modelVersion: msg.model_version,
    id: msg.id,
    inputs: decodeInputs(msg),
    outputs: decodeOutputs(msg.outputs),
    options: { priority, timeoutMicroseconds },
  };
}

function decodeInputs(msg: WireRequest): Map<string, Tensor> {
  const raw = msg.raw_input_contents;
  const n = msg.inputs.length;
  if (raw.length !== 0 && raw.length !== n) {
    const typed = msg.inputs.find((input) => hasTypedContents(contentsOf(input, `input '${printableName(input.name)}'`)));
    const counts = `raw_input_contents has ${raw.length} entries for ${n} inputs`;
    if (typed !== undefined) {
      throw invalidArgument(`input '${typed.name}': raw and typed contents mixed (${counts})`);
    }
    throw invalidArgument(`${counts}; send one per input, in inputs order, or none`);
  }
  const inputs = new Map<string, Tensor>();
  let bytesElements = 0;
  msg.inputs.forEach((input, i) => {
    if (input.name === '') throw invalidArgument(`inputs[${i}]: name is required`);
    const what = `input '${printableName(input.name)}'`;
    if (inputs.has(input.name)) throw invalidArgument(`${what}: duplicate input name`);
    const { datatype } = input;
    if (!isDataType(datatype)) {
      throw invalidArgument(`${what}: unknown datatype '${datatype.slice(0, 40)}'`);
    }
    parseInputParameters(input.parameters, 'grpc', what);
    const { shape, count } = checkShape(input.shape, what);
    if (datatype === 'BYTES') bytesElements = countBytesElements(bytesElements, count, what);
    const contents = contentsOf(input, what);
    const typed = hasTypedContents(contents);
    const rawBytes = raw[i];
    let tensor: Tensor;
    if (rawBytes !== undefined) {
      if (typed) {
        throw invalidArgument(`${what}: raw and typed contents mixed; a request sends every input ` +
          'in raw_input_contents or every input in contents');
      }
      tensor = tensorFromRaw(datatype, shape, count, rawBytes, what);
    } else if (contents !== undefined && typed) {
      tensor = tensorFromContents(datatype, shape, count, contents, what);
    } else if (count === 0) {
      tensor = tensorFromRaw(datatype, shape, 0, EMPTY, what); // nothing to send for no elements
    } else {
      throw invalidArgument(`${what}: no data (neither raw_input_contents nor contents)`);
    }
    inputs.set(input.name, tensor);
  });
  return inputs;
}

/** The input's typed contents, scanned; undefined when the request has none for it. */
function contentsOf(input: WireInput, what: string): ScannedContents | undefined {
  const bytes = input.contents;
  if (bytes.length === 0 || !(bytes instanceof Uint8Array)) return undefined;
  return scanContents(bytes, what);
}

function decodeOutputs(wire: readonly WireRequestedOutput[]): RequestedOutput[] {
  const seen = new Set<string>();
  return wire.map((output, i) => {
    if (output.name === '') throw invalidArgument(`outputs[${i}]: name is required`);
    const what = `output '${printableName(output.name)}'`;
    if (seen.has(output.name)) throw invalidArgument(`${what}: requested twice`);
    seen.add(output.name);
    parseOutputParameters(output.parameters, 'grpc', what);
    return { name: output.name, binary: undefined }; // gRPC outputs are always raw
  });
}

/**
 * InferResult → ModelInferResponse fields. Every output goes in raw_output_contents, one entry
 * per output in order, even when empty: tritonclient reads only those for non-BYTES outputs.
 */
export function encodeGrpcInferResponseObject(result: InferResult): GrpcInferResponse {
  const outputs: GrpcInferResponse['outputs'] = [];
  const raw: Uint8Array[] = [];
  for (const [name, tensor] of result.outputs) {
    outputs.push({ name, datatype: tensor.datatype, shape: tensor.shape });
    raw.push(tensorToRaw(tensor, `output '${name}'`));
  }
  return {
    model_name: result.model,
    model_version: result.version,
    id: result.id ?? '',
    outputs,
    raw_output_contents: raw,
  };
}

export function encodeGrpcInferResponse(result: InferResult): Buffer {
  return Buffer.concat(encodeResponsePieces(result, false));
}

/**
 * The same bytes as encodeGrpcInferResponse, as pieces to write in order: what the server sends.
 * Each output's bytes are a view of its tensor, not a copy (see encodeResponsePieces).
 */
export function encodeGrpcInferResponsePieces(result: InferResult): Uint8Array[] {
  return encodeResponsePieces(result, false);
}

/** Length-delimited wire tags (field number << 3 | 2). */
const TAG_RAW_OUTPUT_CONTENTS = (6 << 3) | 2; // ModelInferResponse.raw_output_contents
const TAG_INFER_RESPONSE = (2 << 3) | 2; // ModelStreamInferResponse.infer_response

/**
 * ModelInferResponse bytes, optionally as the infer_response field of a ModelStreamInferResponse,
 * as pieces in order. protobufjs encodes the small metadata; raw_output_contents (field 6, the
 * last field) are appended by hand: the metadata and every output's tag and length share one
 * small buffer, and each output's bytes are a view of its tensor. Copying them into the message
 * would cost a copy per output and, more, a fresh buffer per response that the V8 heap counts
 * as external memory: at thousands of responses per second that alone keeps the old generation
 * marking. The bytes are those protobufjs would write.
 */
function encodeResponsePieces(result: InferResult, asStreamItem: boolean): Uint8Array[] {
  const { raw_output_contents: raw, ...metadata } = encodeGrpcInferResponseObject(result);
  const head = wireTypes().response.encode(metadata).finish();
  let size = head.length;
  let tags = 0;
  for (const r of raw) {
    const tag = 1 + varintSize(r.length);
    tags += tag;
    size += tag + r.length;
  }
  const own = Buffer.allocUnsafe((asStreamItem ? 1 + varintSize(size) : 0) + head.length + tags);
  let pos = 0;
  if (asStreamItem) { // error_message = "" is the default and is not written
    own[pos++] = TAG_INFER_RESPONSE;
    pos = writeVarint(own, pos, size);
  }
  own.set(head, pos);
  pos += head.length;
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const r of raw) {
    own[pos++] = TAG_RAW_OUTPUT_CONTENTS;
    pos = writeVarint(own, pos, r.length);
    if (r.length === 0) continue;
    pieces.push(own.subarray(from, pos), r);
    from = pos;
  }
  if (pos > from) pieces.push(own.subarray(from, pos));
  return pieces;
}

/** Bytes in the base-128 varint encoding of a non-negative integer. */
function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) size++;
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  let p = pos;
  let v = n;
  for (; v >= 0x80; v = Math.floor(v / 0x80)) buf[p++] = (v % 0x80) | 0x80;
  buf[p++] = v;
  return p;
}

/** A failed stream request: the message goes in-band and the stream stays open. */
export interface GrpcStreamError {
  error: string;
  /** The failed request's id, echoed so clients with several requests in flight can match it. */
  id?: string | undefined;
}

/**
 * One ModelStreamInferResponse, an InferResult or an in-band error, as pieces in order (outputs
 * are views of their tensors, as in encodeGrpcInferResponsePieces): the stream copies them once,
 * when it frames the message.
 */
export function encodeGrpcStreamResponse(response: InferResult | GrpcStreamError): Uint8Array[] {
  if (!('error' in response)) return encodeResponsePieces(response, true);
  const message = { error_message: response.error, infer_response: { id: response.id ?? '' } };
  return [wireTypes().stream.encode(message).finish()];
}
