// Shared by the interval tree tests: a brute-force model of the tree, key spaces, a comparison of
// everything observable (size, first, order, and one query asked four ways), and the tree's checker,
// shape and key directory as the tests read them.

import { expect } from "vitest";
import type { IntervalTree, IntervalTreeNode } from "../../src/lib/intervalTree.js";
import type { KeyDirectoryView } from "../../src/lib/keyDirectory.js";
import type { Rng } from "../../src/lib/rng.js";

export {
  checkIntervalTree,
  INTERVAL_TREE_LAYOUT,
  intervalTreeShape,
} from "../../src/lib/intervalTreeCheck.js";

/** The tree's key directory, for tests that look at (or break) its buckets, redirects and limbo. */
export function keyDirectoryOf(tree: IntervalTree<number>): KeyDirectoryView {
  return tree.keys;
}

export const MAX = Number.MAX_SAFE_INTEGER;

/**
 * A uniform integer in [lo, hi]. Rng.range is exact but rejects draws against 2^53 when the span
 * exceeds 2^32, which is very slow for spans just above it; a 53-bit fraction is plenty for tests.
 */
export function uniform(rng: Rng, lo: number, hi: number): number {
  const span = hi - lo + 1;
  if (span <= 2 ** 32) return rng.range(lo, hi);
  const frac = (rng.nextU32() * 2 ** 21 + (rng.nextU32() >>> 11)) / 2 ** 53;
  return Math.min(hi, lo + Math.floor(frac * span));
}

/** The brute-force reference: a list of entries, ordered on demand by (start, insertion order). */
export class Model {
  entries: { start: number; last: number; value: number; seq: number; handle: IntervalTreeNode<number> }[] =
    [];
  private seq = 0;

  add(start: number, last: number, value: number, handle: IntervalTreeNode<number>): void {
    this.entries.push({ start, last, value, seq: this.seq++, handle });
  }

  removeAt(i: number): void {
    this.entries.splice(i, 1);
  }

  sorted() {
    return [...this.entries].sort((a, b) => a.start - b.start || a.seq - b.seq);
  }

  overlapping(start: number, last: number): number[] {
    return this.sorted()
      .filter((e) => e.start <= last && start <= e.last)
      .map((e) => e.value);
  }
}

export const values = (nodes: Iterable<IntervalTreeNode<number>>) => [...nodes].map((n) => n.value);

export function walk(tree: IntervalTree<number>, start: number, last: number): number[] {
  const out: number[] = [];
  for (let n = tree.iterFirst(start, last); n; n = tree.iterNext(n, start, last)) out.push(n.value);
  return out;
}

export function walkIndex(tree: IntervalTree<number>, start: number, last: number): number[] {
  const out: number[] = [];
  for (let i = tree.firstIndex(start, last); i !== -1; i = tree.nextIndex(i, start, last)) {
    out.push(tree.valueAt(i));
    if (!(tree.startAt(i) <= last && start <= tree.lastAt(i))) expect.fail(`slot ${i} does not intersect`);
  }
  return out;
}

/** Asserts equality, going through expect's (slow, but explanatory) path only on a mismatch. */
export function same<V>(got: V[], want: V[]): void {
  if (got.length !== want.length || got.some((g, i) => g !== want[i])) expect(got).toEqual(want);
}

/** Everything observable must match the model: size, first, full order, and one query four ways. */
export function compare(tree: IntervalTree<number>, model: Model, qs: number, ql: number): void {
  const sorted = model.sorted();
  if (tree.size !== sorted.length) expect(tree.size).toBe(sorted.length);
  if (tree.first()?.value !== sorted[0]?.value) expect(tree.first()?.value).toBe(sorted[0]?.value);
  same(
    values(tree),
    sorted.map((e) => e.value),
  );
  const want = model.overlapping(qs, ql);
  same(values(tree.overlapping(qs, ql)), want);
  same(walk(tree, qs, ql), want);
  same(walkIndex(tree, qs, ql), want);
  same(tree.search(qs, ql), want);
}

export interface KeySpace {
  name: string;
  lo: number;
  hi: number;
  /** Longest interval drawn (the rest of the time the interval spans two random keys). */
  maxLen: number;
}

export const SPACES: KeySpace[] = [
  { name: "tiny [0, 8]", lo: 0, hi: 8, maxLen: 8 },
  { name: "medium [0, 10^6]", lo: 0, hi: 1e6, maxLen: 5000 },
  { name: "huge [2^53-1-10^5, 2^53-1]", lo: MAX - 1e5, hi: MAX, maxLen: 2000 },
  { name: "full [0, 2^53-1]", lo: 0, hi: MAX, maxLen: 2 ** 40 },
];

export function randomInterval(rng: Rng, ks: KeySpace): [number, number] {
  const a = uniform(rng, ks.lo, ks.hi);
  if (rng.chance(0.5)) {
    const b = uniform(rng, ks.lo, ks.hi);
    return a <= b ? [a, b] : [b, a];
  }
  return [a, Math.min(ks.hi, a + uniform(rng, 0, ks.maxLen))];
}
