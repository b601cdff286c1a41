/**
 * Error codes and the one table that maps them to gRPC and HTTP statuses.
 * Codes are gRPC's canonical names; the native core's Status uses the same numbers.
 */
import type { NativeError } from '../native/binding';

export type ErrorCode =
  | 'CANCELLED' | 'UNKNOWN' | 'INVALID_ARGUMENT' | 'DEADLINE_EXCEEDED' | 'NOT_FOUND'
  | 'ALREADY_EXISTS' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'FAILED_PRECONDITION'
  | 'ABORTED' | 'OUT_OF_RANGE' | 'UNIMPLEMENTED' | 'INTERNAL' | 'UNAVAILABLE' | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** code → [gRPC status number, HTTP status]. */
export const STATUS_TABLE: Readonly<Record<ErrorCode, readonly [number, number]>> = {
  CANCELLED: [1, 499],
  UNKNOWN: [2, 500],
  INVALID_ARGUMENT: [3, 400],
  DEADLINE_EXCEEDED: [4, 504],
  NOT_FOUND: [5, 404],
  ALREADY_EXISTS: [6, 409],
  PERMISSION_DENIED: [7, 403],
  RESOURCE_EXHAUSTED: [8, 429],
  FAILED_PRECONDITION: [9, 400],
  ABORTED: [10, 409],
  OUT_OF_RANGE: [11, 400],
  UNIMPLEMENTED: [12, 501],
  INTERNAL: [13, 500],
  UNAVAILABLE: [14, 503],
  DATA_LOSS: [15, 500],
  UNAUTHENTICATED: [16, 401],
};

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(STATUS_TABLE, s);
}

/**
 * Longest error message a SluiceError carries (and a client receives, as grpc-message or the HTTP
 * error); anything longer is cut. Names are already cut where they are quoted (printableName);
 * this bounds whatever else a message might echo.
 */
export const MAX_ERROR_CHARS = 4096;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}...` : message, options);
    this.name = 'SluiceError';
    this.code = code;
  }
  get grpcCode(): number { return STATUS_TABLE[this.code][0]; }
  get httpStatus(): number { return STATUS_TABLE[this.code][1]; }
}

export const invalidArgument = (msg: string): SluiceError => new SluiceError('INVALID_ARGUMENT', msg);
export const notFound = (msg: string): SluiceError => new SluiceError('NOT_FOUND', msg);
export const unavailable = (msg: string): SluiceError => new SluiceError('UNAVAILABLE', msg);
export const unimplemented = (msg: string): SluiceError => new SluiceError('UNIMPLEMENTED', msg);
export const internal = (msg: string, cause?: unknown): SluiceError =>
  new SluiceError('INTERNAL', msg, cause === undefined ? undefined : { cause });

/**
 * A client-supplied string for an error message: non-printables as '?', cut to `max` characters
 * and then marked '...'.
 */
export function printable(s: string, max: number): string {
  const shown = s.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
  return s.length > max ? `${shown}...` : shown;
}

/** Characters of a client-chosen name (tensor, model, parameter key) quoted in an error message. */
const NAME_CHARS = 128;

/** A client-chosen name for an error message: printable() cut to NAME_CHARS. */
export const printableName = (name: string): string => printable(name, NAME_CHARS);

/** Any thrown value → SluiceError (unknown errors become INTERNAL with their message). */
export function toSluiceError(e: unknown): SluiceError {
  if (e instanceof SluiceError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return internal(msg, e);
}

/**
 * An answer the addon returned for a request ({code, message}: refused by the batcher, or failed
 * in it; see src/native/binding.ts) as a SluiceError, built without a stack trace: it would only
 * show the caller of this function, and capturing it cost ~5 µs per refused request under
 * overload. An unknown code becomes INTERNAL.
 */
export function fromNativeAnswer(answer: NativeError): SluiceError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new SluiceError(isErrorCode(answer.code) ? answer.code : 'INTERNAL', answer.message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * An error the addon threw or reported ({code, message}, see src/native/binding.ts) as a
 * SluiceError; an unknown code becomes INTERNAL, and anything else goes through toSluiceError.
 */
export function fromNativeError(e: unknown): SluiceError {
  if (e instanceof SluiceError) return e;
  if (typeof e === 'object' && e !== null && 'code' in e && 'message' in e) {
    const { code, message } = e as { code: unknown; message: unknown };
    return new SluiceError(isErrorCode(code) ? code : 'INTERNAL', String(message), { cause: e });
  }
  return toSluiceError(e);
}
