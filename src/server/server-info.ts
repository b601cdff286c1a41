import * as fs from 'node:fs';
import * as path from 'node:path';

/** Name, version and protocol extensions reported by ServerMetadata (gRPC) and GET /v2 (HTTP). */
export const SERVER_NAME = 'sluice';

export const SERVER_VERSION: string = (() => {
  const pkg = path.resolve(__dirname, '..', '..', '..', 'package.json');
  const parsed = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version?: unknown };
  return typeof parsed.version === 'string' ? parsed.version : '0.0.0';
})();

/** Only the extensions Sluice really implements. */
export const SERVER_EXTENSIONS: readonly string[] = [
  'binary_tensor_data',
  'model_configuration',
  'model_repository',
  'statistics',
];
