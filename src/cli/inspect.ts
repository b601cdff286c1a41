import { parseArgs } from 'node:util';
import { readModelBytes } from '../backends/model-file';
import { nativeCandidate } from '../backends/native/native-backend';
import { native } from '../native';
import { readOnnxSignature } from '../onnx/reader';
import { fromNativeError } from '../runtime/status';
import { UsageError } from './serve';

export const INSPECT_USAGE = `usage: sluice inspect MODEL.onnx [--no-plan]

Prints the model's inputs and outputs, the operators it uses, which backend \`backend: auto\`
picks for it and why, and the native engine's optimized plan (fused steps, inferred shapes).

  --no-plan   skip loading the model into the native engine (the plan)
`;

const dims = (d: readonly number[]): string => `[${d.map((x) => (x < 0 ? '?' : String(x))).join(', ')}]`;

export async function inspect(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: {
      'no-plan': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    } });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e), INSPECT_USAGE);
  }
  if (parsed.values.help === true) { process.stdout.write(INSPECT_USAGE); return; }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('give exactly one model file', INSPECT_USAGE);

  const bytes = await readModelBytes(file);
  const signature = readOnnxSignature(bytes, file);
  const out: string[] = [`model ${file} (IR ${signature.irVersion}, opset ${signature.opsets.get('') ?? '?'}` +
    `${signature.producerName === '' ? '' : `, from ${signature.producerName}`})`];
  for (const v of signature.inputs) out.push(`  input  ${v.name}: ${v.datatype ?? `#${v.onnxElemType}`} ${dims(v.shape)}`);
  for (const v of signature.outputs) out.push(`  output ${v.name}: ${v.datatype ?? `#${v.onnxElemType}`} ${dims(v.shape)}`);
  out.push(`  ops: ${signature.opTypes.join(', ')}`);

  const candidate = nativeCandidate(bytes, file);
  if (candidate.unsupported.length === 0) {
    out.push('backend (auto): native — the native engine supports every op');
  } else {
    out.push('backend (auto): onnxruntime — the native engine cannot run it:');
    for (const r of candidate.unsupported) out.push(`  - ${r}`);
  }
  if (candidate.unsupported.length === 0 && parsed.values['no-plan'] !== true) {
    try {
      const engine = await native().loadEngine(candidate.graph, { threads: 1 });
      out.push('native plan:', ...engine.describe().trimEnd().split('\n').map((l) => `  ${l}`));
      out.push(engine.rowChunk > 0
        ? `row chunks: a batch of more than ${engine.rowChunk} rows runs in chunks of at most ${engine.rowChunk}`
        : 'row chunks: none (a batch always runs whole)');
      await engine.close();
    } catch (e) {
      out.push(`native plan: the engine refused the model: ${fromNativeError(e).message}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}
