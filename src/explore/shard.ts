// Shards: a search split into n parts that together are exactly the sequential search.

import { MmunError } from "../lib/errno.js";

/**
 * Part `i` of `outer` split `n` ways: shard (outer.index + i * outer.count) of (outer.count * n). The
 * n parts together cover exactly `outer`; worker threads and the browser's in-thread runs both use it.
 */
export function subShard(
  outer: { index: number; count: number },
  n: number,
  i: number,
): { index: number; count: number } {
  return { index: outer.index + i * outer.count, count: outer.count * n };
}

/** The label results carry for shard `outer`: "i/n", or none for the whole search. */
export function shardLabel(outer: { index: number; count: number }): string | undefined {
  return outer.count > 1 ? `${outer.index}/${outer.count}` : undefined;
}

/** Parses "i/n" (0 <= i < n). */
export function parseShard(shard: string | undefined): { index: number; count: number } {
  if (shard === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(shard);
  const index = m === null ? Number.NaN : Number(m[1]);
  const count = m === null ? Number.NaN : Number(m[2]);
  if (!(count >= 1 && index >= 0 && index < count)) {
    throw new MmunError("EINVAL", `shard must be "i/n" with 0 <= i < n, got ${JSON.stringify(shard)}`);
  }
  return { index, count };
}
