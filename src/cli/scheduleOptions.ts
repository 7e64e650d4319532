// --last N / --full: how much of a failure's schedule check and replay print.

import { MmunError } from "../lib/errno.js";

/** The steps of the schedule to print: `--last N` (default 20), or all with `--full`. */
export function scheduleLength(last: string | undefined, full: boolean | undefined): number {
  if (full === true) {
    if (last !== undefined) throw new MmunError("EINVAL", "--last and --full exclude each other");
    return Number.POSITIVE_INFINITY;
  }
  if (last === undefined) return 20;
  const n = Number(last);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new MmunError("EINVAL", `--last needs a positive integer, got "${last}"`);
  return n;
}
