import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildModel } from '../../src/onnx/writer';
import type { DataType } from '../../src/runtime/datatypes';
import { addModel, identityModel, slowModel, writeModelRepository } from '../helpers/model-factory';

/** Datatypes ONNX Runtime's Identity carries end to end (BF16 has no ORT CPU kernel). */
export const ALL_TYPES: readonly DataType[] = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16',
  'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

/** One model that echoes a tensor of every datatype: IN_<T> → OUT_<T>, shape [batch, 2]. */
export function allTypesModel(): Uint8Array {
  return buildModel({
    inputs: ALL_TYPES.map((t) => ({ name: `IN_${t}`, datatype: t, shape: ['batch', 2] })),
    outputs: ALL_TYPES.map((t) => ({ name: `OUT_${t}`, datatype: t, shape: ['batch', 2] })),
    initializers: [],
    nodes: ALL_TYPES.map((t) => ({ opType: 'Identity', inputs: [`IN_${t}`], outputs: [`OUT_${t}`] })),
  });
}

/**
 * A model repository for end-to-end tests: good models beside a broken model file and a broken
 * config, so the tests can check the broken ones are reported and the good ones still serve.
 */
export function makeTestRepository(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  writeModelRepository(root, [
    { name: 'identity', versions: { '1': identityModel('FP32', ['batch', 4]), '3': identityModel('FP32', ['batch', 4]) },
      config: { file: 'config.pbtxt', text: 'max_batch_size: 8\nversion_policy: { all { } }\n' } },
    { name: 'all_types', versions: { '1': allTypesModel() } },
    { name: 'add', versions: { '1': addModel([2, 3]) } },
    { name: 'slow', versions: { '1': slowModel({ size: 1024, repeats: 40 }) } },
    { name: 'broken_model', versions: { '1': new TextEncoder().encode('this is not an onnx model') } },
    { name: 'broken_config', versions: { '1': identityModel('FP32', ['batch', 4]) },
      config: { file: 'config.pbtxt', text: 'max_batch_size: { oops\n' } },
  ]);
  return root;
}
