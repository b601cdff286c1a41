import type * as net from 'node:net';
import type { BufferBudget } from './h2/server-connection';

/**
 * Server-wide bounds a client cannot talk its way past, shared by the gRPC and HTTP servers: how
 * many connections are open, and how many request bytes are held while bodies arrive. Each
 * connection has bounds of its own (streams, buffered bytes, unread output); these stop many
 * connections together from exhausting file descriptors or memory.
 */

/** Open connections, gRPC and HTTP together (--max-connections). */
export class ConnectionLimit {
  #open = 0;
  #refused = 0;

  /** `max` at once; Infinity = no bound. */
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`the connection limit must be at least 1, got ${max}`);
  }

  get open(): number { return this.#open; }

  /** Connections closed on arrival because `max` were open. */
  get refused(): number { return this.#refused; }

  /**
   * Counts `socket` as open until it closes, or, at the bound, destroys it and returns false.
   * A refused client sees its connection closed before any byte: gRPC clients report
   * UNAVAILABLE and retry with backoff, HTTP clients a connection reset.
   */
  admit(socket: net.Socket): boolean {
    if (this.#open >= this.max) {
      this.#refused++;
      socket.destroy();
      return false;
    }
    this.#open++;
    socket.once('close', () => { this.#open--; });
    return true;
  }
}

/**
 * Request bytes held server-wide while bodies arrive: partial gRPC messages and HTTP bodies not
 * yet complete. A complete message or body is given back (its bytes then belong to the call,
 * bounded by --max-infer-requests).
 */
export class RequestBuffers implements BufferBudget {
  #held = 0;
  #refused = 0;

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`the request buffer bound must be at least 1 byte, got ${max}`);
  }

  get held(): number { return this.#held; }

  /** Requests refused (gRPC stream reset, HTTP 503) because taking their bytes would pass `max`. */
  get refused(): number { return this.#refused; }

  take(bytes: number): boolean {
    if (this.#held + bytes > this.max) {
      this.#refused++;
      return false;
    }
    this.#held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }
}

/** Default server-wide request buffer bound: 1 GiB, or 4 messages of the largest size allowed if more. */
export function defaultRequestBufferBytes(maxMessageBytes: number): number {
  return Math.max(2 ** 30, 4 * maxMessageBytes);
}

/** Default bound on open connections. */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/**
 * Longest a request may take to arrive, gRPC message or HTTP request (--receive-timeout-secs):
 * 300 s, node:http's own default requestTimeout.
 */
export const DEFAULT_RECEIVE_TIMEOUT_MS = 300_000;
