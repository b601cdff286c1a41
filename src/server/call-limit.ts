import { SluiceError } from '../runtime/status';

/**
 * The front door's bound on inference calls in progress, shared by the gRPC and HTTP servers.
 *
 * Each model's max_queue_size bounds its batcher queue, but a request reaches that check only
 * after its whole body has arrived and been decoded. Under overload the calls waiting for that
 * pile up in front of it: their streams, their bodies on the way and, for a client that keeps
 * sending, everything behind them in the socket, so refusals come late and memory grows. A call
 * beyond this bound is refused UNAVAILABLE as soon as its headers arrive, before its body is read.
 */
export class CallLimit {
  #inProgress = 0;
  #refused = 0;
  /**
   * The one error every refusal answers with: a call is refused only at the bound, so its text
   * never changes, and building an Error (a stack trace) per refusal would tax the event loop
   * exactly when it is overloaded.
   */
  readonly #busy: SluiceError;

  /** `max` calls at once; Infinity = no bound. */
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`the call limit must be at least 1, got ${max}`);
    this.#busy = new SluiceError('UNAVAILABLE',
      `server busy: ${max} inference requests in progress (--max-infer-requests ${max}); retry later`);
  }

  get inProgress(): number { return this.#inProgress; }

  /** Calls refused so far. */
  get refused(): number { return this.#refused; }

  /** Takes a slot (the caller must release it once), or counts a refusal and returns the error to send. */
  acquire(): SluiceError | undefined {
    if (this.#inProgress >= this.max) {
      this.#refused++;
      return this.#busy;
    }
    this.#inProgress++;
    return undefined;
  }

  release(): void {
    if (this.#inProgress > 0) this.#inProgress--;
  }
}
