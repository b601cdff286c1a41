/**
 * A native batch ⇄ ONNX Runtime tensors, in a worker thread. Inputs are views of the batch's
 * gathered memory (ORT reads them in place; they are valid until the batch is completed or
 * failed); outputs go back to the batcher as ORT allocated them, except BYTES, which are joined
 * into the raw length-prefixed form.
 */
import * as ort from 'onnxruntime-node';
import { splitBytesElements } from '../../codec/raw';
import { dataTypeInfo, fromOrtType } from '../../runtime/datatypes';
import { elementCount } from '../../runtime/tensor';
import type { NativeBatch, NativeTensor } from '../../native/binding';
import type { OrtTensorSpec } from './ort-messages';
import { joinStrings, stringProblem } from './ort-strings';

/** A problem with what the requests sent (reported as INVALID_ARGUMENT), not with the model. */
export class BatchInputError extends Error {}

/** Already checked on the main thread; decoding here cannot fail, so it need not be fatal. */
const utf8 = new TextDecoder('utf-8');

function toOrtTensor(spec: OrtTensorSpec, t: NativeTensor): ort.Tensor {
  const dims = [...t.shape];
  const count = elementCount(dims);
  if (spec.datatype === 'BYTES') {
    const elements = splitBytesElements(t.data, count, `input '${spec.name}'`);
    const strings = elements.map((b, i) => {
      const problem = stringProblem(spec.name, i, b);
      if (problem !== undefined) throw new BatchInputError(problem);
      return utf8.decode(b);
    });
    return new ort.Tensor('string', strings, dims);
  }
  const info = dataTypeInfo(spec.datatype);
  if (info.array === undefined) throw new Error(`no typed array for ${spec.datatype}`);
  let bytes = t.data;
  // Typed arrays need an aligned offset; the batcher's buffers normally are, else one copy.
  if (bytes.byteOffset % info.size !== 0) bytes = bytes.slice();
  // FP16 goes in as its Uint16Array bit patterns and BOOL as Uint8Array 0/1, as ORT expects.
  const data = new info.array(bytes.buffer, bytes.byteOffset, count);
  return new ort.Tensor(info.ort as ort.Tensor.Type, data as ort.Tensor.DataType, dims);
}

/** The batch's inputs (config order) as ORT feeds. Throws BatchInputError for refused values. */
export function batchFeeds(batch: NativeBatch, inputs: readonly OrtTensorSpec[]): Record<string, ort.Tensor> {
  if (batch.inputs.length !== inputs.length) {
    throw new Error(`batch has ${batch.inputs.length} inputs, the model ${inputs.length}`);
  }
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((spec, i) => { feeds[spec.name] = toOrtTensor(spec, batch.inputs[i] as NativeTensor); });
  return feeds;
}

export interface BatchOutput {
  readonly data: ArrayBufferView;
  readonly shape: readonly number[];
}

/** ORT's results → outputs in config order, checked against the config's datatypes. */
export function batchOutputs(results: ort.InferenceSession.ReturnType, outputs: readonly OrtTensorSpec[]): BatchOutput[] {
  return outputs.map((spec) => {
    const t = results[spec.name];
    if (t === undefined) throw new Error(`onnxruntime returned no output '${spec.name}'`);
    const datatype = fromOrtType(t.type);
    if (datatype !== spec.datatype) {
      throw new Error(`output '${spec.name}' is ORT type ${t.type}, but the config declares ${spec.datatype}`);
    }
    const shape = [...t.dims];
    if (datatype === 'BYTES') return { data: joinStrings(t.data as string[]), shape };
    return { data: t.data as ArrayBufferView, shape };
  });
}
