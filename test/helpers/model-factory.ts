import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DataType } from '../../src/runtime/datatypes';
import { buildModel, type Dim, type NodeSpec, type TensorSpec } from '../../src/onnx/writer';

/**
 * Tiny ONNX models and model repositories for tests, built in memory with src/onnx/writer.
 * Every model uses IR version 8 and default-domain opset 17.
 */

/** "INPUT0" → Identity → "OUTPUT0", same datatype and shape. */
export function identityModel(datatype: DataType, shape: Dim[]): Uint8Array {
  return buildModel({
    inputs: [{ name: 'INPUT0', datatype, shape }],
    outputs: [{ name: 'OUTPUT0', datatype, shape }],
    nodes: [{ opType: 'Identity', inputs: ['INPUT0'], outputs: ['OUTPUT0'] }],
  });
}

/** FP32 "A", "B" → "SUM" = A + B and "DIFF" = A − B, all of `shape`. */
export function addModel(shape: Dim[]): Uint8Array {
  const v = (name: string) => ({ name, datatype: 'FP32' as const, shape });
  return buildModel({
    inputs: [v('A'), v('B')],
    outputs: [v('SUM'), v('DIFF')],
    nodes: [
      { opType: 'Add', inputs: ['A', 'B'], outputs: ['SUM'] },
      { opType: 'Sub', inputs: ['A', 'B'], outputs: ['DIFF'] },
    ],
  });
}

/**
 * A deliberately slow model for latency tests: FP32 "x" ["batch", size] → `repeats` × (MatMul
 * with a size×size weight, then Relu) → "y" ["batch", size]. Each layer costs 2·size² FLOPs per
 * row. The weight is I/2 + 1/(2·size) everywhere: for non-negative x each layer maps a row of
 * mean m to a row of mean m (and shrinks its spread), so any depth stays finite, and a row of
 * ones stays exactly ones.
 */
export function slowModel(opts: { size: number; repeats: number }): Uint8Array {
  const { size, repeats } = opts;
  if (!Number.isSafeInteger(size) || size < 1 || !Number.isSafeInteger(repeats) || repeats < 1) {
    throw new RangeError(`slowModel: size and repeats must be positive integers (got ${size}, ${repeats})`);
  }
  const w = new Float32Array(size * size).fill(1 / (2 * size));
  for (let i = 0; i < size; i++) w[i * size + i] = 0.5 + 1 / (2 * size);
  const weight: TensorSpec = { name: 'W', datatype: 'FP32', dims: [size, size], data: w };
  const nodes: NodeSpec[] = [];
  let prev = 'x';
  for (let i = 0; i < repeats; i++) {
    const out = i === repeats - 1 ? 'y' : `relu_${i}`;
    nodes.push({ opType: 'MatMul', inputs: [prev, 'W'], outputs: [`matmul_${i}`] });
    nodes.push({ opType: 'Relu', inputs: [`matmul_${i}`], outputs: [out] });
    prev = out;
  }
  return buildModel({
    inputs: [{ name: 'x', datatype: 'FP32', shape: ['batch', size] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: ['batch', size] }],
    initializers: [weight],
    nodes,
  });
}

export interface RepositoryModel {
  readonly name: string;
  /** version directory name → model.onnx bytes; null makes the directory with no model file. */
  readonly versions: Readonly<Record<string, Uint8Array | null>>;
  readonly config?: { readonly file: 'config.pbtxt' | 'config.json'; readonly text: string };
}

/** Lays out a Triton-style repository: <root>/<name>/<version>/model.onnx (+ <root>/<name>/<config file>). */
export function writeModelRepository(root: string, models: RepositoryModel[]): void {
  for (const m of models) {
    const dir = path.join(root, m.name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [version, bytes] of Object.entries(m.versions)) {
      fs.mkdirSync(path.join(dir, version), { recursive: true });
      if (bytes !== null) fs.writeFileSync(path.join(dir, version, 'model.onnx'), bytes);
    }
    if (m.config !== undefined) fs.writeFileSync(path.join(dir, m.config.file), m.config.text);
  }
}
