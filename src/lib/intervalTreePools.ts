// The memory of IntervalTree (intervalTree.ts): the node layout, the pools every node lives in, how
// they grow, and the compaction that hands memory back. The structure over these nodes (split,
// borrow, merge, the augmentation) is in intervalTreeNodes.ts, which extends this class.
//
// Layout. Every interval is an entry with a never-reused sequence number (its identity) and a value.
// Entries sit in leaves of up to LEAF_CAP, sorted by (start, seq), in parallel arrays (start, last,
// seq: typed; value: a plain array). A leaf's entries are at [leaf * LEAF_CAP, leaf * LEAF_CAP +
// count): that flat index is a cursor. Inner nodes hold up to INNER_CAP children with, per child,
// the least start and the seq of the entry holding it, the greatest last (the kernel's subtree-last)
// and the prefix maximum of those.
//
// Pools grow on demand (2x while small, then 1.25x) and are compacted into smaller ones once three
// quarters of the leaf pool is unused. Node sizes and growth rates are chosen by measurement: see
// docs/performance.md.

import { MmunError } from "./errno.js";
import type { KeyDirectory, KeyDirectoryView } from "./keyDirectory.js";
import { smallBuffers } from "./slab.js";

/** No node, no cursor. */
const NIL = -1;
/** KeyDirectory.cursor(): no entry ends at or after the query's start (the answer is empty). */
const NONE = -2;
/** A leaf holds 2^LEAF_BITS entries at most. */
const LEAF_BITS = 5;
const LEAF_CAP = 1 << LEAF_BITS;
/** A non-root leaf below this many entries borrows from or merges with a sibling. */
const LEAF_MIN = LEAF_CAP / 4;
/** Children of an inner node at most. */
const INNER_CAP = 64;
const INNER_MIN = INNER_CAP / 4;
/**
 * @internal The node layout and the cursor sentinels. A module takes the ones it uses into local
 * consts (`const { LEAF_CAP, NIL } = NODE_LAYOUT;`): optimized code reads a module's own const
 * cheaply, but loads an imported binding through its module cell at every use, and the hot loops
 * use these at every step ("Module constants" in docs/performance.md).
 */
export const NODE_LAYOUT = { NIL, NONE, LEAF_BITS, LEAF_CAP, LEAF_MIN, INNER_CAP, INNER_MIN } as const;
/** Leaves allocated up front (an empty tree takes about 4 KB of pools; they grow on demand). */
const INITIAL_LEAVES = 2;
/** The first leaf pools' layout in their slab space: three f64 pools, then four i32 pools. */
const F64_POOL = INITIAL_LEAVES * LEAF_CAP * 8;
const I32_AT = 3 * F64_POOL;
const FIRST_POOLS_BYTES = I32_AT + 4 * 4 * INITIAL_LEAVES;

/** The `i`th f64 first pool of a tree whose first pools start at `at` in the slab's current buffer. */
function firstF64(at: number, i: number): Float64Array {
  return new Float64Array(smallBuffers.buffer, at + i * F64_POOL, INITIAL_LEAVES * LEAF_CAP);
}

/** The `i`th i32 first pool (after the f64 ones) of a tree whose first pools start at `at`. */
function firstI32(at: number, i: number): Int32Array {
  return new Int32Array(smallBuffers.buffer, at + I32_AT + i * 4 * INITIAL_LEAVES, INITIAL_LEAVES);
}

/** The inner pools of a tree that has no inner node yet (never written: allocInner replaces them). */
const NO_F64 = new Float64Array(0);
const NO_I32 = new Int32Array(0);
/** Leaf capacity below which the pools are never compacted (64 leaves hold up to 2048 entries). */
const SHRINK_FLOOR = 64;
/** Cursors are flat leaf indices and must stay int32. */
const MAX_LEAVES = 2 ** 31 / LEAF_CAP;

/**
 * Next capacity of the leaf and entry pools: double while small (slower growth weighs on building a
 * small tree), then 1.25x from `large` on, so at most a fifth of a large pool is slack ("Memory" in
 * docs/performance.md).
 */
function grown(cap: number, large: number): number {
  return cap < large ? cap * 2 : cap + (cap >> 2);
}

function growF64(a: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a);
  return b;
}

/** @internal A copy of `a` at `length`, its new elements set to `fill`. */
export function growI32(a: Int32Array, length: number, fill = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/**
 * @internal What checkIntervalTree and intervalTreeShape read of a tree: its pools, its shape and its
 * key directory. IntervalTree has these as fields; the checker takes the tree as this type.
 */
export interface IntervalTreeView<T> {
  readonly lStart: Float64Array;
  readonly lLast: Float64Array;
  readonly lSeq: Float64Array;
  readonly lVal: readonly (T | undefined)[];
  readonly lCount: Int32Array;
  readonly lParent: Int32Array;
  readonly lPos: Int32Array;
  readonly lNext: Int32Array;
  readonly leafUsed: number;
  readonly leafFree: readonly number[];
  readonly iMin: Float64Array;
  readonly iMinSeq: Float64Array;
  readonly iMax: Float64Array;
  readonly iPm: Float64Array;
  readonly iChild: Int32Array;
  readonly iCount: Int32Array;
  readonly iParent: Int32Array;
  readonly iPos: Int32Array;
  readonly iHeight: Int32Array;
  readonly innerUsed: number;
  readonly innerFree: readonly number[];
  readonly root: number;
  readonly height: number;
  readonly count: number;
  readonly nextSeq: number;
  readonly version: number;
  readonly keys: KeyDirectoryView;
}

/**
 * The pools of an IntervalTree, the base of its class chain (IntervalTree extends IntervalTreeNodes
 * extends this): one object, so the hot paths read the pools as fields of the tree. Every member is
 * internal.
 */
export abstract class IntervalTreePools<T> {
  /** Where the first leaf pools start in the shared slab (see below). */
  private readonly firstAt = smallBuffers.carve(FIRST_POOLS_BYTES);
  // Leaves: entry fields at leaf * LEAF_CAP + i, node fields at leaf. The first pools are views on
  // space carved from a shared slab (slab.ts: an empty tree makes no ArrayBuffer of its own; a tree is
  // made per address space, and the explorer makes a fresh machine per execution); growth gives each
  // pool a buffer of its own.
  /** @internal */
  lStart: Float64Array = firstF64(this.firstAt, 0);
  /** @internal */
  lLast: Float64Array = firstF64(this.firstAt, 1);
  /** @internal */
  lSeq: Float64Array = firstF64(this.firstAt, 2);
  /**
   * @internal Values by cursor; slots past a leaf's count hold undefined (or were never written). The
   * array is never resized by hand: writes just past its end let V8 grow it natively, which is cheaper
   * than growing it with the typed pools (a new leaf's slots are at most 2 * LEAF_CAP past the end, far
   * below the gap at which V8 would switch the array to dictionary mode).
   */
  lVal: (T | undefined)[] = [];
  /** @internal */
  lCount: Int32Array = firstI32(this.firstAt, 0);
  /** @internal */
  lParent: Int32Array = firstI32(this.firstAt, 1).fill(NIL);
  /** @internal Index of the leaf among its parent's children. */
  lPos: Int32Array = firstI32(this.firstAt, 2);
  /** @internal Next leaf in order, or NIL. */
  lNext: Int32Array = firstI32(this.firstAt, 3).fill(NIL);
  /** @internal */
  leafUsed = 0;
  /** @internal */
  leafFree: number[] = [];

  // Inner nodes: child fields at node * INNER_CAP + c, node fields at node.
  // Empty until the root first splits: most trees of a small world never need an inner node.
  /** @internal */
  iMin: Float64Array = NO_F64;
  /** @internal Seq of the entry holding the child's least start (the first entry of its subtree). */
  iMinSeq: Float64Array = NO_F64;
  /** @internal */
  iMax: Float64Array = NO_F64;
  /** @internal */
  iPm: Float64Array = NO_F64;
  /** @internal */
  iChild: Int32Array = NO_I32;
  /** @internal */
  iCount: Int32Array = NO_I32;
  /** @internal */
  iParent: Int32Array = NO_I32;
  /** @internal */
  iPos: Int32Array = NO_I32;
  /** @internal 1 when the children are leaves, else one more than the children's height. */
  iHeight: Int32Array = NO_I32;
  /** @internal */
  innerUsed = 0;
  /** @internal */
  innerFree: number[] = [];

  /** @internal 0 while the root is a leaf. */
  height = 0;
  /** @internal */
  count = 0;
  /** @internal */
  nextSeq = 0;
  /** @internal Bumped by every insert and remove. */
  version = 0;
  /** @internal Set by the tree's constructor. */
  declare root: number;
  /** @internal Told of every change to the entries and the leaves; set by the tree's constructor. */
  declare keys: KeyDirectory;

  // ---- pools ----

  /** @internal */
  allocLeaf(): number {
    const leaf = this.leafFree.pop();
    if (leaf !== undefined) return leaf;
    if (this.leafUsed === this.lCount.length) {
      const cap = Math.min(MAX_LEAVES, grown(this.lCount.length, 1024));
      if (this.leafUsed === MAX_LEAVES)
        throw new MmunError("ENOMEM", `IntervalTree cannot grow past ${this.leafUsed} leaves`);
      this.lStart = growF64(this.lStart, cap * LEAF_CAP);
      this.lLast = growF64(this.lLast, cap * LEAF_CAP);
      this.lSeq = growF64(this.lSeq, cap * LEAF_CAP);
      this.lCount = growI32(this.lCount, cap);
      this.lParent = growI32(this.lParent, cap, NIL);
      this.lPos = growI32(this.lPos, cap);
      this.lNext = growI32(this.lNext, cap, NIL);
      this.keys.onLeavesGrown(cap);
    }
    return this.leafUsed++;
  }

  /** @internal */
  freeLeaf(leaf: number): void {
    this.lCount[leaf] = 0;
    this.lParent[leaf] = NIL;
    this.lNext[leaf] = NIL;
    if (!this.keys.onLeafFree(leaf)) this.leafFree.push(leaf);
  }

  /** @internal */
  allocInner(): number {
    const n = this.innerFree.pop();
    if (n !== undefined) return n;
    if (this.innerUsed === this.iCount.length) {
      const cap = Math.max(1, this.iCount.length * 2);
      this.iMin = growF64(this.iMin, cap * INNER_CAP);
      this.iMinSeq = growF64(this.iMinSeq, cap * INNER_CAP);
      this.iMax = growF64(this.iMax, cap * INNER_CAP);
      this.iPm = growF64(this.iPm, cap * INNER_CAP);
      this.iChild = growI32(this.iChild, cap * INNER_CAP);
      this.iCount = growI32(this.iCount, cap);
      this.iParent = growI32(this.iParent, cap, NIL);
      this.iPos = growI32(this.iPos, cap);
      this.iHeight = growI32(this.iHeight, cap);
    }
    return this.innerUsed++;
  }

  /** @internal */
  freeInner(n: number): void {
    this.iCount[n] = 0;
    this.iParent[n] = NIL;
    this.innerFree.push(n);
  }

  /**
   * @internal Hands memory back once three quarters of the leaf pool is unused (amortized O(1): the
   * tree must shrink by a factor of about 2.7 between two compactions). Called after a removal.
   */
  shrinkIfSparse(): void {
    const cap = this.lCount.length;
    if (cap >= SHRINK_FLOOR && (this.leafUsed - this.leafFree.length) * 4 <= cap) this.compact();
  }

  /**
   * Moves every node into fresh pools sized for the nodes in use (half again as many, for room), leaves
   * numbered in key order, inner nodes breadth first. O(n). Shapes and keys do not change, cursors do:
   * handle hints go stale and handles fall back to the search by (start, seq).
   */
  private compact(): void {
    this.keys.onCompact(); // before counting: leaves it withholds become free, to be renumbered
    const oldLeafCount = this.lCount;
    const liveLeaves = this.leafUsed - this.leafFree.length;
    const liveInner = this.innerUsed - this.innerFree.length;
    const leafCap = Math.max(INITIAL_LEAVES, liveLeaves + (liveLeaves >> 1) + 1);
    const innerCap = Math.max(1, liveInner + (liveInner >> 1) + 1);
    // New numbers: leaves along the next-leaf chain (leaf 0 stays first), inner nodes breadth first.
    const leafMap = new Int32Array(this.leafUsed).fill(NIL);
    let k = 0;
    for (let n = 0; n !== NIL; n = this.lNext[n]!) leafMap[n] = k++;
    const innerMap = new Int32Array(this.innerUsed).fill(NIL);
    const order: number[] = [];
    if (this.height > 0) {
      order.push(this.root);
      for (let q = 0; q < order.length; q++) {
        const n = order[q]!;
        innerMap[n] = q;
        if (this.iHeight[n]! > 1) {
          for (let c = n * INNER_CAP, end = c + this.iCount[n]!; c < end; c++) order.push(this.iChild[c]!);
        }
      }
    }
    if (k !== liveLeaves || order.length !== liveInner) {
      throw new Error(`IntervalTree.compact: ${k} leaves and ${order.length} inner nodes linked`);
    }
    const lStart = new Float64Array(leafCap * LEAF_CAP);
    const lLast = new Float64Array(leafCap * LEAF_CAP);
    const lSeq = new Float64Array(leafCap * LEAF_CAP);
    const lVal: (T | undefined)[] = [];
    const lCount = new Int32Array(leafCap);
    const lParent = new Int32Array(leafCap).fill(NIL);
    const lPos = new Int32Array(leafCap);
    const lNext = new Int32Array(leafCap).fill(NIL);
    for (let n = 0, m = 0; n !== NIL; n = this.lNext[n]!, m++) {
      const from = n * LEAF_CAP;
      const to = m * LEAF_CAP;
      const cnt = oldLeafCount[n]!;
      lStart.set(this.lStart.subarray(from, from + cnt), to);
      lLast.set(this.lLast.subarray(from, from + cnt), to);
      lSeq.set(this.lSeq.subarray(from, from + cnt), to);
      for (let j = 0; j < cnt; j++) lVal[to + j] = this.lVal[from + j];
      lCount[m] = cnt;
      const p = this.lParent[n]!;
      lParent[m] = p === NIL ? NIL : innerMap[p]!;
      lPos[m] = this.lPos[n]!;
      lNext[m] = this.lNext[n] === NIL ? NIL : m + 1; // leaves are renumbered along this chain
    }
    const iMin = new Float64Array(innerCap * INNER_CAP);
    const iMinSeq = new Float64Array(innerCap * INNER_CAP);
    const iMax = new Float64Array(innerCap * INNER_CAP);
    const iPm = new Float64Array(innerCap * INNER_CAP);
    const iChild = new Int32Array(innerCap * INNER_CAP);
    const iCount = new Int32Array(innerCap);
    const iParent = new Int32Array(innerCap).fill(NIL);
    const iPos = new Int32Array(innerCap);
    const iHeight = new Int32Array(innerCap);
    for (let m = 0; m < order.length; m++) {
      const n = order[m]!;
      const from = n * INNER_CAP;
      const to = m * INNER_CAP;
      const cnt = this.iCount[n]!;
      iMin.set(this.iMin.subarray(from, from + cnt), to);
      iMinSeq.set(this.iMinSeq.subarray(from, from + cnt), to);
      iMax.set(this.iMax.subarray(from, from + cnt), to);
      iPm.set(this.iPm.subarray(from, from + cnt), to);
      const map = this.iHeight[n] === 1 ? leafMap : innerMap;
      for (let c = 0; c < cnt; c++) iChild[to + c] = map[this.iChild[from + c]!]!;
      iCount[m] = cnt;
      const p = this.iParent[n]!;
      iParent[m] = p === NIL ? NIL : innerMap[p]!;
      iPos[m] = this.iPos[n]!;
      iHeight[m] = this.iHeight[n]!;
    }
    this.root = this.height === 0 ? leafMap[this.root]! : innerMap[this.root]!;
    this.lStart = lStart;
    this.lLast = lLast;
    this.lSeq = lSeq;
    this.lVal = lVal;
    this.lCount = lCount;
    this.lParent = lParent;
    this.lPos = lPos;
    this.lNext = lNext;
    this.leafUsed = liveLeaves;
    this.leafFree = [];
    this.iMin = iMin;
    this.iMinSeq = iMinSeq;
    this.iMax = iMax;
    this.iPm = iPm;
    this.iChild = iChild;
    this.iCount = iCount;
    this.iParent = iParent;
    this.iPos = iPos;
    this.iHeight = iHeight;
    this.innerUsed = liveInner;
    this.innerFree = [];
  }
}
