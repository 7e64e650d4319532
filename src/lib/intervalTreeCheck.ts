// The validator of IntervalTree (intervalTree.ts), as lib/interval_tree_test.c and the rbtree
// self-tests check the kernel's: every invariant of the nodes, their augmentation and the key
// directory, recomputed the slow way. For tests and the explorer's debug mode; not part of the
// public API. It reads the tree through IntervalTreeView (intervalTreePools.ts).

import { isKey } from "./interval.js";
import type { IntervalTree } from "./intervalTree.js";
import { type IntervalTreeView, NODE_LAYOUT } from "./intervalTreePools.js";
import {
  DIR_CURRENT,
  DIR_DECLINED,
  DIR_KEPT,
  DIR_MAX_SCAN,
  DIR_SEGMENTS,
  directoryBucket,
  directoryWait,
  KEPT_BUDGET,
  KEPT_MAX_SCAN,
  KEPT_MAX_WALK,
  KEPT_SLACK,
  type KeyDirectoryView,
  SEG_FIELDS,
} from "./keyDirectory.js";

const { NIL, LEAF_BITS, LEAF_CAP, LEAF_MIN, INNER_CAP, INNER_MIN } = NODE_LAYOUT;

/** @internal Node capacities and minimum fills, for tests that check the tree's shape. */
export const INTERVAL_TREE_LAYOUT = {
  leafCap: LEAF_CAP,
  leafMin: LEAF_MIN,
  innerCap: INNER_CAP,
  innerMin: INNER_MIN,
  dirMaxScan: DIR_MAX_SCAN,
  /** Queries that build the key directory of a tree of `size` (none yet, or a kept one, in a row). */
  dirQuiet: (size: number) => directoryWait(size, 0),
  /** Changes a kept directory of a tree of `size` goes through before it is rebuilt or dropped. */
  keptBudget: (size: number) => KEPT_BUDGET * size + KEPT_SLACK,
  keptMaxScan: KEPT_MAX_SCAN,
  keptMaxWalk: KEPT_MAX_WALK,
} as const;

/** @internal Shape figures of a tree, for tests and the bench: height and node counts. */
export function intervalTreeShape<T>(tree: IntervalTree<T>): {
  height: number;
  leaves: number;
  innerNodes: number;
  /** Leaves the pools have room for (they grow on demand and shrink once 3/4 are unused). */
  leafCapacity: number;
  innerCapacity: number;
  /**
   * The key directory: "current" (exact: the tree has not changed since its build), "kept" (kept
   * through changes since, or due for a rebuild), "declined" (keys cluster; no build before the next
   * change), or "none".
   */
  directory: "current" | "kept" | "declined" | "none";
  /** Buckets the directory's array holds (a dropped one is kept for reuse until a compaction). */
  directoryBuckets: number;
  /** Segments the directory splits the keys into (0 when there is none). */
  directorySegments: number;
  /**
   * Queries the next build waits for: (size / 2 + 16) times 1, 2, 4, 8 or 16 (backoff); in a row
   * without a change for a kept directory.
   */
  directoryWait: number;
} {
  const t: IntervalTreeView<T> = tree;
  const keys = t.keys;
  const built = keys.state >= DIR_CURRENT;
  return {
    directory:
      keys.state === DIR_CURRENT
        ? "current"
        : keys.state >= DIR_KEPT
          ? "kept"
          : keys.state === DIR_DECLINED
            ? "declined"
            : "none",
    directoryBuckets: keys.buckets.length,
    directorySegments: built ? keys.segs : 0,
    directoryWait: directoryWait(t.count, built ? keys.quietBackoff : keys.backoff),
    height: t.height,
    leaves: t.leafUsed - t.leafFree.length,
    innerNodes: t.innerUsed - t.innerFree.length,
    leafCapacity: t.lCount.length,
    innerCapacity: t.iCount.length,
  };
}

type Fail = (msg: string) => never;

/**
 * Checks every invariant of `tree` and throws an Error naming the first violation: all leaves at one
 * depth; node fill (non-root leaves >= LEAF_MIN, non-root inner nodes >= INNER_MIN, an inner root
 * >= 2 children); parent and position links; every cached least start (and its seq), subtree-last and
 * prefix maximum; keys are valid intervals in ascending start with equal starts in insertion order;
 * leaf 0 first and the next-leaf chain in order; every sequence number and value; the free lists;
 * and the key directory: its state against the tree's version, and while current every bucket and
 * segment, while kept the invariant its upkeep keeps. O(n).
 */
export function checkIntervalTree<T>(tree: IntervalTree<T>): void {
  const t: IntervalTreeView<T> = tree;
  const fail: Fail = (msg) => {
    throw new Error(`interval tree invariant violated: ${msg}`);
  };
  const leaves: number[] = [];
  const seenLeaf = new Uint8Array(t.leafUsed);
  const seenInner = new Uint8Array(t.innerUsed);
  // Returns [least start, its seq, greatest last] of the subtree, appending its leaves in order.
  const walk = (n: number, h: number, parent: number, pos: number): [number, number, number] => {
    if (h === 0) {
      if (n < 0 || n >= t.leafUsed || seenLeaf[n]) fail(`leaf ${n} is out of range or linked twice`);
      seenLeaf[n] = 1;
      if (t.lParent[n] !== parent) fail(`leaf ${n} has parent ${t.lParent[n]}, expected ${parent}`);
      if (parent !== NIL && t.lPos[n] !== pos) fail(`leaf ${n} has position ${t.lPos[n]}, expected ${pos}`);
      const cnt = t.lCount[n]!;
      if (cnt > LEAF_CAP || (parent !== NIL && cnt < LEAF_MIN)) fail(`leaf ${n} holds ${cnt} entries`);
      let m = -1;
      for (let j = n * LEAF_CAP; j < n * LEAF_CAP + cnt; j++) m = Math.max(m, t.lLast[j]!);
      leaves.push(n);
      return cnt === 0
        ? [Number.POSITIVE_INFINITY, -1, -1]
        : [t.lStart[n * LEAF_CAP]!, t.lSeq[n * LEAF_CAP]!, m];
    }
    if (n < 0 || n >= t.innerUsed || seenInner[n]) fail(`inner node ${n} is out of range or linked twice`);
    seenInner[n] = 1;
    if (t.iParent[n] !== parent) fail(`inner node ${n} has parent ${t.iParent[n]}, expected ${parent}`);
    if (parent !== NIL && t.iPos[n] !== pos)
      fail(`inner node ${n} has position ${t.iPos[n]}, expected ${pos}`);
    if (t.iHeight[n] !== h) fail(`inner node ${n} has height ${t.iHeight[n]}, expected ${h}`);
    const cnt = t.iCount[n]!;
    if (cnt > INNER_CAP || cnt < (parent === NIL ? 2 : INNER_MIN))
      fail(`inner node ${n} has ${cnt} children`);
    let pm = -1;
    let least = Number.POSITIVE_INFINITY;
    let leastSeq = -1;
    for (let c = 0; c < cnt; c++) {
      const k = n * INNER_CAP + c;
      const [mn, ms, mx] = walk(t.iChild[k]!, h - 1, n, c);
      if (t.iMin[k] !== mn)
        fail(`inner node ${n} child ${c} caches least start ${t.iMin[k]}, expected ${mn}`);
      if (t.iMinSeq[k] !== ms)
        fail(`inner node ${n} child ${c} caches least start's seq ${t.iMinSeq[k]}, expected ${ms}`);
      if (t.iMax[k] !== mx)
        fail(`inner node ${n} child ${c} caches subtree-last ${t.iMax[k]}, expected ${mx}`);
      pm = Math.max(pm, mx);
      if (t.iPm[k] !== pm) fail(`inner node ${n} child ${c} caches prefix max ${t.iPm[k]}, expected ${pm}`);
      if (c === 0) {
        least = mn;
        leastSeq = ms;
      }
    }
    return [least, leastSeq, pm];
  };
  if (t.height === 0 && t.root !== 0) fail(`the root leaf is ${t.root}, not leaf 0`);
  walk(t.root, t.height, NIL, 0);
  if (leaves[0] !== 0) fail(`the leftmost leaf is ${leaves[0]}, not leaf 0`);
  let total = 0;
  let prevStart = -1;
  let prevSeq = -1;
  const seqs = new Set<number>();
  for (let k = 0; k < leaves.length; k++) {
    const n = leaves[k]!;
    const expectNext = k + 1 < leaves.length ? leaves[k + 1]! : NIL;
    if (t.lNext[n] !== expectNext) fail(`leaf ${n} links to next leaf ${t.lNext[n]}, expected ${expectNext}`);
    for (let j = n * LEAF_CAP; j < n * LEAF_CAP + t.lCount[n]!; j++) {
      const start = t.lStart[j]!;
      const last = t.lLast[j]!;
      if (!isKey(start) || !isKey(last) || start > last) fail(`cursor ${j} holds [${start}, ${last}]`);
      const seq = t.lSeq[j]!;
      if (!Number.isSafeInteger(seq) || seq < 0 || seq >= t.nextSeq || seqs.has(seq))
        fail(`cursor ${j} has seq ${seq} (out of range or twice)`);
      seqs.add(seq);
      if (start < prevStart) fail(`cursor ${j} starts at ${start} after an entry starting at ${prevStart}`);
      if (start === prevStart && seq <= prevSeq) {
        fail(`cursor ${j} (seq ${seq}) sorts after seq ${prevSeq} with the same start ${start}`);
      }
      prevStart = start;
      prevSeq = seq;
      total++;
    }
  }
  if (total !== t.count) fail(`size is ${t.count} but ${total} entries are stored`);
  if (t.lVal.length > t.lCount.length * LEAF_CAP)
    fail(`${t.lVal.length} value slots for ${t.lCount.length} leaves`);
  for (let n = 0; n < t.lCount.length; n++) {
    for (let j = n * LEAF_CAP + (n < t.leafUsed ? t.lCount[n]! : 0); j < (n + 1) * LEAF_CAP; j++) {
      if (t.lVal[j] !== undefined) fail(`unused slot ${j} of leaf ${n} still holds a value`);
    }
  }
  for (const n of t.leafFree) {
    if (seenLeaf[n]) fail(`leaf ${n} is free and in the tree`);
    // A handle's cursor hint may point into a freed leaf: only a count of 0 makes that harmless.
    if (t.lCount[n] !== 0) fail(`free leaf ${n} counts ${t.lCount[n]} entries`);
  }
  const keys = t.keys;
  for (const n of keys.limbo) {
    if (seenLeaf[n] || t.leafFree.includes(n)) fail(`leaf ${n} is in limbo and in the tree or free`);
    if (t.lCount[n] !== 0) fail(`leaf ${n} in limbo counts ${t.lCount[n]} entries`);
  }
  for (const n of t.innerFree) if (seenInner[n]) fail(`inner node ${n} is free and in the tree`);
  if (leaves.length + t.leafFree.length + keys.limbo.length !== t.leafUsed)
    fail("a leaf is neither in the tree nor free");
  const inner = seenInner.reduce((a, b) => a + b, 0);
  if (inner + t.innerFree.length !== t.innerUsed) fail("an inner node is neither in the tree nor free");
  checkDirectoryState(t, fail);
  if (keys.state === DIR_CURRENT) checkCurrent(t, leaves, fail);
  else if (keys.state >= DIR_KEPT) checkKept(t, leaves, seenLeaf, fail);
}

/**
 * The directory's state against the tree: every insert and remove reached it through its hooks (it is
 * current exactly while the tree is at the version it was built at); a current directory has no
 * upkeep (no leaf changed or redirected, none withheld); only a built one withholds leaves, and each
 * leaf it withholds was merged into its left sibling (redirected).
 */
function checkDirectoryState<T>(t: IntervalTreeView<T>, fail: Fail): void {
  const keys = t.keys;
  if (keys.state < DIR_CURRENT) {
    if (keys.limbo.length > 0) fail(`${keys.limbo.length} leaves in limbo without a kept directory`);
    return;
  }
  const current = keys.state === DIR_CURRENT;
  if (current !== (keys.builtAt === t.version))
    fail(
      `the key directory is ${current ? "current" : "kept"}, built at version ${keys.builtAt} of ${t.version}`,
    );
  for (const n of keys.limbo) if (keys.redirect[n] === NIL) fail(`leaf ${n} in limbo redirects nowhere`);
  if (!current) return;
  if (keys.limbo.length > 0) fail(`a current key directory withholds ${keys.limbo.length} leaves`);
  const changed = keys.changed.indexOf(1);
  if (changed >= 0) fail(`a current key directory marks leaf ${changed} changed`);
  const redirected = keys.redirect.findIndex((r) => r !== NIL);
  if (redirected >= 0) fail(`a current key directory redirects leaf ${redirected}`);
}

/**
 * A kept directory: every bucket's queries scan from a live entry (or a live leaf's first), before
 * which every entry ends before the bucket's least key, and where they scan from moves forward in
 * order from bucket to bucket (insert's upkeep relies on that). Redirects lead to live leaves, and no
 * bucket names a leaf that went back to the free list.
 */
function checkKept<T>(t: IntervalTreeView<T>, leaves: number[], seenLeaf: Uint8Array, fail: Fail): void {
  const keys: KeyDirectoryView = t.keys;
  const cap = t.lCount.length;
  if (keys.changed.length !== cap || keys.redirect.length !== cap)
    fail(`kept directory flags for ${keys.changed.length} and ${keys.redirect.length} of ${cap} leaves`);
  // Rank of every live cursor, and the greatest last before each rank.
  const rank = new Map<number, number>();
  const before: number[] = [];
  let pm = -1;
  for (const n of leaves) {
    for (let j = n * LEAF_CAP; j < n * LEAF_CAP + t.lCount[n]!; j++) {
      rank.set(j, before.length);
      before.push(pm);
      pm = Math.max(pm, t.lLast[j]!);
    }
  }
  if (keys.hi < pm) fail(`the kept directory reaches ${keys.hi}, short of the greatest last ${pm}`);
  const segs = keys.segs;
  const buckets = keys.seg[(segs - 1) * SEG_FIELDS + 2]! + keys.seg[(segs - 1) * SEG_FIELDS + 3]! + 1;
  if (buckets > keys.buckets.length)
    fail(`the kept directory maps keys to ${buckets} of ${keys.buckets.length} buckets`);
  const free = new Set(t.leafFree);
  let prev = -1;
  for (let b = 0; b < buckets; b++) {
    const c = keys.buckets[b]!;
    if (c === NIL) continue;
    let leaf = c >> LEAF_BITS;
    if (free.has(leaf)) fail(`kept directory bucket ${b} names leaf ${leaf}, which is free for reuse`);
    for (let hops = 0; keys.redirect[leaf] !== NIL; hops++) {
      if (hops > t.leafUsed) fail(`kept directory redirects from leaf ${c >> LEAF_BITS} loop`);
      leaf = keys.redirect[leaf]!;
    }
    if (leaf >= t.leafUsed || !seenLeaf[leaf])
      fail(`kept directory bucket ${b} leads to leaf ${leaf}, not in the tree`);
    const from = keys.changed[leaf] ? leaf * LEAF_CAP : c;
    const r = rank.get(from);
    if (r === undefined) {
      if (t.lCount[leaf] === 0 && leaves.length === 1) continue; // an empty tree
      fail(`kept directory bucket ${b} scans from ${from}, not a live cursor`);
    }
    if (r < prev)
      fail(`kept directory bucket ${b} scans from rank ${r}, before the bucket below it (${prev})`);
    prev = r;
    const reach = before[r]!;
    if (reach >= 0 && directoryBucket(keys.seg, segs, reach) >= b)
      fail(`kept directory bucket ${b} scans from rank ${r}, past an entry ending at ${reach}`);
  }
}

/**
 * A current directory, recomputed the slow way: every bucket holds the cursor of the first entry whose
 * running maximum of lasts falls in that bucket or a later one, or NIL where the scan from there
 * could pass more than DIR_MAX_SCAN entries; at most a quarter of the entries start in NIL buckets.
 */
function checkCurrent<T>(t: IntervalTreeView<T>, leaves: number[], fail: Fail): void {
  const keys = t.keys;
  const cursors: number[] = [];
  for (const n of leaves) for (let j = n * LEAF_CAP; j < n * LEAF_CAP + t.lCount[n]!; j++) cursors.push(j);
  let hi = -1;
  for (const j of cursors) hi = Math.max(hi, t.lLast[j]!);
  if (keys.hi !== hi || keys.buckets.length < t.count) {
    fail(
      `the key directory reaches ${keys.hi} (greatest last ${hi}) in ${keys.buckets.length} buckets for ${t.count}`,
    );
  }
  // Segments: each starts at an entry (its base is that entry's rank, its least key the entry's start),
  // in order, the first at rank 0, together one bucket per entry.
  const seg = keys.seg;
  if (keys.segs < 1 || keys.segs > DIR_SEGMENTS || seg.length !== keys.segs * SEG_FIELDS)
    fail(`the key directory has ${keys.segs} segments in ${seg.length} fields`);
  for (let k = 0; k < keys.segs; k++) {
    const [lo, scale, base, top] = seg.subarray(k * SEG_FIELDS, (k + 1) * SEG_FIELDS);
    const next = k + 1 < keys.segs ? seg[(k + 1) * SEG_FIELDS + 2]! : t.count;
    if (
      lo !== t.lStart[cursors[base!]!] ||
      (k === 0 && base !== 0) ||
      base! + top! + 1 !== next ||
      !(scale! > 0)
    )
      fail(
        `key directory segment ${k} is [${lo}, scale ${scale}, base ${base}, top ${top}], next base ${next}`,
      );
  }
  const bucket = (x: number) => directoryBucket(seg, keys.segs, x);
  const dirTop = t.count - 1;
  // firstIn[b]: rank of the first entry whose running max reaches bucket b.
  const firstIn: number[] = [];
  let pm = -1;
  let hiRank = -1;
  for (let k = 0; k < cursors.length; k++) {
    pm = Math.max(pm, t.lLast[cursors[k]!]!);
    if (pm === hi && hiRank < 0) hiRank = k;
    while (firstIn.length <= bucket(pm)) firstIn.push(k);
  }
  for (let b = 0; b <= dirTop; b++) {
    const got = keys.buckets[b]!;
    if (b >= firstIn.length) {
      if (got !== NIL) fail(`key directory bucket ${b} is past the greatest last but holds cursor ${got}`);
      continue;
    }
    const scan = (b + 1 < firstIn.length ? firstIn[b + 1]! : hiRank) - firstIn[b]!;
    if (got === NIL) {
      if (scan <= DIR_MAX_SCAN)
        fail(`key directory bucket ${b} is NIL, but its scan passes only ${scan} entries`);
    } else if (got !== cursors[firstIn[b]!] || scan > DIR_MAX_SCAN) {
      fail(`key directory bucket ${b} holds cursor ${got}, expected ${cursors[firstIn[b]!]} (scan ${scan})`);
    }
  }
  const wide = cursors.filter((j) => keys.buckets[bucket(t.lStart[j]!)] === NIL).length;
  if (wide * 4 > t.count) fail(`${wide} of ${t.count} entries start in NIL key directory buckets`);
}
