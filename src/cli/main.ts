#!/usr/bin/env -S node --initial-old-space-size=128 --min-semi-space-size=16
import { inspect } from './inspect';
import { quantize } from './quantize';
import { UsageError, serve } from './serve';

const USAGE = `usage: sluice <command> [options]

commands:
  serve     serve a model repository over KServe v2 gRPC and HTTP
  quantize  quantize an ONNX model's MatMul/Gemm nodes to INT8 (QDQ), calibrated on sample data
  inspect   show a model's signature, which backend runs it and why, and the native engine's plan

Run 'sluice <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': return serve(rest);
    case 'quantize': return quantize(rest);
    case 'inspect': return inspect(rest);
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE);
      return undefined;
    default:
      throw new UsageError(`unknown command '${command}'`, USAGE);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`sluice: ${e.message}\n\n${e.usage}`);
    process.exit(2);
  }
  process.stderr.write(`sluice: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
