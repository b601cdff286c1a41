import type * as http from 'node:http';
import * as zlib from 'node:zlib';
import { invalidArgument } from '../runtime/status';
import type { RequestBuffers } from './admission';

/** Content-Encodings a request body may have (RFC 9110 names; `x-gzip` is gzip). */
export const ACCEPTED_CONTENT_ENCODINGS = 'gzip, deflate';

/** A body refused before or while it is read: answered with `status`, and the connection closed. */
export class BodyRefused extends Error {
  constructor(message: string, readonly status: 413 | 415 | 503,
    readonly headers: Readonly<Record<string, string>> = {}) { super(message); }
}

type Decoder = (body: Buffer, options: zlib.ZlibOptions,
  callback: (error: Error | null, result: Buffer) => void) => void;

const DECODERS: Readonly<Record<string, Decoder | undefined>> = {
  gzip: zlib.gunzip, 'x-gzip': zlib.gunzip, deflate: zlib.inflate,
};

/**
 * The request body, decompressed when the client sent it with Content-Encoding gzip or deflate
 * (tritonclient's `request_compression_algorithm`), and at most `limit` bytes either way. An
 * unsupported encoding is refused (415) before the body is read. Decompression runs on libuv's
 * thread pool, not the event loop, and stops at `limit` bytes of output (413), so a small
 * compressed body cannot expand into a large one.
 */
export async function readRequestBody(req: http.IncomingMessage, limit: number,
  buffers: RequestBuffers | undefined): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = encoding === '' || encoding === 'identity' ? undefined : DECODERS[encoding];
  if (decoder === undefined && encoding !== '' && encoding !== 'identity') {
    throw new BodyRefused(`unsupported Content-Encoding '${encoding.slice(0, 40)}' (accepted: ` +
      `${ACCEPTED_CONTENT_ENCODINGS}, or none)`, 415, { 'accept-encoding': ACCEPTED_CONTENT_ENCODINGS });
  }
  const body = await readBody(req, limit, buffers);
  if (decoder === undefined) return body;
  return new Promise((resolve, reject) => {
    decoder(body, { maxOutputLength: Math.max(1, limit) }, (e, out) => {
      if (e === null) { resolve(out); return; }
      reject((e as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE'
        ? new BodyRefused(`request body decompresses to more than the ${limit}-byte limit`, 413)
        : invalidArgument(`cannot decompress the ${encoding} request body: ${e.message}`));
    });
  });
}

/**
 * The request body, up to `limit` bytes. While it arrives its bytes count against `buffers`
 * (the server-wide bound); they are given back once it is complete, or the request is gone.
 */
function readBody(req: http.IncomingMessage, limit: number, buffers: RequestBuffers | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyRefused(`request body of ${declared} bytes exceeds the ${limit}-byte limit`, 413));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    const giveBack = (): void => {
      buffers?.give(held);
      held = 0;
    };
    const refuse = (e: BodyRefused): void => {
      giveBack();
      reject(e);
      req.removeAllListeners('data');
      req.resume();
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        refuse(new BodyRefused(`request body exceeds the ${limit}-byte limit`, 413));
        return;
      }
      if (buffers !== undefined) {
        if (!buffers.take(chunk.length)) {
          refuse(new BodyRefused(`server busy: request bodies still arriving hold its ${buffers.max}-byte bound; retry later`, 503));
          return;
        }
        held += chunk.length;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      giveBack();
      resolve(chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      giveBack();
      reject(e);
    });
    req.once('close', giveBack);
  });
}
