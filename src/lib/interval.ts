// Keys and closed intervals as include/linux/interval_tree_generic.h takes them ([start, last], last
// inclusive), checked the way both interval trees (intervalTree.ts, rbIntervalTree.ts) and their
// checkers need: keys are non-negative safe integers, anything else is EINVAL.

import { MmunError } from "./errno.js";

/** @internal Whether `v` is a valid key: a non-negative safe integer. */
export function isKey(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/** @internal `v` as an error message shows it: bigints with their n, strings quoted, anything printable. */
export function show(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** @internal Throws EINVAL naming `what` unless [start, last] is a valid interval. */
export function checkInterval(what: string, start: number, last: number): void {
  if (!isKey(start) || !isKey(last) || start > last) {
    throw new MmunError(
      "EINVAL",
      `${what}: [${show(start)}, ${show(last)}] needs non-negative safe integers with start <= last`,
    );
  }
}
