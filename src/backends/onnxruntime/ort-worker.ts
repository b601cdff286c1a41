/**
 * worker_threads entry: one ONNX Runtime InferenceSession per thread.
 *
 * onnxruntime-node's `session.run` blocks the thread that calls it (it only defers the call with
 * setImmediate), so it runs here and never on the main thread. The worker handles one run at a
 * time, as the main thread only sends the next run after this one's answer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { dataTypeInfo, fromOrtType } from '../../runtime/datatypes';
import type { ExecutionTimings } from '../backend';
import type { RunFailureCode, RunRequest, WireTensor, WorkerInit, WorkerMessage } from './ort-messages';
import { ownedBufferOf, packBytes, unpackBytes } from './ort-wire';

if (parentPort === null) throw new Error('ort-worker must run in a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** ORT's phrasing for problems with what the caller sent (rank, dims, type, names). */
const INPUT_PROBLEM =
  /invalid rank for input|invalid dimensions for input|unexpected input data type|missing in 'feeds'|invalid output name/i;

// BYTES elements become JS strings for ORT and back. onnxruntime-node only takes JS strings and
// cuts each one at its first NUL byte, so an element that is not valid UTF-8 or holds a NUL
// would change silently: such elements are refused instead, naming the input and the element.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function bytesToString(input: string, index: number, b: Uint8Array): string {
  if (b.includes(0)) {
    throw new Error(`input '${input}': BYTES element ${index} contains a NUL byte, which ONNX Runtime string tensors cannot carry`);
  }
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw new Error(`input '${input}': BYTES element ${index} is not valid UTF-8, which ONNX Runtime string tensors require`);
  }
}

function toOrtTensor(w: WireTensor): ort.Tensor {
  const dims = [...w.shape];
  if (w.datatype === 'BYTES') {
    return new ort.Tensor('string', unpackBytes(w.data, w.ends).map((b, i) => bytesToString(w.name, i, b)), dims);
  }
  const info = dataTypeInfo(w.datatype);
  if (info.array === undefined) throw new Error(`no typed array for ${w.datatype}`);
  // The buffer was transferred to this thread, so ORT may read it in place. FP16 goes in as its
  // Uint16Array bit patterns and BOOL as Uint8Array 0/1, which is what ORT's Tensor expects.
  const data = new info.array(w.data, 0, w.data.byteLength / info.size);
  return new ort.Tensor(info.ort as ort.Tensor.Type, data as ort.Tensor.DataType, dims);
}

function toWire(name: string, t: ort.Tensor): { wire: WireTensor; transfer: ArrayBuffer[] } {
  const shape = [...t.dims];
  const datatype = fromOrtType(t.type);
  if (datatype === undefined) throw new Error(`output '${name}' has ORT type ${t.type}, which Sluice cannot carry`);
  if (datatype === 'BYTES') {
    const { data, ends } = packBytes((t.data as string[]).map((s) => utf8Encoder.encode(s)));
    return { wire: { name, datatype, shape, data, ends }, transfer: [data, ends] };
  }
  // ORT allocates each output in its own ArrayBuffer, so this normally transfers without a copy.
  const data = ownedBufferOf(t.data as ArrayBufferView);
  return { wire: { name, datatype, shape, data }, transfer: [data] };
}

const nsSince = (start: bigint): number => Number(process.hrtime.bigint() - start);

async function serve(session: ort.InferenceSession, req: RunRequest): Promise<void> {
  const fail = (code: RunFailureCode, e: unknown): void =>
    post({ kind: 'run-failed', id: req.id, code, message: errorMessage(e) });

  const t0 = process.hrtime.bigint();
  const feeds: Record<string, ort.Tensor> = {};
  try {
    for (const w of req.inputs) feeds[w.name] = toOrtTensor(w);
  } catch (e) {
    fail('INVALID_ARGUMENT', e);
    return;
  }
  const computeInputNs = nsSince(t0);

  const t1 = process.hrtime.bigint();
  let results: ort.InferenceSession.ReturnType;
  try {
    results = req.outputNames.length === 0 ? await session.run(feeds) : await session.run(feeds, [...req.outputNames]);
  } catch (e) {
    fail(INPUT_PROBLEM.test(errorMessage(e)) ? 'INVALID_ARGUMENT' : 'INTERNAL', e);
    return;
  }
  const computeInferNs = nsSince(t1);

  const t2 = process.hrtime.bigint();
  const outputs: WireTensor[] = [];
  const transfer: ArrayBuffer[] = [];
  try {
    for (const [name, value] of Object.entries(results)) {
      const out = toWire(name, value as ort.Tensor);
      outputs.push(out.wire);
      transfer.push(...out.transfer);
    }
  } catch (e) {
    fail('INTERNAL', e);
    return;
  }
  const timings: ExecutionTimings = { computeInputNs, computeInferNs, computeOutputNs: nsSince(t2) };
  // A buffer listed twice in a transfer list is a DataCloneError; outputs could share one.
  post({ kind: 'result', id: req.id, outputs, timings }, [...new Set(transfer)]);
}

async function main(): Promise<void> {
  let session: ort.InferenceSession;
  try {
    // The native binding rejects a SharedArrayBuffer, so this thread takes one private copy,
    // garbage once ORT has parsed it.
    const bytes = new Uint8Array(init.model.byteLength);
    bytes.set(new Uint8Array(init.model));
    session = await ort.InferenceSession.create(bytes, { ...init.options });
  } catch (e) {
    post({ kind: 'load-failed', message: errorMessage(e) });
    return;
  }
  port.on('message', (req: RunRequest) => void serve(session, req));
  post({ kind: 'ready' });
}

void main();
