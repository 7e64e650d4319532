// The key directory of an IntervalTree: an index on the keys themselves, so that a query finds where
// to scan from by arithmetic instead of a descent from the root. No kernel counterpart (the kernel's
// tree descends for every query). It owns its state; the tree and its nodes (intervalTreeNodes.ts,
// intervalTreePools.ts)
// tell it of every change through the hooks below, and ask it where a query starts (cursor).
//
// Buckets. One per entry. Keys map to buckets linearly inside segments: the build splits the keys at
// gaps DIR_GAP times wider than the mean gap between starts (at most DIR_SEGMENTS segments), each
// with buckets in proportion to its entries. A bucket holds the cursor of the first entry, in order,
// whose running maximum of lasts reaches the bucket, or NIL (descend) where the scan from there could
// pass more than DIR_MAX_SCAN entries.
//
// States (DIR_*), what a query does in each, and what moves the directory on:
//
//   state     a query                                  moves to
//   none      descends from the root                   current   built after wait(backoff) queries
//                                                      declined  the build finds keys that cluster
//   current   scans from its bucket's cursor (exact)   kept      any insert or remove
//   kept      scans from its bucket's leaf: the        current   rebuilt after wait(quietBackoff)
//             cursor, or the leaf's first entry once             queries in a row without a change
//             the leaf changed (redirects followed)    due       KEPT_BUDGET * size changes, having
//                                                                served the queries its build waited for
//                                                      none      the same, not served (dropped, backoff
//                                                                doubles); an insert reaching back over
//                                                                KEPT_MAX_WALK buckets; a compaction
//   due       as kept                                  current   rebuilt by the next query
//   declined  descends from the root; no build         none      any insert or remove
//
// Kept, the invariant is: every entry before where a bucket's queries scan from ends before the
// bucket's least key. onInsert points at the new entry's leaf the buckets its interval reaches that
// scan from a later leaf; onEntriesMovedLeft redirects a leaf's buckets to its left sibling; a leaf
// freed while kept is withheld (onLeafFree) until the next build or drop. Why, and the figures behind
// the constants: docs/architecture.md ("The key directory") and docs/performance.md.

import type { IntervalTreeNodes } from "./intervalTreeNodes.js";
import { growI32, NODE_LAYOUT } from "./intervalTreePools.js";

const { NIL, NONE, LEAF_BITS, LEAF_CAP } = NODE_LAYOUT;
/** @internal A bucket whose forward scan could pass more entries than this holds NIL (descend). */
export const DIR_MAX_SCAN = 48;
/** Quiet queries that build the directory: size / 2^DIR_QUIET_SHIFT + DIR_QUIET_MIN (times the backoff). */
const DIR_QUIET_SHIFT = 1;
const DIR_QUIET_MIN = 16;
/** The wait doubles at most this many times (16x) while builds are wasted by changes. */
const DIR_BACKOFF_MAX = 4;
/** @internal Segments the directory splits keys into at most, at gaps DIR_GAP times the mean gap. */
export const DIR_SEGMENTS = 8;
const DIR_GAP = 64;
/** @internal A kept directory is due (or dropped) after KEPT_BUDGET * size + KEPT_SLACK changes. */
export const KEPT_BUDGET = 4;
/** @internal */
export const KEPT_SLACK = 64;
/** @internal An insert whose interval reaches back over more buckets than this drops a kept directory. */
export const KEPT_MAX_WALK = 64;
/** @internal A kept query passing more entries than this that end before its start NILs its bucket. */
export const KEPT_MAX_SCAN = 2 * LEAF_CAP + DIR_MAX_SCAN;
/** @internal A directory segment: least key, buckets per key, first bucket, last bucket less the first. */
export const SEG_FIELDS = 4;
const NO_BUCKETS = new Int32Array(0);
const NO_FLAGS = new Uint8Array(0);
const NO_SEGMENTS = new Float64Array(0);

// The directory's states (see the table at the top of the file), in this order: a state at or past
// DIR_CURRENT is built (it has buckets, and per-leaf upkeep), one at or past DIR_KEPT has seen a change.
/** @internal */
export const DIR_NONE = 0;
/** @internal */
export const DIR_DECLINED = 1;
/** @internal */
export const DIR_CURRENT = 2;
/** @internal */
export const DIR_KEPT = 3;
/** @internal */
export const DIR_DUE = 4;

/**
 * @internal The bucket of key x: its segment (the last whose least key is <= x, else the first), then
 * a linear map inside the segment, clamped to the segment's buckets. Monotonic in x. Queries, the
 * build and checkIntervalTree all call this one function.
 */
export function directoryBucket(seg: Float64Array, segs: number, x: number): number {
  let s = 0;
  for (let k = segs - 1; k > 0; k--) {
    if (x >= seg[k * SEG_FIELDS]!) {
      s = k * SEG_FIELDS;
      break;
    }
  }
  let b = Math.floor((x - seg[s]!) * seg[s + 1]!);
  if (b < 0) b = 0;
  else if (b > seg[s + 3]!) b = seg[s + 3]!;
  return b + seg[s + 2]!;
}

/** @internal Queries that build the directory of a tree of `size` with that backoff (0 to 4). */
export function directoryWait(size: number, backoff: number): number {
  return ((size >> DIR_QUIET_SHIFT) + DIR_QUIET_MIN) << backoff;
}

/** @internal What checkIntervalTree and intervalTreeShape read of a key directory. */
export interface KeyDirectoryView {
  readonly state: number;
  readonly builtAt: number;
  readonly buckets: Int32Array;
  readonly seg: Float64Array;
  readonly segs: number;
  readonly hi: number;
  readonly changed: Uint8Array;
  readonly redirect: Int32Array;
  readonly limbo: readonly number[];
  readonly backoff: number;
  readonly quietBackoff: number;
}

/** @internal The key directory of one tree (see the top of the file). */
export class KeyDirectory {
  /** One of DIR_NONE, DIR_DECLINED, DIR_CURRENT, DIR_KEPT, DIR_DUE. */
  state: number = DIR_NONE;
  /** The tree's version at the build (current while the tree is still at it: checked). */
  builtAt = -1;
  /** Per bucket, the cursor to scan from, or NIL to descend. Kept for reuse after a drop. */
  buckets = NO_BUCKETS;
  /** Segments of keys, SEG_FIELDS each (see directoryBucket), and how many. */
  seg = NO_SEGMENTS;
  segs = 0;
  /** At least the greatest last: no query starting after it intersects anything. */
  hi = 0;
  /** Per leaf, while built: 1 once the leaf changed (a query scans it from its first entry). */
  changed = NO_FLAGS;
  /** Per leaf, while built: the leaf whose first entry a query from this one scans from, or NIL. */
  redirect = NO_BUCKETS;
  /** Leaves freed while built: a bucket may still name them, so they are not reused before a build. */
  limbo: number[] = [];
  /** Inserts and removes since the build; past the budget, the directory is due or dropped. */
  private updates = 0;
  /** Queries answered through the directory since its build. */
  private served = 0;
  /** Queries answered without a directory since it was dropped or declined, changes or not. */
  private asked = 0;
  /** Queries answered in a row since the last change, while kept. */
  private quiet = 0;
  /** The bucket of the last query answered through a kept directory. */
  private lastBucket = 0;
  /** Builds wait (size / 2 + 16) << backoff queries; `waited` is what the last build waited. */
  backoff = 0;
  /** A kept directory is rebuilt after (size / 2 + 16) << quietBackoff queries in a row. */
  quietBackoff = 0;
  private waited = 0;

  constructor(private readonly nodes: IntervalTreeNodes<unknown>) {}

  // ---- hooks: the tree and its nodes call these on every change ----

  /** An entry was inserted at cursor `at` (the tree's count and version already count it). */
  onInsert(at: number, start: number, last: number): void {
    if (this.state === DIR_NONE || !this.onChange(this.nodes.count - 1)) return;
    const leaf = at >> LEAF_BITS;
    this.changed[leaf] = 1;
    if (last > this.hi) this.hi = last;
    this.keepInsert(leaf, start, last);
  }

  /** An entry is about to leave `leaf` (the tree's count and version do not count it yet). */
  onRemove(leaf: number): void {
    if (this.state === DIR_NONE) return;
    if (this.onChange(this.nodes.count)) this.changed[leaf] = 1;
  }

  /** Entries of leaf `from` move into `to`, its right sibling (a split, or a borrow by `to`). */
  onEntriesMovedRight(from: number, to: number): void {
    if (this.state < DIR_CURRENT) return;
    this.changed[from] = 1;
    this.changed[to] = 1;
  }

  /**
   * Entries of leaf `from` move into `to`, its left sibling (a merge, or a borrow by `to`): they now
   * lie before where from's buckets scan from, so those scan from to's first entry instead.
   */
  onEntriesMovedLeft(from: number, to: number): void {
    if (this.state < DIR_CURRENT) return;
    this.changed[from] = 1;
    this.changed[to] = 1;
    this.redirect[from] = to;
  }

  /** The leaf pool grew to `cap` leaves. */
  onLeavesGrown(cap: number): void {
    if (this.state < DIR_CURRENT) return;
    const changed = new Uint8Array(cap);
    changed.set(this.changed);
    this.changed = changed;
    this.redirect = growI32(this.redirect, cap, NIL);
  }

  /** Leaf `leaf` is freed: true when the directory withholds it (a bucket may name it). */
  onLeafFree(leaf: number): boolean {
    if (this.state < DIR_CURRENT) return false;
    this.limbo.push(leaf);
    return true;
  }

  /** The pools are about to be renumbered: the directory is dropped and its memory handed back. */
  onCompact(): void {
    if (this.state >= DIR_CURRENT) this.drop();
    this.buckets = NO_BUCKETS;
    this.changed = NO_FLAGS;
    this.redirect = NO_BUCKETS;
  }

  // The common part of onInsert and onRemove (state not none), for a tree of `size` before the
  // change: false when the directory has none to keep (declined, or dropped by this change).
  private onChange(size: number): boolean {
    const state = this.state;
    if (state === DIR_DECLINED) {
      this.state = DIR_NONE;
      return false;
    }
    if (state === DIR_CURRENT) {
      // The first change after a build. A build that a change follows before it served as many
      // queries as a build waits for at the least doubles the wait of the next rebuild by a quiet
      // run, up to 16x, so runs of queries just that long between changes do not pay a build each;
      // one that served twice that resets the wait.
      const base = directoryWait(size, 0);
      if (this.served < base) this.quietBackoff = Math.min(this.quietBackoff + 1, DIR_BACKOFF_MAX);
      else if (this.served >= 2 * base) this.quietBackoff = 0;
      this.state = DIR_KEPT;
    }
    this.quiet = 0;
    // Past its budget, a kept directory that served the queries its build waited for is rebuilt by
    // the next query; one that did not is dropped, and the next build waits twice as long.
    if (++this.updates <= KEPT_BUDGET * this.nodes.count + KEPT_SLACK) return true;
    if (this.served >= this.waited) {
      this.state = DIR_DUE;
      this.backoff = 0;
      return true;
    }
    this.backoff = Math.min(this.backoff + 1, DIR_BACKOFF_MAX);
    this.drop();
    return false;
  }

  // Kept upkeep for an insert into `leaf`: the new entry breaks the invariant for the buckets its
  // interval reaches whose queries scan from a later leaf; they now scan from its leaf. Those are the
  // buckets from bucket(last) down to the first one scanning from its leaf or earlier (where queries
  // scan from only moves along the leaf order as buckets do).
  private keepInsert(leaf: number, start: number, last: number): void {
    const buckets = this.buckets;
    const lStart = this.nodes.lStart;
    let steps = 0;
    for (let b = directoryBucket(this.seg, this.segs, last); b >= 0; b--) {
      if (++steps > KEPT_MAX_WALK) {
        this.drop();
        return;
      }
      const c = buckets[b]!;
      if (c === NIL) continue;
      const from = this.keptLeaf(c >> LEAF_BITS);
      // A leaf after the new entry's starts after it (equal starts sort the new entry last).
      if (lStart[from * LEAF_CAP]! <= start) return;
      buckets[b] = leaf * LEAF_CAP;
    }
  }

  // Drops the directory (the buckets stay for reuse); queries descend until the next build.
  private drop(): void {
    this.state = DIR_NONE;
    this.asked = 0;
    this.releaseLimbo();
  }

  private releaseLimbo(): void {
    for (const leaf of this.limbo) this.nodes.leafFree.push(leaf);
    this.limbo = [];
  }

  // ---- queries ----

  /**
   * Where a query starting at `start` in a tree of `size` entries scans from: a cursor, NIL to descend
   * from the root, or NONE when nothing ends at or after start. Counts the query, and builds the
   * directory when that is due.
   */
  cursor(start: number, size: number): number {
    if (size === 0) return NONE;
    const state = this.state;
    if (state !== DIR_CURRENT) {
      if (
        state >= DIR_KEPT
          ? state === DIR_DUE || ++this.quiet >= directoryWait(size, this.quietBackoff)
          : ++this.asked >= directoryWait(size, this.backoff) && state !== DIR_DECLINED
      ) {
        if (!this.build()) return NIL;
      } else if (state < DIR_KEPT) {
        return NIL;
      }
    }
    this.served++;
    if (start > this.hi) return NONE;
    const b = directoryBucket(this.seg, this.segs, start);
    const c = this.buckets[b]!;
    if (c === NIL || this.state === DIR_CURRENT) return c;
    // Kept: the leaf the bucket names (or the one it was redirected to), from its first entry once it
    // changed.
    this.lastBucket = b;
    const leaf = this.keptLeaf(c >> LEAF_BITS);
    return this.changed[leaf] ? leaf * LEAF_CAP : c;
  }

  /**
   * After a query through the directory passed `passed` entries that end before its start: a kept
   * directory bounds no scan, so a bucket whose scan passed too many descends from now on.
   */
  scanned(passed: number): void {
    if (passed > KEPT_MAX_SCAN && this.state !== DIR_CURRENT) this.buckets[this.lastBucket] = NIL;
  }

  // The leaf a kept bucket naming `leaf` scans from: `leaf`, or the end of its chain of redirects.
  private keptLeaf(leaf: number): number {
    const redirect = this.redirect;
    for (let r = redirect[leaf]!; r !== NIL; r = redirect[leaf]!) leaf = r;
    return leaf;
  }

  /**
   * Builds the directory of the tree as it is, O(n), or declines it (false) when keys cluster so that
   * more than a quarter of the entries start in buckets with too long a scan; then no build is tried
   * again before the next change.
   */
  private build(): boolean {
    const nodes = this.nodes;
    const lStart = nodes.lStart;
    const lLast = nodes.lLast;
    const lCount = nodes.lCount;
    const lNext = nodes.lNext;
    const m = nodes.count;
    const hi = nodes.subtreeLast();
    // Pass 1: the widest gaps between consecutive starts, widest first (at most DIR_SEGMENTS - 1).
    const gaps: number[] = []; // [width, rank of the entry after the gap, its start], flattened
    let prev = lStart[0]!;
    let ord = 0;
    for (let leaf = 0; leaf !== NIL; leaf = lNext[leaf]!) {
      for (let j = leaf * LEAF_CAP, end = j + lCount[leaf]!; j < end; j++, ord++) {
        const s = lStart[j]!;
        const w = s - prev;
        prev = s;
        if (gaps.length < 3 * (DIR_SEGMENTS - 1) || w > gaps[gaps.length - 3]!) {
          let at = gaps.length;
          while (at > 0 && gaps[at - 3]! < w) at -= 3;
          gaps.splice(at, 0, w, ord, s);
          if (gaps.length > 3 * (DIR_SEGMENTS - 1)) gaps.length = 3 * (DIR_SEGMENTS - 1);
        }
      }
    }
    // A gap splits the keys when it is DIR_GAP times the mean gap: uniform keys never have one
    // (their widest gap is about ln(n) times the mean), an outlier or an address space's holes do.
    // The mean leaves out the widest gaps, which would inflate it.
    let widest = 0;
    for (let g = 0; g < gaps.length; g += 3) widest += gaps[g]!;
    const mean = (prev - lStart[0]! - widest) / Math.max(1, m - 1 - gaps.length / 3);
    // Each cut starts a segment: the rank and start of the entry after a wide gap, and the gap.
    const cuts: { rank: number; start: number; width: number }[] = [{ rank: 0, start: lStart[0]!, width: 0 }];
    for (let g = 0; g < gaps.length; g += 3) {
      if (gaps[g]! > DIR_GAP * mean) cuts.push({ rank: gaps[g + 1]!, start: gaps[g + 2]!, width: gaps[g]! });
    }
    cuts.sort((a, b) => a.rank - b.rank);
    const segs = cuts.length;
    const seg = new Float64Array(segs * SEG_FIELDS);
    // Segment k: entries of ranks [base, next base), keys [lo, its last start] (greater keys go to its
    // last bucket); one bucket per entry, so base is also its first bucket.
    for (let k = 0; k < segs; k++) {
      const { rank: base, start: lo } = cuts[k]!;
      const next = cuts[k + 1];
      const nextBase = next ? next.rank : m;
      // The segment's last start: the next segment's first start less the gap before it.
      const top = next ? next.start - next.width : prev;
      const s = k * SEG_FIELDS;
      seg[s] = lo;
      seg[s + 1] = (nextBase - base) / (top - lo + 1);
      seg[s + 2] = base;
      seg[s + 3] = nextBase - base - 1;
    }
    const buckets =
      this.buckets.length >= m && this.buckets.length <= 2 * m ? this.buckets : new Int32Array(m);
    // Pass 2, in order with the running maximum of lasts (pm): bucket b gets the first entry whose pm
    // falls in bucket b or later. The bucket function only needs to be monotonic, and the same
    // arithmetic runs here and in queries, so rounding cannot put a query before its bucket's cursor.
    let nb = 0; // buckets assigned so far
    let pm = -1;
    let fromOrd = 0; // rank of the cursor of the last bucket assigned
    let nil = 0; // buckets left NIL
    ord = 0;
    for (let leaf = 0; leaf !== NIL; leaf = lNext[leaf]!) {
      for (let j = leaf * LEAF_CAP, end = j + lCount[leaf]!; j < end; j++, ord++) {
        const l = lLast[j]!;
        if (l <= pm) continue;
        pm = l;
        const pb = directoryBucket(seg, segs, pm);
        // A query in bucket nb - 1 finds its first result by this entry when pm reaches past the bucket
        // (or reaches hi, the last bucket's end): that is the most its scan passes.
        if (pb >= nb || pm === hi) {
          if (nb > 0 && ord - fromOrd > DIR_MAX_SCAN) {
            buckets[nb - 1] = NIL;
            nil++;
          }
          if (pb < nb) continue;
          fromOrd = ord;
          for (; nb <= pb; nb++) buckets[nb] = j;
        }
      }
    }
    // Queries that follow the data land where entries start: decline when a quarter of the entries
    // start in NIL buckets (keys that cluster). A long interval makes few NIL buckets, with few starts.
    if (nil > 0) {
      let crowded = 0;
      for (let leaf = 0; leaf !== NIL; leaf = lNext[leaf]!) {
        for (let j = leaf * LEAF_CAP, end = j + lCount[leaf]!; j < end; j++) {
          if (buckets[directoryBucket(seg, segs, lStart[j]!)] === NIL) crowded++;
        }
      }
      if (crowded * 4 > m) {
        this.drop();
        this.buckets = NO_BUCKETS;
        this.state = DIR_DECLINED;
        return false;
      }
    }
    buckets.fill(NIL, nb); // buckets past hi's: no query reaches them
    this.buckets = buckets;
    this.seg = seg;
    this.segs = segs;
    this.hi = hi;
    this.state = DIR_CURRENT;
    this.builtAt = nodes.version;
    this.waited = directoryWait(m, this.backoff);
    this.served = 0;
    // No leaf changed or redirected yet, and leaves freed meanwhile can be reused.
    this.updates = 0;
    this.releaseLimbo();
    const leaves = lCount.length;
    if (this.changed.length === leaves) this.changed.fill(0);
    else {
      this.changed = new Uint8Array(leaves);
      this.redirect = new Int32Array(leaves);
    }
    this.redirect.fill(NIL);
    return true;
  }
}
