import { parseArgs } from 'node:util';
import { native } from '../native';
import { defaultLogger } from '../runtime/runtime';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_RECEIVE_TIMEOUT_MS } from '../server/admission';
import { DEFAULT_MAX_MESSAGE_BYTES, SluiceServer } from '../server/server';
import { missingServeFlags } from './node-flags';

export const SERVE_USAGE = `usage: sluice serve --model-repository DIR [options]

  --model-repository DIR   model repository (<DIR>/<model>/<version>/model.onnx)
  --grpc-port N            KServe v2 gRPC port (default 8001; 0 = any free port)
  --http-port N            KServe v2 HTTP/REST port, also /metrics (default 8000; 0 = any free port)
  --host ADDR              address to bind (default 0.0.0.0)
  --max-message-bytes N    largest gRPC message / HTTP body (default ${DEFAULT_MAX_MESSAGE_BYTES})
  --exit-timeout-secs N    grace period for in-flight requests on SIGTERM/SIGINT (default 30)
  --max-infer-requests N   inference requests in progress at once, gRPC and HTTP together; beyond
                           it a request is refused UNAVAILABLE / 503 before its body is read
                           (default 0 = no bound; each model's max_queue_size still applies)
  --max-connections N      open connections, gRPC and HTTP together; beyond it a new connection
                           is closed on arrival (default ${DEFAULT_MAX_CONNECTIONS}; 0 = no bound)
  --receive-timeout-secs N longest a request may take to arrive: an HTTP request's headers and
                           body (then 408), a gRPC request message once its first bytes have come
                           (then DEADLINE_EXCEEDED) (default ${DEFAULT_RECEIVE_TIMEOUT_MS / 1000})
`;

function intFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

/** A command-line mistake: `message`, then `usage`, and exit status 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string = SERVE_USAGE) { super(message); }
}

export async function serve(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: {
      'model-repository': { type: 'string' },
      'grpc-port': { type: 'string' },
      'http-port': { type: 'string' },
      host: { type: 'string' },
      'max-message-bytes': { type: 'string' },
      'exit-timeout-secs': { type: 'string' },
      'max-infer-requests': { type: 'string' },
      'max-connections': { type: 'string' },
      'receive-timeout-secs': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    } }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (values.help === true) { process.stdout.write(SERVE_USAGE); return; }
  const repo = values['model-repository'];
  if (repo === undefined) throw new UsageError('--model-repository is required');
  const exitTimeoutMs = 1000 * intFlag('exit-timeout-secs', values['exit-timeout-secs'], 30, 0, 86_400);
  const server = await SluiceServer.start({
    modelRepository: repo,
    host: values.host ?? '0.0.0.0',
    grpcPort: intFlag('grpc-port', values['grpc-port'], 8001, 0, 65_535),
    httpPort: intFlag('http-port', values['http-port'], 8000, 0, 65_535),
    maxMessageBytes: intFlag('max-message-bytes', values['max-message-bytes'], DEFAULT_MAX_MESSAGE_BYTES, 1, 2 ** 31 - 1),
    maxInferRequests: intFlag('max-infer-requests', values['max-infer-requests'], 0, 0, 2 ** 31 - 1) || Number.POSITIVE_INFINITY,
    maxConnections: intFlag('max-connections', values['max-connections'], DEFAULT_MAX_CONNECTIONS, 0, 2 ** 31 - 1) || Number.POSITIVE_INFINITY,
    receiveTimeoutMs: 1000 * intFlag('receive-timeout-secs', values['receive-timeout-secs'], DEFAULT_RECEIVE_TIMEOUT_MS / 1000, 1, 86_400),
  });
  const log = (msg: string): void => defaultLogger('info', msg);
  log(`gRPC listening on port ${server.grpcPort}`);
  log(`HTTP listening on port ${server.httpPort}`);
  const missing = missingServeFlags();
  if (missing.length > 0) {
    log(`node was started without ${missing.join(' ')} (as \`sluice serve\` and \`npm start\` start it): ` +
      'under load V8 then collects its old generation every ~0.1 s, costing throughput and p99');
  }
  log(`server ${server.runtime.ready ? 'READY' : 'NOT READY (see errors above)'}`);

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    log(`${signal}: no longer accepting requests; waiting up to ${exitTimeoutMs / 1000}s for in-flight ones`);
    server.stop(exitTimeoutMs).then((clean) => {
      if (clean) {
        log('all in-flight requests finished; exiting');
        process.exit(0);
      }
      // Runs still inside ONNX Runtime cannot be interrupted, and a normal exit would wait for
      // them and then abort while tearing their worker threads down: end the process now.
      log('grace period over; cut the remaining requests; exiting');
      native().exitImmediately(0);
    }, (e: unknown) => {
      process.stderr.write(`error while stopping: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
