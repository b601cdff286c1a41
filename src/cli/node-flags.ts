/**
 * The V8 flags `sluice serve` runs with. V8 reads them only when node starts (and NODE_OPTIONS
 * refuses them), so each way of starting the server passes them itself: this CLI's shebang,
 * `npm start` in package.json and the bench's server process; test/unit/node-flags.test.ts checks
 * that the three agree with this list. `npm run bench` gives them to the bench's own process
 * too: its load generator allocates a buffer or more per request just as a server does, and its
 * collections took cores from the servers it measures (MLP, 128 in flight, scratch load client
 * with and without --initial-old-space-size=128, 3 alternating runs each: 11,121-11,200 vs
 * 10,500-10,873 req/s; the second flag was measured on the server only).
 *
 * --initial-old-space-size=128: V8 sizes a process's old-generation limit from its live heap, ~10
 * MB for a server whose weights live outside it, so the limit stays near 32 MB. Buffers count
 * against it as external memory, and a one-row request allocates ~6 KB of them (its socket
 * read, its message, its share of the batch's outputs): at thousands of requests a second the
 * heap then never stops marking, with a full collection every ~75-100 ms. With the flag, full
 * collections come every ~2 s. Bench MLP, closed loop at 128 in flight: +7.6% requests/s
 * (median of 5 alternating runs) and a lower p99; RSS under that load ~30 MB higher.
 *
 * --min-semi-space-size=16: the young generation at its 16 MiB semi-space limit from the start,
 * rather than grown to it once a load keeps many objects alive. Without it, RSS stepped up by
 * ~30 MiB at no fixed time in the bench's 13 s overload level, in its last 4 s in 1 of 3 bench
 * serve runs on 2026-11-23 and 2 of 7 before (which then read as memory that did not level
 * off); with it, the level's two settled halves peaked within +1.8% to +2.3% of each other in 4
 * of 4 runs that day (+2% in 2 of 2 before). The bench's refusal p99 was 5.0-6.7 ms in those 4
 * runs, against 8.2-11.1 ms in the 3 without it. In alternating scratch pairs (10 s at 21,000
 * req/s on the bench MLP, call limit 512 + 128) refusals' p99 was 8.0-10.7 ms against 9.0-12.2
 * (4 pairs; earlier 3 pairs: 6.9-8.7 against 10.6-12.6). Throughput was the same within the
 * noise: accepted under that overload 8,363-9,264 req/s against 8,512-8,810; closed loop (4
 * alternating pairs) c=8 5,248-6,101 against 4,843-5,757, c=32 8,302-10,370 against
 * 9,396-9,800, c=128 9,344-11,273 against 10,738-11,401 (the earlier 3 overload pairs had it
 * lower, 7,652-8,185 against 7,891-8,925). Cost: the space's pages are kept once touched, ~3 MiB
 * more RSS at start-up and ~19 MiB more after a load.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=128', '--min-semi-space-size=16'];

/** The serve flags missing from this process's node command line. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
