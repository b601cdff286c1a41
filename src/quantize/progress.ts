/**
 * A progress bar on a terminal: redrawn in place with \r, at most every 100 ms, and only when the
 * stream is a TTY, so CI logs and redirected stderr get no control characters and no noise.
 */

export interface Progress {
  update(done: number, total: number): void;
  /** Ends the bar's line (if one was drawn). */
  finish(): void;
}

const WIDTH = 30;
const REDRAW_MS = 100;

export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY !== true) return { update: () => undefined, finish: () => undefined };
  let drawn = false;
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (done < total && now - last < REDRAW_MS) return;
      last = now;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const fill = Math.round(frac * WIDTH);
      stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${String(Math.round(frac * 100)).padStart(3)}% ${done}/${total}`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
