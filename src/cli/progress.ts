// A progress line on stderr for long searches (the CLI may read the wall clock; the explorer may not).

import type { ExploreProgress } from "../explore/options.js";
import { count } from "./args.js";

/** Returns an onProgress callback that redraws at most every 200 ms, and a `done()` to clear it. */
export function progressLine(label: string, total: number, enabled: boolean) {
  const start = performance.now();
  let last = 0;
  let shown = false;
  const stream = process.stderr;
  const onProgress = (p: ExploreProgress) => {
    if (!enabled) return;
    const now = performance.now();
    if (now - last < 200) return;
    last = now;
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? Math.round(p.executions / secs) : 0;
    const frac = Math.min(1, p.executions / total);
    const width = 24;
    const bar = "#".repeat(Math.round(frac * width)).padEnd(width, ".");
    const text = `${label} [${bar}] ${p.executions}/${count(total, "execution")}, ${rate}/s, failures: ${p.failures}`;
    if (stream.isTTY) stream.write(`\r${text}\u001b[K`);
    else stream.write(`${text}\n`);
    shown = true;
  };
  const done = () => {
    if (shown && stream.isTTY) stream.write("\r\u001b[K");
  };
  return { onProgress, done, elapsed: () => (performance.now() - start) / 1000 };
}
