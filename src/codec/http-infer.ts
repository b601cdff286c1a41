import { isDataType } from '../runtime/datatypes';
import { invalidArgument, printableName } from '../runtime/status';
import type { Tensor } from '../runtime/tensor';
import type { InferResult } from '../runtime/types';
import type { DecodedInferRequest, RequestedOutput } from './decoded-request';
import { tensorFromJson, tensorToJsonText } from './json-data';
import { parseJsonBody } from './json-body';
import { parseInputParameters, parseOutputParameters, parseRequestParameters } from './parameters';
import { tensorFromRaw, tensorToRaw } from './raw';
import { checkShape, countBytesElements } from './shape';
import { showJson } from './show';

/**
 * KServe v2 HTTP/REST infer bodies ⇄ DecodedInferRequest / InferResult, including Triton's binary
 * tensor extension: the body is `Inference-Header-Content-Length` bytes of JSON followed by the
 * raw bytes of each binary tensor, in tensor order, each announced by `binary_data_size`.
 */

export interface DecodedHttpInferRequest extends DecodedInferRequest {
  /** Request parameter `binary_data_output`: the default for outputs without `binary_data`. */
  binaryOutputDefault: boolean;
}

export interface EncodedHttpResponse {
  body: Buffer;
  /** Value for the Inference-Header-Content-Length header; undefined when all outputs are JSON. */
  headerLength: number | undefined;
  contentType: string;
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const EMPTY = new Uint8Array(0);

/**
 * `route` carries the model name and version from the URL (both "" when the caller fills them in).
 * Tensors from the binary section are views into `body` where alignment allows.
 */
export function decodeHttpInferRequest(body: Buffer, headerLength: string | undefined,
  route: { modelName: string; modelVersion: string } = { modelName: '', modelVersion: '' },
): DecodedHttpInferRequest {
  const jsonLength = parseHeaderLength(headerLength, body.length);
  const json = parseJsonBody(body, jsonLength);
  if (!isObject(json)) throw invalidArgument('malformed request: the JSON body must be an object');
  const { id } = json;
  if (id !== undefined && typeof id !== 'string') throw invalidArgument('"id" must be a string');
  const params = parseRequestParameters(json['parameters'], 'json');
  const binary = headerLength === undefined ? undefined : body.subarray(jsonLength);
  return {
    modelName: route.modelName,
    modelVersion: route.modelVersion,
    id: id ?? '',
    inputs: decodeInputs(json['inputs'], binary),
    outputs: decodeOutputs(json['outputs']),
    options: { priority: params.priority, timeoutMicroseconds: params.timeoutMicroseconds },
    binaryOutputDefault: params.binaryDataOutput ?? false,
  };
}

/** JSON length from the header; the whole body when there is no header. */
function parseHeaderLength(header: string | undefined, bodyLength: number): number {
  if (header === undefined) return bodyLength;
  const n = /^[0-9]+$/.test(header) ? Number(header) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw invalidArgument(`Inference-Header-Content-Length '${header.slice(0, 40)}' is not a ` +
      'non-negative integer');
  }
  if (n > bodyLength) {
    throw invalidArgument(`Inference-Header-Content-Length ${n} exceeds the ${bodyLength}-byte body`);
  }
  return n;
}

/** `binary`: the body after the JSON header; undefined when the request has no header. */
function decodeInputs(wire: unknown, binary: Uint8Array | undefined): Map<string, Tensor> {
  if (!Array.isArray(wire)) throw invalidArgument('"inputs" must be an array');
  const inputs = new Map<string, Tensor>();
  let offset = 0; // into `binary`: binary tensors are laid out in input order
  let bytesElements = 0;
  wire.forEach((input: unknown, i) => {
    if (!isObject(input)) throw invalidArgument(`inputs[${i}] must be an object`);
    const { name, datatype, data } = input;
    if (typeof name !== 'string' || name === '') {
      throw invalidArgument(`inputs[${i}]: "name" must be a non-empty string`);
    }
    const what = `input '${printableName(name)}'`;
    if (inputs.has(name)) throw invalidArgument(`${what}: duplicate input name`);
    if (!isDataType(datatype)) {
      throw invalidArgument(`${what}: unknown datatype ${showJson(datatype)}`);
    }
    const { shape, count } = checkShape(input['shape'], what);
    if (datatype === 'BYTES') bytesElements = countBytesElements(bytesElements, count, what);
    const { binaryDataSize } = parseInputParameters(input['parameters'], 'json', what);
    let tensor: Tensor;
    if (binaryDataSize !== undefined) {
      if (data !== undefined) throw invalidArgument(`${what}: has both "data" and binary_data_size`);
      if (binary === undefined) {
        throw invalidArgument(`${what}: binary_data_size needs the Inference-Header-Content-Length ` +
          'header');
      }
      const left = binary.length - offset;
      if (binaryDataSize > left) {
        throw invalidArgument(`${what}: binary_data_size ${binaryDataSize} runs past the end of the ` +
          `body (${left} bytes of binary data left)`);
      }
      const bytes = binary.subarray(offset, offset + binaryDataSize);
      tensor = tensorFromRaw(datatype, shape, count, bytes, what);
      offset += binaryDataSize;
    } else if (data !== undefined) {
      tensor = tensorFromJson(datatype, shape, count, data, what);
    } else if (count === 0) {
      tensor = tensorFromRaw(datatype, shape, 0, EMPTY, what); // nothing to send for no elements
    } else {
      throw invalidArgument(`${what}: no data (neither "data" nor binary_data_size)`);
    }
    inputs.set(name, tensor);
  });
  if (binary !== undefined && offset !== binary.length) {
    throw invalidArgument(`${binary.length - offset} bytes after the JSON header are not claimed by ` +
      'any input\'s binary_data_size');
  }
  return inputs;
}

function decodeOutputs(wire: unknown): RequestedOutput[] {
  if (wire === undefined) return [];
  if (!Array.isArray(wire)) throw invalidArgument('"outputs" must be an array');
  const seen = new Set<string>();
  return wire.map((output: unknown, i) => {
    if (!isObject(output)) throw invalidArgument(`outputs[${i}] must be an object`);
    const { name } = output;
    if (typeof name !== 'string' || name === '') {
      throw invalidArgument(`outputs[${i}]: "name" must be a non-empty string`);
    }
    const what = `output '${printableName(name)}'`;
    if (seen.has(name)) throw invalidArgument(`${what}: requested twice`);
    seen.add(name);
    return { name, binary: parseOutputParameters(output['parameters'], 'json', what).binary };
  });
}

/**
 * InferResult → response body. An output is binary when its request entry says `binary_data`,
 * else when `binaryDefault` (the request's `binary_data_output`) says so; FP16/BF16 are always
 * binary because JSON has no form for them. The JSON is written by hand so large outputs are
 * serialized once, not turned into JS arrays and stringified.
 */
export function encodeHttpInferResponse(result: InferResult, requested: readonly RequestedOutput[],
  binaryDefault: boolean): EncodedHttpResponse {
  const binaryFlag = new Map(requested.map((r) => [r.name, r.binary]));
  const outputs: string[] = [];
  const chunks: Buffer[] = [];
  for (const [name, tensor] of result.outputs) {
    const what = `output '${name}'`;
    const head = `{"name":${JSON.stringify(name)},"datatype":"${tensor.datatype}",` +
      `"shape":[${tensor.shape.join(',')}]`;
    const binary = tensor.datatype === 'FP16' || tensor.datatype === 'BF16' ||
      (binaryFlag.get(name) ?? binaryDefault);
    if (binary) {
      const raw = tensorToRaw(tensor, what);
      chunks.push(raw);
      outputs.push(`${head},"parameters":{"binary_data_size":${raw.length}}}`);
    } else {
      outputs.push(`${head},"data":${tensorToJsonText(tensor, what)}}`);
    }
  }
  const id = result.id === undefined || result.id === '' ? '' : `,"id":${JSON.stringify(result.id)}`;
  const json = Buffer.from(`{"model_name":${JSON.stringify(result.model)},` +
    `"model_version":${JSON.stringify(result.version)}${id},"outputs":[${outputs.join(',')}]}`);
  if (chunks.length === 0) {
    return { body: json, headerLength: undefined, contentType: 'application/json' };
  }
  return {
    body: Buffer.concat([json, ...chunks]),
    headerLength: json.length,
    contentType: 'application/octet-stream',
  };
}
