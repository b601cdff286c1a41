/**
 * The V8 flags `sluice serve` runs with. V8 reads them only when node starts (and NODE_OPTIONS
 * refuses them), so each way of starting the server passes them itself: this CLI's shebang,
 * `npm start` in package.json and the bench's server process; test/unit/node-flags.test.ts checks
 * that the three agree with this list. `npm run bench` gives them to the bench's own process
 * too: its load generator allocates a buffer or more per request just as a server does, and its
 * collections took cores from the servers it measures (MLP, 128 in flight, scratch load client
 * with and without the flag, 3 alternating runs each: 11,121-11,200 vs 10,500-10,873 req/s).
 *
 * --initial-old-space-size=128: V8 sizes a process's old-generation limit from its live heap, ~10
 * MB for a server whose weights live outside it, so the limit stays near 32 MB. Buffers count
 * against it as external memory, and a one-row request allocates ~6 KB of them (its socket
 * read, its message, its share of the batch's outputs): at thousands of requests a second the
 * heap then never stops marking, with a full collection every ~75-100 ms. With the flag, full
 * collections come every ~2 s. Bench MLP, closed loop at 128 in flight: +7.6% requests/s
 * (median of 5 alternating runs) and a lower p99; RSS under that load ~30 MB higher.
 *
 * Tried and left out: --min-semi-space-size=16 (new space at its 32 MiB limit from the start,
 * instead of growing from 16 MiB once an overload keeps objects alive). RSS under the bench's
 * 13 s overload then rose +2% between the halves in 2 of 2 runs, with no full collection, where
 * without it one run in five stepped up +15%; but under that overload the accepted requests ran
 * at 7,300-7,600 req/s in both runs with it, below all five without it (7,800-10,000), and idle
 * RSS was ~19 MiB higher.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** The serve flags missing from this process's node command line. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
