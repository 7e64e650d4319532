// Follows include/linux/interval_tree_generic.h (iter_first, iter_next, subtree-last pruning), on an
// augmented B+ tree with wide nodes where the kernel uses an augmented red-black tree.
//
// Why not the kernel's red-black tree: a query walks about log2(n) nodes one dependent load at a time.
// In cache each hop is a mispredicted branch; beyond cache each is a miss. The kernel's layout is kept
// in rbIntervalTree.ts; `npm run bench -- itree` measures both in the same run, and the wide nodes win
// 1.5-3x on queries. See docs/architecture.md.
//
// Layout. Every interval is an entry with a never-reused sequence number (its identity) and a value.
// Entries sit in leaves of up to LEAF_CAP, sorted by (start, seq), in parallel arrays (start, last,
// seq: typed; value: a plain array), so everything a query returns is in the leaves it walks. There
// is no per-entry table: a handle finds its entry by the cursor it remembers, else by (start, seq).
// Inner nodes hold up to INNER_CAP children with, per child, the least start and the seq of the entry
// holding it, the greatest last (the kernel's subtree-last) and the prefix maximum of those. All nodes
// live in pools; a leaf's entries are at [leaf * LEAF_CAP, leaf * LEAF_CAP + count), and that flat
// index is the cursor of the internal API. Pools grow on demand and are compacted into smaller ones
// once three quarters of the leaf pool is unused.
//
// The augmentations: subtree-last prunes subtrees that end before a query, as in the kernel, and in
// an inner node the prefix maximum, which never decreases along the node, finds the first child
// ending at or after a point by a branch-free search (in quarters). Inside a leaf a forward scan does the
// same job as fast. Non-root nodes stay at least a quarter full (borrow or merge on removal); leaf 0
// is created first, is never freed, and is always the leftmost leaf.
//
// The key directory. A tree that answers many queries without changing builds, once, an index on the
// keys themselves: one bucket per entry, each holding the cursor of the first entry (in order) whose
// running maximum of lasts reaches the bucket. A query computes its bucket by arithmetic and scans
// forward from that cursor, instead of descending from the root. Keys map to buckets linearly inside
// segments: the keys split at gaps DIR_GAP times wider than the mean gap between starts (at most
// DIR_SEGMENTS segments; an address space's text, heap, libraries and stack, or a far outlier), each
// with buckets in proportion to its entries. It is built after (size / 2 + 16) queries answered
// without it (O(n), 7-35 ns per entry). Buckets whose scan could pass more than DIR_MAX_SCAN entries
// (keys that still cluster) hold NIL and descend; when a quarter of the entries start in such buckets,
// the directory is declined until the next change.
//
// Kept through changes. Until the next insert or remove the directory is exact; after, it is kept:
// a query scans from the first entry of the leaf the bucket's cursor lies in, once that leaf changed,
// which is safe as long as every entry before it ends before the bucket's least key. An insert keeps
// that true by pointing at its leaf the buckets its interval reaches whose queries scan from a later
// leaf (a walk down from the bucket of its last; one reaching back over more than KEPT_MAX_WALK
// buckets drops the directory). A leaf that moves entries into its left sibling (merge, or a borrow
// by the left one) redirects its buckets there, and a freed leaf is not reused while a bucket may
// name it. A bucket whose query passed more than KEPT_MAX_SCAN entries ending before its start
// descends from then on. After KEPT_BUDGET * size changes a kept directory that served as many
// queries as its build waited for is rebuilt by the next query; one that did not is dropped, and the
// next build waits twice as long (up to 16x), so a tree that changes much more than it is queried
// soon stops paying for builds and upkeep. A kept directory that answers as many queries in a row
// as a build waits for is rebuilt, exact again; that wait doubles (up to 16x) after each build that
// a change followed within fewer queries, so runs of queries just that long between changes do not
// pay a build each. See "Kept through changes" under the key directory in docs/architecture.md.

import { MmunError } from "./errno.js";

const NIL = -1;
/** directoryCursor(): no entry ends at or after the query's start. */
const NONE = -2;
/** Cursors locate() tries before searching the leaf: a handle's hint and the PROBES - 1 below it. */
const PROBES = 4;
// 32-entry leaves beat 64 on insert and remove (half the entries to shift) and tie on queries at
// 10^4..10^6 intervals (`npm run bench -- itree`); inner nodes stay at 64 to keep the tree shallow.
const LEAF_BITS = 5;
const LEAF_CAP = 1 << LEAF_BITS;
/** A non-root leaf below this many entries borrows from or merges with a sibling. */
const LEAF_MIN = LEAF_CAP / 4;
/** Two leaves merge when together they hold at most this many entries, else they share evenly. */
const LEAF_MERGE = (LEAF_CAP * 3) / 4;
const INNER_CAP = 64;
const INNER_MIN = INNER_CAP / 4;
const INNER_MERGE = (INNER_CAP * 3) / 4;
/** Leaves allocated up front (an empty tree takes about 4 KB of pools; they grow on demand). */
const INITIAL_LEAVES = 2;
/** Seqs below this are small integers (V8 Smis) even with pointer compression. */
const SMALL_SEQ = 2 ** 30;
/** Leaf capacity below which the pools are never compacted (64 leaves hold up to 2048 entries). */
const SHRINK_FLOOR = 64;
/** Cursors are flat leaf indices and must stay int32. */
const MAX_LEAVES = 2 ** 31 / LEAF_CAP;
/** A directory bucket whose forward scan could pass more entries than this holds NIL (descend). */
const DIR_MAX_SCAN = 48;
/** Quiet queries (no insert or remove in between) that build the directory: size / 2^DIR_QUIET_SHIFT + DIR_QUIET_MIN. */
const DIR_QUIET_SHIFT = 1;
const DIR_QUIET_MIN = 16;
/** The wait doubles at most this many times (16x) while builds are wasted by changes. */
const DIR_BACKOFF_MAX = 4;
/** Segments the directory splits keys into at most, at gaps DIR_GAP times the mean gap between starts. */
const DIR_SEGMENTS = 8;
const DIR_GAP = 64;
const NO_DIR = new Int32Array(0);
/** A kept directory is rebuilt (or dropped) after KEPT_BUDGET * size + KEPT_SLACK changes. */
const KEPT_BUDGET = 4;
const KEPT_SLACK = 64;
/** An insert whose interval reaches back over more buckets than this drops a kept directory. */
const KEPT_MAX_WALK = 64;
/** A query through a kept directory passing more entries than this that end before its start NILs its bucket. */
const KEPT_MAX_SCAN = 2 * LEAF_CAP + DIR_MAX_SCAN;
const NO_FLAGS = new Uint8Array(0);
/** A directory segment: least key, buckets per key, first bucket, last bucket less the first. */
const SEG_FIELDS = 4;
const NO_SEGMENTS = new Float64Array(0);
/**
 * search() gathers result cursors here before it makes the array of values: one scratch for every
 * tree (search calls no user code, so nothing can re-enter it), spilled when a leaf might not fit.
 */
const HITS_CAP = 256;
const HITS = new Int32Array(HITS_CAP);

/**
 * A handle on one stored interval. Node identity is the stored entry, not the object: the tree keeps no
 * handle, and every call that returns a node (insert, iteration, first) may return a fresh object for
 * the same node. Compare handles with sameAs(). A handle stays readable after its node is removed.
 * Finding a node from a handle (remove, iterNext) is O(1) while the entry has not moved since the
 * handle was made, else O(log n).
 */
export class IntervalTreeNode<T> {
  // Fields are `declare`d and set in the constructor: a class-field definition would first define each
  // as undefined, which costs more than the rest of a handle's creation on the query path.
  /** First key of the closed interval. */
  declare readonly start: number;
  /** Last key of the closed interval (inclusive). */
  declare readonly last: number;
  /** The value stored with the interval. */
  declare readonly value: T;
  /** @internal The tree the node was inserted into. */
  declare readonly tree: IntervalTree<T>;
  /** @internal The node's insertion sequence number: its identity in the tree (never reused). */
  declare readonly seq: number;
  /**
   * @internal Where the entry was when this handle was made (a cursor). Only a hint: entries move on
   * insert and remove. While it still holds, finding the node is O(1), as following a pointer is in
   * the kernel (iterNext, remove); otherwise the tree searches that leaf, then descends.
   */
  declare readonly hint: number;

  /** @internal Handles are made by IntervalTree only. */
  constructor(tree: IntervalTree<T>, seq: number, start: number, last: number, value: T, hint: number) {
    this.start = start;
    this.last = last;
    this.value = value;
    this.tree = tree;
    this.seq = seq;
    this.hint = hint;
  }

  /** Whether `other` designates the same node of the same tree as this handle. */
  sameAs(other: IntervalTreeNode<T>): boolean {
    return other.tree === this.tree && other.seq === this.seq;
  }
}

/**
 * Marks handles, on their prototype: `isHandle` is a property load that optimized code inlines, where
 * `instanceof` on the module's class binding stayed a builtin call costing as much as the rest of
 * remove()'s own work (measured with perf).
 */
const BRAND = Symbol("IntervalTreeNode");
(IntervalTreeNode.prototype as unknown as Record<symbol, boolean>)[BRAND] = true;

function isHandle(x: unknown): x is IntervalTreeNode<unknown> {
  return x != null && (x as Record<symbol, unknown>)[BRAND] === true;
}

function show(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** @internal Whether `v` is a valid key: a non-negative safe integer. */
export function isKey(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function describeNode(node: unknown): string {
  return node instanceof IntervalTreeNode
    ? `node [${node.start}, ${node.last}] (seq ${node.seq})`
    : show(node);
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

// Searches over a sorted a[base, base + n), in quarters: each step loads three keys that do not
// depend on each other and adds up the comparisons, so V8 emits no data-dependent branch (about 2x
// faster than a branchy binary search on random keys, measured in V8 12), and a search over 64
// children waits on 3 loads in a row instead of 6. Stabs at 10^4: 157 -> 126 ns; at 10^5: 225 -> 175
// ns (measured against the 2-way form). At most 3 keys remain for a short scan.

/** @internal First index i in [base, base + n) with a[i] >= x, or base + n. */
export function lowerBound(a: Float64Array, base: number, n: number, x: number): number {
  while (n > 3) {
    const q = n >>> 2;
    base += q * (+(a[base + q - 1]! < x) + +(a[base + 2 * q - 1]! < x) + +(a[base + 3 * q - 1]! < x));
    n -= 3 * q;
  }
  while (n > 0 && a[base]! < x) {
    base++;
    n--;
  }
  return base;
}

/** First index i in [base, base + n) with a[i] > x, or base + n. */
function upperBound(a: Float64Array, base: number, n: number, x: number): number {
  while (n > 3) {
    const q = n >>> 2;
    base += q * (+(a[base + q - 1]! <= x) + +(a[base + 2 * q - 1]! <= x) + +(a[base + 3 * q - 1]! <= x));
    n -= 3 * q;
  }
  while (n > 0 && a[base]! <= x) {
    base++;
    n--;
  }
  return base;
}

/**
 * Next capacity of the leaf and entry pools: double while small (growth is a third of the cost of
 * building a small tree otherwise), then 1.25x from `large` on, so at most a fifth of a large pool
 * is slack (with doubling, a tree of 10^6 intervals carried 46% unused leaves, ~18 B per interval).
 */
function grown(cap: number, large: number): number {
  return cap < large ? cap * 2 : cap + (cap >> 2);
}

/** pm[j] = max(v[base..j]) for j in [from, end), given pm[base..from) is already right. */
function prefixMax(v: Float64Array, pm: Float64Array, base: number, from: number, end: number): void {
  let m = from > base ? pm[from - 1]! : -1;
  for (let j = from; j < end; j++) {
    const x = v[j]!;
    if (x > m) m = x;
    pm[j] = m;
  }
}

/**
 * The key directory's bucket of key x: its segment (the last whose least key is <= x, else the
 * first), then a linear map inside the segment, clamped to the segment's buckets. Monotonic in x.
 * Queries, the build and checkIntervalTree all call this one function.
 */
function directoryBucket(seg: Float64Array, segs: number, x: number): number {
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

/** Queries in a row without a change that build the key directory of a tree of `size`. */
function directoryWait(size: number, backoff: number): number {
  return ((size >> DIR_QUIET_SHIFT) + DIR_QUIET_MIN) << backoff;
}

function growF64(a: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a);
  return b;
}

function growI32(a: Int32Array, length: number, fill = 0): Int32Array<ArrayBuffer> {
  const b = new Int32Array(length);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/**
 * An interval tree (the contract of kernel interval_tree_generic.h): closed intervals `[start, last]`
 * of non-negative safe integers, each with a value. Duplicates are allowed; the order is ascending
 * start, then insertion order among equal starts. Insert and remove are O(log n); a query visiting k
 * nodes is O(log n + k).
 *
 * Invalid keys (negative, fractional, NaN, infinite, above 2^53-1, start > last) throw
 * `MmunError("EINVAL")` and change nothing. Mutating the tree while an iterator from overlapping() or
 * [Symbol.iterator] is live makes that iterator throw EINVAL on its next step.
 */
export class IntervalTree<T> {
  // Leaves: entry fields at leaf * LEAF_CAP + i, node fields at leaf.
  private lStart = new Float64Array(INITIAL_LEAVES * LEAF_CAP);
  private lLast = new Float64Array(INITIAL_LEAVES * LEAF_CAP);
  private lSeq = new Float64Array(INITIAL_LEAVES * LEAF_CAP);
  /**
   * Values by cursor; slots past a leaf's count hold undefined (or were never written). The array is
   * never resized by hand: writes just past its end let V8 grow it natively, which measured ~60 ns per
   * insert cheaper than growing it with the typed pools (a new leaf's slots are at most 2 * LEAF_CAP past the
   * end, far below the gap at which V8 would switch the array to dictionary mode).
   */
  private lVal: (T | undefined)[] = [];
  private lCount = new Int32Array(INITIAL_LEAVES);
  private lParent = new Int32Array(INITIAL_LEAVES).fill(NIL);
  /** Index of the leaf among its parent's children. */
  private lPos = new Int32Array(INITIAL_LEAVES);
  /** Next leaf in order, or NIL. */
  private lNext = new Int32Array(INITIAL_LEAVES).fill(NIL);
  private leafUsed = 0;
  private leafFree: number[] = [];

  // Inner nodes: child fields at node * INNER_CAP + c, node fields at node.
  private iMin = new Float64Array(INNER_CAP);
  /** Seq of the entry holding the child's least start (the first entry of its subtree). */
  private iMinSeq = new Float64Array(INNER_CAP);
  private iMax = new Float64Array(INNER_CAP);
  private iPm = new Float64Array(INNER_CAP);
  private iChild = new Int32Array(INNER_CAP);
  private iCount = new Int32Array(1);
  private iParent = new Int32Array(1).fill(NIL);
  private iPos = new Int32Array(1);
  /** 1 when the children are leaves, else one more than the children's height. */
  private iHeight = new Int32Array(1);
  private innerUsed = 0;
  private innerFree: number[] = [];

  private root: number;
  /** 0 while the root is a leaf. */
  private height = 0;
  private count = 0;
  private nextSeq = 0;
  private version = 0;

  // The key directory (see the top of the file): exact while dirVersion === version, kept (safe, less
  // precise) through changes while dirKept.
  /** Per bucket, the cursor to scan from, or NIL to descend. */
  private dir = NO_DIR;
  private dirVersion = -2;
  private dirKept = false;
  /** Segments of keys, SEG_FIELDS each (see directoryBucket), and how many. */
  private dirSeg = NO_SEGMENTS;
  private dirSegs = 0;
  /** At least the greatest last: no query starting after it intersects anything. */
  private dirHi = 0;
  /** Per leaf, while kept: 1 once the leaf changed (a query scans it from its first entry). */
  private keptChanged = NO_FLAGS;
  /** Per leaf, while kept: the leaf whose first entry a query from this one scans from, or NIL. */
  private keptRedirect = NO_DIR;
  /** Leaves freed while kept: a bucket may still name them, so they are not reused before a build. */
  private keptLimbo: number[] = [];
  /** Inserts and removes since the build; past the budget, the directory is due or dropped. */
  private keptUpdates = 0;
  /** Kept past its budget after serving its queries: the next query rebuilds it. */
  private dirDue = false;
  /** Queries answered through the directory since its build. */
  private served = 0;
  /** Queries answered without a directory since it was dropped or declined, changes or not. */
  private asked = 0;
  /** The bucket of the last query answered through a kept directory. */
  private dirBucket = 0;
  /** The version at which the build was declined (no build before the next change). */
  private declinedVersion = -1;
  /** Queries answered since the tree last changed (at version quietVersion). */
  private quietVersion = -1;
  private quiet = 0;
  /** Builds wait (size / 2 + 16) << dirBackoff queries; dirWait is what the last build waited. */
  private dirBackoff = 0;
  /** A kept directory is rebuilt after (size / 2 + 16) << quietBackoff queries in a row. */
  private quietBackoff = 0;
  private dirWait = 0;

  constructor() {
    this.root = this.allocLeaf(); // leaf 0: the leftmost leaf for the tree's whole life
  }

  /** Number of stored intervals. */
  get size(): number {
    return this.count;
  }

  /**
   * Stores `[start, last]` with `value` and returns a handle to it. An interval equal to stored ones
   * sorts after them. Throws EINVAL (changing nothing) for invalid keys. O(log n). Pairs with remove().
   */
  insert(start: number, last: number, value: T): IntervalTreeNode<T> {
    checkInterval("IntervalTree.insert", start, last);
    if (this.dirVersion === this.version) this.endExact();
    const seq = this.nextSeq++;
    // Descend to the last child whose least start is <= start (equal starts go after the ones
    // stored), widening each child's subtree-last and prefix maxima on the way, as the kernel does.
    let n = this.root;
    const iMin = this.iMin;
    const iMax = this.iMax;
    const iPm = this.iPm;
    for (let h = this.height; h > 0; h--) {
      const b = n * INNER_CAP;
      const cnt = this.iCount[n]!;
      let c = upperBound(iMin, b, cnt, start) - 1;
      if (c < b) {
        c = b;
        iMin[b] = start;
        this.iMinSeq[b] = seq;
      }
      if (iMax[c]! < last) {
        iMax[c] = last;
        for (let k = c, end = b + cnt; k < end && iPm[k]! < last; k++) iPm[k] = last;
      }
      n = this.iChild[c]!;
    }
    const at = this.leafInsert(n, start, last, seq, value);
    this.count++;
    this.version++;
    if (this.dirKept) this.keepInsert(at, start, last);
    return new IntervalTreeNode(this, seq, start, last, value, at);
  }

  /**
   * Removes the node `node` designates (any handle for it: from insert, iteration or first()).
   * Throws EINVAL, changing nothing, when it is not a node of this tree (removed already, or from
   * another tree). O(log n); finding the node is O(1) while it has not moved since the handle was made.
   */
  remove(node: IntervalTreeNode<T>): void {
    const at = this.locate(node);
    if (at === NIL) {
      throw new MmunError("EINVAL", `IntervalTree.remove: ${describeNode(node)} is not in this tree`);
    }
    this.eraseAt(at);
    // Pools hand memory back once three quarters of their leaves are unused (amortized O(1): the
    // tree must shrink by a factor of about 2.7 between two compactions).
    const cap = this.lCount.length;
    if (cap >= SHRINK_FLOOR && (this.leafUsed - this.leafFree.length) * 4 <= cap) this.compact();
  }

  private eraseAt(at: number): void {
    const leaf = at >> LEAF_BITS;
    if (this.dirVersion === this.version) this.endExact();
    if (this.dirKept && this.keptChange()) this.keptChanged[leaf] = 1;
    const gone = this.lLast[at]!;
    const front = at === leaf * LEAF_CAP;
    const cnt = this.leafErase(leaf, at);
    this.count--;
    this.version++;
    if (this.height === 0) return;
    if (cnt < LEAF_MIN) this.rebalanceLeaf(leaf);
    // The parent's record (least start, subtree-last) changes only if the first entry left or one
    // ending at the recorded subtree-last did.
    else if (front || gone === this.iMax[this.lParent[leaf]! * INNER_CAP + this.lPos[leaf]!])
      this.fixUp(leaf, true);
  }

  // Kept directory upkeep for an insert that landed at cursor `at`. Invariant: every entry before the
  // place a bucket's queries scan from ends before the bucket's least key. The new entry breaks it for
  // the buckets its interval reaches whose queries scan from a later leaf: they now scan from its leaf.
  // Those buckets are the ones from bucket(last) down to the first one scanning from its leaf or
  // earlier (where queries scan from only moves along the leaf order as buckets do).
  private keepInsert(at: number, start: number, last: number): void {
    if (!this.keptChange()) return;
    const leaf = at >> LEAF_BITS;
    this.keptChanged[leaf] = 1;
    if (last > this.dirHi) this.dirHi = last;
    const dir = this.dir;
    const lStart = this.lStart;
    let steps = 0;
    for (let b = directoryBucket(this.dirSeg, this.dirSegs, last); b >= 0; b--) {
      if (++steps > KEPT_MAX_WALK) {
        this.dropDirectory();
        return;
      }
      const c = dir[b]!;
      if (c === NIL) continue;
      const from = this.keptLeaf(c >> LEAF_BITS);
      // A leaf after the new entry's starts after it (equal starts sort the new entry last).
      if (lStart[from * LEAF_CAP]! <= start) return;
      dir[b] = leaf * LEAF_CAP;
    }
  }

  // Counts a change to a kept directory: false when that dropped it (its budget ran out before it
  // served the queries its build waited for; the next build then waits twice as long). One that
  // served them is rebuilt by the next query.
  private keptChange(): boolean {
    if (++this.keptUpdates <= KEPT_BUDGET * this.count + KEPT_SLACK) return true;
    if (this.served >= this.dirWait) {
      this.dirDue = true;
      this.dirBackoff = 0;
      return true;
    }
    this.dirBackoff = Math.min(this.dirBackoff + 1, DIR_BACKOFF_MAX);
    this.dropDirectory();
    return false;
  }

  // The first change after a build. A build that a change follows before it served as many queries as
  // a build waits for at the least doubles the wait of the next rebuild of the kept directory by a
  // quiet run, up to 16x, so queries in runs just that long with a change between them do not pay
  // a build each; one that served twice that resets the wait.
  private endExact(): void {
    const base = directoryWait(this.count, 0);
    if (this.served < base) this.quietBackoff = Math.min(this.quietBackoff + 1, DIR_BACKOFF_MAX);
    else if (this.served >= 2 * base) this.quietBackoff = 0;
  }

  // Drops the kept directory (the array stays for reuse); queries descend until the next build.
  private dropDirectory(): void {
    this.dirKept = false;
    this.dirDue = false;
    this.dirVersion = -2;
    this.asked = 0;
    for (const leaf of this.keptLimbo) this.leafFree.push(leaf);
    this.keptLimbo = [];
  }

  /**
   * The first node intersecting `[start, last]` in tree order (smallest start, earliest inserted on
   * ties), or undefined. Throws EINVAL for an invalid query. Continue with iterNext().
   */
  iterFirst(start: number, last: number): IntervalTreeNode<T> | undefined {
    checkInterval("IntervalTree.iterFirst", start, last);
    const i = this.firstIndexOf(start, last);
    return i === NIL ? undefined : this.nodeAt(i);
  }

  /**
   * The node after `node` in tree order that intersects `[start, last]`, or undefined. `node` must be
   * in this tree (EINVAL otherwise). As in the kernel, the walk reads the tree as it is now: a removal
   * between two steps is fine as long as the node passed in is still stored.
   */
  iterNext(node: IntervalTreeNode<T>, start: number, last: number): IntervalTreeNode<T> | undefined {
    checkInterval("IntervalTree.iterNext", start, last);
    const at = this.locate(node);
    if (at === NIL) {
      throw new MmunError("EINVAL", `IntervalTree.iterNext: ${describeNode(node)} is not in this tree`);
    }
    const i = this.nextIndex(at, start, last);
    return i === NIL ? undefined : this.nodeAt(i);
  }

  /**
   * The nodes intersecting `[start, last]`, in tree order, as a lazy iterator. Throws EINVAL for an
   * invalid query (at once); the iterator throws EINVAL if the tree changes before it is exhausted.
   */
  overlapping(start: number, last: number): IterableIterator<IntervalTreeNode<T>> {
    checkInterval("IntervalTree.overlapping", start, last);
    return new OverlapIterator(this, start, last, this.version);
  }

  /**
   * The values of the intervals intersecting `[start, last]`, in tree order, in a new array. Throws
   * EINVAL for an invalid query. Like overlapping() it is O(log n + k), but it makes no handle and no
   * iterator: the query of other JS interval trees, for callers that need the values only.
   */
  search(start: number, last: number): T[] {
    checkInterval("IntervalTree.search", start, last);
    // Cursors of the results gather in HITS, then the values go into an array of the exact size.
    // Within a leaf the gathering has no data-dependent branch but the scan's end: every entry is
    // written, and the count advances by the comparison. With the key directory the scan walks the
    // leaves in order from where the bucket says, passing the entries that end before `start` (at
    // most DIR_MAX_SCAN while the directory is exact); without it the first result comes from the
    // descent and each next leaf from nextIndex(), which skips subtrees that end before `start`.
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lCount = this.lCount;
    let out: T[] | undefined; // set when the results outgrow HITS
    let k = 0;
    let i = this.directoryCursor(start);
    if (i === NONE) return [];
    if (i !== NIL) {
      const lNext = this.lNext;
      let j = i;
      let leaf = j >> LEAF_BITS;
      let end = leaf * LEAF_CAP + lCount[leaf]!;
      let passed = 0; // entries scanned in the leaves left behind
      let moved = 0; // results spilled out of HITS
      for (;;) {
        if (k > HITS_CAP - LEAF_CAP) {
          moved += k;
          out = this.spill(out, k);
          k = 0;
        }
        const from = j;
        for (; j < end; j++) {
          if (lStart[j]! > last) break;
          HITS[k] = j;
          k += +(lLast[j]! >= start);
        }
        const next = j < end ? NIL : lNext[leaf]!;
        if (next === NIL) {
          // Entries passed that end before start: a kept directory bounds none.
          this.keptScanned(passed + j - from - moved - k);
          return this.gathered(out, k);
        }
        leaf = next;
        passed += end - from;
        j = leaf * LEAF_CAP;
        end = j + lCount[leaf]!;
      }
    }
    i = this.descend(start, last);
    while (i !== NIL) {
      if (k > HITS_CAP - LEAF_CAP) {
        out = this.spill(out, k);
        k = 0;
      }
      HITS[k++] = i;
      // The rest of i's leaf, then nextIndex() climbs from its last entry.
      const end = (i & ~(LEAF_CAP - 1)) + lCount[i >> LEAF_BITS]!;
      for (let j = i + 1; j < end; j++) {
        if (lStart[j]! > last) return this.gathered(out, k);
        HITS[k] = j;
        k += +(lLast[j]! >= start);
      }
      i = this.nextIndex(end - 1, start, last);
    }
    return this.gathered(out, k);
  }

  // search(): the values at the first k cursors in HITS, appended to `out`, or in a new array.
  private gathered(out: T[] | undefined, k: number): T[] {
    if (out !== undefined) return this.spill(out, k);
    // A new Array(k) filled in order has no hole left, and is allocated once at its size, where []
    // grows by push to 17 slots on the first (a stab at 10^4: 61-62 against 67-68 ns; see
    // "Gathering results" in docs/architecture.md).
    const lVal = this.lVal;
    const values = new Array<T>(k);
    for (let x = 0; x < k; x++) values[x] = lVal[HITS[x]!] as T;
    return values;
  }

  // search(): moves the first k cursors' values out of HITS, into `out` or a new array.
  private spill(out: T[] | undefined, k: number): T[] {
    const values = out ?? [];
    const lVal = this.lVal;
    for (let x = 0; x < k; x++) values.push(lVal[HITS[x]!] as T);
    return values;
  }

  /** The first node in order (smallest start, earliest inserted), or undefined; O(1). */
  first(): IntervalTreeNode<T> | undefined {
    return this.lCount[0] === 0 ? undefined : this.nodeAt(0);
  }

  /** All nodes in order; throws EINVAL from next() if the tree changes during the iteration. */
  [Symbol.iterator](): IterableIterator<IntervalTreeNode<T>> {
    return new InOrderIterator(this, this.version);
  }

  /**
   * @internal Cursor of the first entry intersecting `[start, last]`, or -1 (the kernel's iter_first).
   * Validates the query. A cursor is valid until the next insert or remove. Zero-allocation iteration
   * for the notifier core, with nextIndex().
   */
  firstIndex(start: number, last: number): number {
    checkInterval("IntervalTree.firstIndex", start, last);
    return this.firstIndexOf(start, last);
  }

  /** @internal firstIndex() for a query already validated. */
  firstIndexOf(start: number, last: number): number {
    let j = this.directoryCursor(start);
    if (j === NONE) return NIL;
    if (j === NIL) return this.descend(start, last);
    // Scan to the first entry ending at or after start (or to one starting after last: then nothing
    // intersects). Exact, the bucket's cursor lies before it by at most DIR_MAX_SCAN entries.
    const lStart = this.lStart;
    const lLast = this.lLast;
    let passed = 0;
    let leaf = j >> LEAF_BITS;
    let end = leaf * LEAF_CAP + this.lCount[leaf]!;
    for (;;) {
      if (j === end) {
        leaf = this.lNext[leaf]!;
        if (leaf === NIL) break;
        j = leaf * LEAF_CAP;
        end = j + this.lCount[leaf]!;
      } else if (lStart[j]! > last) {
        break;
      } else if (lLast[j]! >= start) {
        this.keptScanned(passed);
        return j;
      } else {
        j++;
        passed++;
      }
    }
    this.keptScanned(passed);
    return NIL;
  }

  // After a query through the directory passed `passed` entries that end before its start: a kept
  // directory bounds no scan, so a bucket whose scan passed too many descends from now on.
  private keptScanned(passed: number): void {
    if (passed > KEPT_MAX_SCAN && this.dirVersion !== this.version) this.dir[this.dirBucket] = NIL;
  }

  // Where a query starting at `start` scans from: a cursor, NIL to descend from the root, or NONE when
  // nothing ends at or after start. Counts the query, and builds the directory when that is due: after
  // (size / 2 + 16) << dirBackoff queries without one (changes or not), when a kept one ran out of
  // changes after serving its queries, or when a kept one has answered as many queries in a row
  // without a change (it is exact again then).
  private directoryCursor(start: number): number {
    if (this.count === 0) return NONE;
    if (this.dirVersion !== this.version) {
      if (this.quietVersion !== this.version) {
        this.quietVersion = this.version;
        this.quiet = 0;
      }
      if (
        this.dirKept
          ? this.dirDue || ++this.quiet >= directoryWait(this.count, this.quietBackoff)
          : ++this.asked >= directoryWait(this.count, this.dirBackoff) &&
            this.declinedVersion !== this.version
      ) {
        if (!this.buildDirectory()) return NIL;
      } else if (!this.dirKept) {
        return NIL;
      }
    }
    this.served++;
    if (start > this.dirHi) return NONE;
    const b = directoryBucket(this.dirSeg, this.dirSegs, start);
    const c = this.dir[b]!;
    if (c === NIL || this.dirVersion === this.version) return c;
    // Kept: the leaf the bucket names (or the one it was redirected to), from its first entry once it
    // changed.
    this.dirBucket = b;
    const leaf = this.keptLeaf(c >> LEAF_BITS);
    return this.keptChanged[leaf] ? leaf * LEAF_CAP : c;
  }

  // The leaf a kept bucket naming `leaf` scans from: `leaf`, or the end of its chain of redirects.
  private keptLeaf(leaf: number): number {
    const redirect = this.keptRedirect;
    for (let r = redirect[leaf]!; r !== NIL; r = redirect[leaf]!) leaf = r;
    return leaf;
  }

  // First entry intersecting [start, last] by the descent from the root, or NIL (tree not empty).
  private descend(start: number, last: number): number {
    // O(1): everything starts after last (leaf 0 is leftmost).
    if (this.lStart[0]! > last) return NIL;
    return this.subtreeFirst(this.root, this.height, start, last);
  }

  /**
   * Builds the key directory of the tree as it is, O(n), or declines it (false) when keys cluster so
   * that more than a quarter of the entries start in buckets with too long a scan; then no build is
   * tried again before the next change.
   */
  private buildDirectory(): boolean {
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lCount = this.lCount;
    const lNext = this.lNext;
    const m = this.count;
    const hi =
      this.height === 0
        ? this.leafMax(this.root)
        : this.iPm[this.root * INNER_CAP + this.iCount[this.root]! - 1]!;
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
    const dir = this.dir.length >= m && this.dir.length <= 2 * m ? this.dir : new Int32Array(m);
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
            dir[nb - 1] = NIL;
            nil++;
          }
          if (pb < nb) continue;
          fromOrd = ord;
          for (; nb <= pb; nb++) dir[nb] = j;
        }
      }
    }
    // Queries that follow the data land where entries start: decline when a quarter of the entries
    // start in NIL buckets (keys that cluster). A long interval makes few NIL buckets, with few starts.
    if (nil > 0) {
      let crowded = 0;
      for (let leaf = 0; leaf !== NIL; leaf = lNext[leaf]!) {
        for (let j = leaf * LEAF_CAP, end = j + lCount[leaf]!; j < end; j++) {
          if (dir[directoryBucket(seg, segs, lStart[j]!)] === NIL) crowded++;
        }
      }
      if (crowded * 4 > m) {
        this.dropDirectory();
        this.dir = NO_DIR;
        this.declinedVersion = this.version;
        return false;
      }
    }
    dir.fill(NIL, nb); // buckets past hi's: no query reaches them
    this.dir = dir;
    this.dirSeg = seg;
    this.dirSegs = segs;
    this.dirHi = hi;
    this.dirVersion = this.version;
    this.dirWait = directoryWait(m, this.dirBackoff);
    this.served = 0;
    // Kept from now on: no leaf changed or redirected yet, and leaves freed meanwhile can be reused.
    this.dirKept = true;
    this.dirDue = false;
    this.keptUpdates = 0;
    for (const leaf of this.keptLimbo) this.leafFree.push(leaf);
    this.keptLimbo = [];
    const leaves = this.lCount.length;
    if (this.keptChanged.length === leaves) this.keptChanged.fill(0);
    else {
      this.keptChanged = new Uint8Array(leaves);
      this.keptRedirect = new Int32Array(leaves);
    }
    this.keptRedirect.fill(NIL);
    return true;
  }

  /**
   * @internal Cursor of the next entry after cursor `i` in order that intersects `[start, last]`, or
   * -1 (the kernel's iter_next). `i` must be a live cursor and the query valid: neither is checked.
   */
  nextIndex(i: number, start: number, last: number): number {
    const lStart = this.lStart;
    const lLast = this.lLast;
    let node = i >> LEAF_BITS;
    // The rest of this leaf first: entries there start no earlier than i's.
    for (let j = i + 1, end = node * LEAF_CAP + this.lCount[node]!; j < end; j++) {
      if (lStart[j]! > last) return NIL;
      if (lLast[j]! >= start) return j;
    }
    // Then climb: the next children to the right, skipping those that end before start.
    const iMin = this.iMin;
    const iMax = this.iMax;
    let p = this.lParent[node]!;
    let pos = this.lPos[node]!;
    while (p !== NIL) {
      const b = p * INNER_CAP;
      for (let c = b + pos + 1, end = b + this.iCount[p]!; c < end; c++) {
        if (iMin[c]! > last) return NIL;
        if (iMax[c]! >= start) return this.subtreeFirst(this.iChild[c]!, this.iHeight[p]! - 1, start, last);
      }
      node = p;
      p = this.iParent[node]!;
      pos = this.iPos[node]!;
    }
    return NIL;
  }

  /** @internal Cursor of the node a handle designates, or -1 when it is not stored in this tree. */
  indexOf(node: IntervalTreeNode<T>): number {
    return this.locate(node);
  }

  /** @internal Value of the entry at live cursor `i`. */
  valueAt(i: number): T {
    return this.lVal[i] as T;
  }

  /** @internal Start of the interval at live cursor `i`. */
  startAt(i: number): number {
    return this.lStart[i]!;
  }

  /** @internal Last of the interval at live cursor `i`. */
  lastAt(i: number): number {
    return this.lLast[i]!;
  }

  /** @internal A handle on the entry at live cursor `i`. */
  nodeAt(i: number): IntervalTreeNode<T> {
    // A seq read from the Float64Array is a double; passed as is, V8 gives the handle's field the double
    // representation and boxes every seq in a heap number of its own: one more allocation per handle.
    // Below 2^30 (a small integer in every V8 configuration) it is passed as an int.
    const seq = this.lSeq[i]!;
    return new IntervalTreeNode(
      this,
      seq < SMALL_SEQ ? seq | 0 : seq,
      this.lStart[i]!,
      this.lLast[i]!,
      this.lVal[i] as T,
      i,
    );
  }

  /** @internal Cursor of the in-order successor of live cursor `i`, or -1. */
  nextSlot(i: number): number {
    const leaf = i >> LEAF_BITS;
    if (i + 1 < leaf * LEAF_CAP + this.lCount[leaf]!) return i + 1;
    const next = this.lNext[leaf]!;
    return next === NIL ? NIL : next * LEAF_CAP; // non-root leaves are never empty
  }

  /** @internal Cursor of the first entry in order, or -1. */
  firstSlot(): number {
    return this.lCount[0] === 0 ? NIL : 0;
  }

  /** @internal Modification counter, bumped by every insert and remove. */
  get modCount(): number {
    return this.version;
  }

  // Cursor of the entry `node` designates if it is stored in this tree now (same tree, and an entry
  // with its seq: seqs are never reused), else NIL.
  private locate(node: IntervalTreeNode<T>): number {
    if (!isHandle(node) || node.tree !== this) return NIL;
    const seq = node.seq;
    const hint = node.hint;
    // Where the handle was made, if the entry is still in that leaf. Only live cursors count: past
    // a leaf's count lie stale copies of moved entries, and a free leaf's count is 0.
    if ((hint | 0) === hint && hint >= 0 && hint < this.lSeq.length) {
      const b = hint & ~(LEAF_CAP - 1);
      const end = b + this.lCount[hint >> LEAF_BITS]!;
      // At the cursor, or a few places below it: each removal before it in the leaf since the handle
      // was made shifted it down by one.
      const lSeq = this.lSeq;
      for (let j = hint < end ? hint : end - 1, stop = j - PROBES; j > stop && j >= b; j--) {
        if (lSeq[j] === seq) return this.lStart[j] === node.start ? j : NIL;
      }
      // Further, or up (insertions before it): search the leaf.
      const j = this.findInLeaf(b, end, node.start, seq);
      if (j !== NIL) return j;
    }
    // Moved to another leaf (a split, borrow or merge), or a hint gone wrong: descend.
    return this.findEntry(node.start, seq);
  }

  // Cursor of the entry (start, seq) in the leaf entries [b, end), or NIL. Entries are ordered by
  // (start, seq): search, do not scan.
  private findInLeaf(b: number, end: number, start: number, seq: number): number {
    const lStart = this.lStart;
    const lSeq = this.lSeq;
    for (let j = lowerBound(lStart, b, end - b, start); j < end && lStart[j] === start; j++) {
      if (lSeq[j]! >= seq) return lSeq[j] === seq ? j : NIL;
    }
    return NIL;
  }

  // Cursor of the entry (start, seq), or NIL: the descent to the last child whose first entry sorts at
  // or before it. O(log n); among children that all start at `start`, a scan of at most INNER_CAP.
  private findEntry(start: number, seq: number): number {
    const iMin = this.iMin;
    const iMinSeq = this.iMinSeq;
    let n = this.root;
    for (let h = this.height; h > 0; h--) {
      const b = n * INNER_CAP;
      let c = upperBound(iMin, b, this.iCount[n]!, start) - 1;
      while (c >= b && iMin[c] === start && iMinSeq[c]! > seq) c--;
      if (c < b) return NIL;
      n = this.iChild[c]!;
    }
    const b = n * LEAF_CAP;
    return this.findInLeaf(b, b + this.lCount[n]!, start, seq);
  }

  // First entry of the subtree at `n` (of height h) that intersects [start, last], or NIL. The entry
  // found is the first ending at or after start; if it starts after last, so does everything after it.
  private subtreeFirst(n: number, h: number, start: number, last: number): number {
    const iPm = this.iPm;
    for (; h > 0; h--) {
      const b = n * INNER_CAP;
      const cnt = this.iCount[n]!;
      const c = lowerBound(iPm, b, cnt, start);
      if (c === b + cnt || this.iMin[c]! > last) return NIL;
      n = this.iChild[c]!;
    }
    const b = n * LEAF_CAP;
    const cnt = this.lCount[n]!;
    // In a leaf a forward scan is as fast as a binary search over prefix maxima (measured), stops at
    // the first entry starting after `last`, and spares every insert and remove the upkeep.
    const lStart = this.lStart;
    const lLast = this.lLast;
    for (let j = b, end = b + cnt; j < end; j++) {
      if (lStart[j]! > last) return NIL;
      if (lLast[j]! >= start) return j;
    }
    return NIL;
  }

  // ---- entries and node pools ----

  private allocLeaf(): number {
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
      if (this.dirKept) {
        const changed = new Uint8Array(cap);
        changed.set(this.keptChanged);
        this.keptChanged = changed;
        this.keptRedirect = growI32(this.keptRedirect, cap, NIL);
      }
    }
    return this.leafUsed++;
  }

  private freeLeaf(leaf: number): void {
    this.lCount[leaf] = 0;
    this.lParent[leaf] = NIL;
    this.lNext[leaf] = NIL;
    if (this.dirKept) this.keptLimbo.push(leaf);
    else this.leafFree.push(leaf);
  }

  private allocInner(): number {
    const n = this.innerFree.pop();
    if (n !== undefined) return n;
    if (this.innerUsed === this.iCount.length) {
      const cap = this.iCount.length * 2;
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

  private freeInner(n: number): void {
    this.iCount[n] = 0;
    this.iParent[n] = NIL;
    this.innerFree.push(n);
  }

  /**
   * Moves every node into fresh pools sized for the nodes in use (half again as many, for room), leaves
   * numbered in key order, inner nodes breadth first. O(n). Shapes and keys do not change, cursors do:
   * handle hints go stale and handles fall back to the search by (start, seq).
   */
  private compact(): void {
    if (this.dirKept) this.dropDirectory(); // its leaves in limbo become free, to be renumbered
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
    this.keptChanged = NO_FLAGS;
    this.keptRedirect = NO_DIR;
    this.dir = NO_DIR; // its cursors name the old leaves; its memory goes back too
  }

  // ---- augmentation upkeep ----

  // Greatest last in a leaf (its subtree-last), by a scan.
  private leafMax(leaf: number): number {
    const lLast = this.lLast;
    let m = -1;
    for (let j = leaf * LEAF_CAP, end = j + this.lCount[leaf]!; j < end; j++)
      if (lLast[j]! > m) m = lLast[j]!;
    return m;
  }

  // Recomputes the inner node's prefix maxima from flat index `from` on.
  private innerPm(n: number, from: number): void {
    prefixMax(this.iMax, this.iPm, n * INNER_CAP, from, n * INNER_CAP + this.iCount[n]!);
  }

  // Least start and greatest last of a non-empty node's subtree.
  private minOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.lStart[n * LEAF_CAP]! : this.iMin[n * INNER_CAP]!;
  }

  // Seq of the entry holding a non-empty node's least start.
  private minSeqOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.lSeq[n * LEAF_CAP]! : this.iMinSeq[n * INNER_CAP]!;
  }

  private maxOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.leafMax(n) : this.iPm[n * INNER_CAP + this.iCount[n]! - 1]!;
  }

  // Refreshes the parent's record of `n` (least start, subtree-last, prefix maxima), then the
  // grandparent's record of the parent, and so on while something changed.
  private fixUp(n: number, isLeaf: boolean): void {
    for (;;) {
      const p = isLeaf ? this.lParent[n]! : this.iParent[n]!;
      if (p === NIL) return;
      const c = p * INNER_CAP + (isLeaf ? this.lPos[n]! : this.iPos[n]!);
      const mn = this.minOf(n, isLeaf);
      const ms = this.minSeqOf(n, isLeaf);
      const mx = this.maxOf(n, isLeaf);
      if (this.iMin[c] === mn && this.iMinSeq[c] === ms && this.iMax[c] === mx) return;
      this.iMin[c] = mn;
      this.iMinSeq[c] = ms;
      this.iMax[c] = mx;
      this.innerPm(p, c);
      n = p;
      isLeaf = false;
    }
  }

  // ---- insertion ----

  // Returns the cursor the new entry landed at.
  private leafInsert(leaf: number, start: number, last: number, seq: number, value: T): number {
    const lb = leaf * LEAF_CAP;
    const cnt = this.lCount[leaf]!;
    let at = upperBound(this.lStart, lb, cnt, start);
    if (cnt === LEAF_CAP) {
      // Full: move the upper half to a new right sibling (only LEAF_MIN entries when appending to the
      // rightmost leaf, so ascending inserts leave leaves 3/4 full), then insert into the half that
      // covers `at`.
      const right = this.allocLeaf();
      if (this.dirKept) {
        this.keptChanged[leaf] = 1;
        this.keptChanged[right] = 1;
      }
      const keep = at === lb + LEAF_CAP && this.lNext[leaf] === NIL ? LEAF_CAP - LEAF_MIN : LEAF_CAP / 2;
      this.moveEntries(leaf, lb + keep, right, right * LEAF_CAP, LEAF_CAP - keep);
      this.clearValues(lb + keep, lb + LEAF_CAP);
      this.lCount[leaf] = keep;
      this.lNext[right] = this.lNext[leaf]!;
      this.lNext[leaf] = right;
      let target = leaf;
      if (at > lb + keep) {
        target = right;
        at = right * LEAF_CAP + (at - lb - keep);
      }
      this.leafPut(target, at, start, last, seq, value);
      this.insertChild(leaf, true, right, keep !== LEAF_CAP / 2);
      return at;
    }
    this.leafPut(leaf, at, start, last, seq, value);
    return at;
  }

  // Puts an entry at flat index `at` of a leaf with room, shifting the ones after it. The hottest path
  // of insert: one fused loop, as typed-array copyWithin costs more than the move for a few entries.
  // The parent's record of the leaf was widened on the way down.
  private leafPut(leaf: number, at: number, start: number, last: number, seq: number, value: T): void {
    const end = leaf * LEAF_CAP + this.lCount[leaf]!;
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lSeq = this.lSeq;
    const lVal = this.lVal;
    for (let j = end; j > at; j--) {
      lStart[j] = lStart[j - 1]!;
      lLast[j] = lLast[j - 1]!;
      lSeq[j] = lSeq[j - 1]!;
      lVal[j] = lVal[j - 1];
    }
    lStart[at] = start;
    lLast[at] = last;
    lSeq[at] = seq;
    lVal[at] = value;
    this.lCount[leaf] = end + 1 - leaf * LEAF_CAP;
  }

  // Takes the entry at flat index `at` out of its leaf and returns the new count.
  private leafErase(leaf: number, at: number): number {
    const lb = leaf * LEAF_CAP;
    const end = lb + this.lCount[leaf]! - 1;
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lSeq = this.lSeq;
    const lVal = this.lVal;
    for (let j = at; j < end; j++) {
      lStart[j] = lStart[j + 1]!;
      lLast[j] = lLast[j + 1]!;
      lSeq[j] = lSeq[j + 1]!;
      lVal[j] = lVal[j + 1];
    }
    lVal[end] = undefined;
    const cnt = end - lb;
    this.lCount[leaf] = cnt;
    return cnt;
  }

  // Moves `k` entries from flat index `from` (in leaf `src`) to `to` (in leaf `dst`, whose count this
  // raises by k). The caller fixes src's count and clears the value slots it no longer uses
  // (clearValues).
  private moveEntries(src: number, from: number, dst: number, to: number, k: number): void {
    if (src === dst) throw new Error("moveEntries within one leaf");
    this.shiftEntries(from, to, k);
    this.lCount[dst]! += k;
  }

  // Copies the entry fields of flat indices [from, from + k) to [to, to + k) (overlap allowed).
  private shiftEntries(from: number, to: number, k: number): void {
    this.lStart.copyWithin(to, from, from + k);
    this.lLast.copyWithin(to, from, from + k);
    this.lSeq.copyWithin(to, from, from + k);
    // Array copyWithin is a generic (slow) builtin: move the values by hand, in the safe direction.
    const lVal = this.lVal;
    if (to < from) for (let j = 0; j < k; j++) lVal[to + j] = lVal[from + j];
    else for (let j = k - 1; j >= 0; j--) lVal[to + j] = lVal[from + j];
  }

  // Drops the values of flat indices [from, to), so unused slots keep nothing alive.
  private clearValues(from: number, to: number): void {
    const lVal = this.lVal;
    for (let j = from; j < to; j++) lVal[j] = undefined;
  }

  // Links the new node `right` as the child after `left` (both leaves or both inner nodes), splitting
  // the parent when it is full, up to a new root. `append`: right is the new rightmost node of its
  // level, so a full parent splits 3/4 : 1/4 as leaves do.
  private insertChild(left: number, isLeaf: boolean, right: number, append: boolean): void {
    const p = isLeaf ? this.lParent[left]! : this.iParent[left]!;
    if (p === NIL) {
      const r = this.allocInner();
      this.iCount[r] = 0;
      this.iHeight[r] = this.height + 1;
      this.iParent[r] = NIL;
      this.setChild(r, 0, left, isLeaf);
      this.setChild(r, 1, right, isLeaf);
      this.iCount[r] = 2;
      this.innerPm(r, r * INNER_CAP);
      this.root = r;
      this.height++;
      return;
    }
    const b = p * INNER_CAP;
    const leftAt = b + (isLeaf ? this.lPos[left]! : this.iPos[left]!);
    // The left node lost entries: its record shrinks before anything moves.
    this.iMax[leftAt] = this.maxOf(left, isLeaf);
    const cnt = this.iCount[p]!;
    if (cnt < INNER_CAP) {
      this.openChild(p, leftAt + 1 - b);
      this.setChild(p, leftAt + 1 - b, right, isLeaf);
      this.innerPm(p, leftAt);
      this.fixUp(p, false);
      return;
    }
    // Full: the upper half of the children moves to a new sibling, then `right` goes to its side.
    const at = leftAt + 1 - b;
    const q = this.allocInner();
    const keep = append && at === INNER_CAP ? INNER_CAP - INNER_MIN : INNER_CAP / 2;
    this.iHeight[q] = this.iHeight[p]!;
    this.iCount[q] = 0;
    this.moveChildren(p, keep, q, 0, INNER_CAP - keep);
    this.iCount[p] = keep;
    if (at <= keep) {
      this.openChild(p, at);
      this.setChild(p, at, right, isLeaf);
    } else {
      this.openChild(q, at - keep);
      this.setChild(q, at - keep, right, isLeaf);
    }
    this.innerPm(p, b);
    this.innerPm(q, q * INNER_CAP);
    this.insertChild(p, false, q, append && at === INNER_CAP);
  }

  // Opens position `at` (0-based) in inner node `p` by shifting the children after it; count + 1.
  private openChild(p: number, at: number): void {
    const b = p * INNER_CAP;
    const cnt = this.iCount[p]!;
    const from = b + at;
    const end = b + cnt;
    if (from < end) {
      this.iMin.copyWithin(from + 1, from, end);
      this.iMinSeq.copyWithin(from + 1, from, end);
      this.iMax.copyWithin(from + 1, from, end);
      this.iChild.copyWithin(from + 1, from, end);
      this.reindex(p, at + 1, cnt + 1);
    }
    this.iCount[p] = cnt + 1;
  }

  // Stores `child` at position `at` of `p` with its record, and points it at `p`.
  private setChild(p: number, at: number, child: number, isLeaf: boolean): void {
    const c = p * INNER_CAP + at;
    this.iChild[c] = child;
    this.iMin[c] = this.minOf(child, isLeaf);
    this.iMinSeq[c] = this.minSeqOf(child, isLeaf);
    this.iMax[c] = this.maxOf(child, isLeaf);
    if (isLeaf) {
      this.lParent[child] = p;
      this.lPos[child] = at;
    } else {
      this.iParent[child] = p;
      this.iPos[child] = at;
    }
  }

  // Points the children of `p` at positions [from, to) at `p` and at their positions.
  private reindex(p: number, from: number, to: number): void {
    const b = p * INNER_CAP;
    if (this.iHeight[p] === 1) {
      for (let k = from; k < to; k++) {
        const ch = this.iChild[b + k]!;
        this.lParent[ch] = p;
        this.lPos[ch] = k;
      }
    } else {
      for (let k = from; k < to; k++) {
        const ch = this.iChild[b + k]!;
        this.iParent[ch] = p;
        this.iPos[ch] = k;
      }
    }
  }

  // Moves `k` children of `src` from position `from` to position `to` of `dst` (whose count the
  // caller has made room in, or which is being appended to), repointing them; dst count += k.
  private moveChildren(src: number, from: number, dst: number, to: number, k: number): void {
    const s = src * INNER_CAP + from;
    const d = dst * INNER_CAP + to;
    this.iMin.copyWithin(d, s, s + k);
    this.iMinSeq.copyWithin(d, s, s + k);
    this.iMax.copyWithin(d, s, s + k);
    this.iChild.copyWithin(d, s, s + k);
    this.iCount[dst]! += k;
    this.reindex(dst, to, to + k);
  }

  // ---- removal ----

  // A non-root leaf fell below LEAF_MIN: merge it with a sibling or take entries from one.
  private rebalanceLeaf(leaf: number): void {
    const p = this.lParent[leaf]!;
    const pos = this.lPos[leaf]!;
    const b = p * INNER_CAP;
    const left = pos > 0 ? this.iChild[b + pos - 1]! : leaf;
    const right = pos > 0 ? leaf : this.iChild[b + 1]!;
    const lb = left * LEAF_CAP;
    const rb = right * LEAF_CAP;
    const nl = this.lCount[left]!;
    const nr = this.lCount[right]!;
    if (this.dirKept) {
      // Entries that move from the right leaf into the left one now lie before where the right
      // leaf's buckets scan from: those scan from the left leaf's first entry instead.
      this.keptChanged[left] = 1;
      this.keptChanged[right] = 1;
      if (nl + nr <= LEAF_MERGE || nl < (nl + nr) >> 1) this.keptRedirect[right] = left;
    }
    if (nl + nr <= LEAF_MERGE) {
      this.moveEntries(right, rb, left, lb + nl, nr);
      this.clearValues(rb, rb + nr);
      this.lCount[right] = 0;
      this.lNext[left] = this.lNext[right]!;
      const rightPos = this.lPos[right]!;
      this.freeLeaf(right);
      this.removeChild(p, rightPos, left, true);
      return;
    }
    // Share evenly: move entries across the boundary toward the smaller side.
    const want = (nl + nr) >> 1;
    if (nl < want) {
      const k = want - nl;
      this.moveEntries(right, rb, left, lb + nl, k);
      this.shiftEntries(rb + k, rb, nr - k);
      this.clearValues(rb + nr - k, rb + nr);
      this.lCount[right] = nr - k;
    } else {
      const k = nl - want;
      this.shiftEntries(rb, rb + k, nr);
      this.moveEntries(left, lb + nl - k, right, rb, k);
      this.clearValues(lb + nl - k, lb + nl);
      this.lCount[left] = nl - k;
    }
    this.refreshPair(p, left, right, true);
  }

  // Same for an inner node below INNER_MIN.
  private rebalanceInner(n: number): void {
    const p = this.iParent[n]!;
    const pos = this.iPos[n]!;
    const b = p * INNER_CAP;
    const left = pos > 0 ? this.iChild[b + pos - 1]! : n;
    const right = pos > 0 ? n : this.iChild[b + 1]!;
    const nl = this.iCount[left]!;
    const nr = this.iCount[right]!;
    if (nl + nr <= INNER_MERGE) {
      this.moveChildren(right, 0, left, nl, nr);
      this.iCount[right] = 0;
      this.innerPm(left, left * INNER_CAP + nl);
      const rightPos = this.iPos[right]!;
      this.freeInner(right);
      this.removeChild(p, rightPos, left, false);
      return;
    }
    const want = (nl + nr) >> 1;
    const lb = left * INNER_CAP;
    const rb = right * INNER_CAP;
    if (nl < want) {
      const k = want - nl;
      this.moveChildren(right, 0, left, nl, k);
      this.iMin.copyWithin(rb, rb + k, rb + nr);
      this.iMinSeq.copyWithin(rb, rb + k, rb + nr);
      this.iMax.copyWithin(rb, rb + k, rb + nr);
      this.iChild.copyWithin(rb, rb + k, rb + nr);
      this.iCount[right] = nr - k;
      this.reindex(right, 0, nr - k);
      this.innerPm(left, lb + nl);
    } else {
      const k = nl - want;
      this.iMin.copyWithin(rb + k, rb, rb + nr);
      this.iMinSeq.copyWithin(rb + k, rb, rb + nr);
      this.iMax.copyWithin(rb + k, rb, rb + nr);
      this.iChild.copyWithin(rb + k, rb, rb + nr);
      this.iCount[right] = nr; // moveChildren adds k
      this.moveChildren(left, nl - k, right, 0, k);
      this.reindex(right, k, nr + k);
      this.iCount[left] = nl - k;
      this.innerPm(left, lb);
    }
    this.innerPm(right, rb);
    this.refreshPair(p, left, right, false);
  }

  // Both siblings changed in place: refresh their records in `p`, then p's record upward.
  private refreshPair(p: number, left: number, right: number, isLeaf: boolean): void {
    const b = p * INNER_CAP;
    const lc = b + (isLeaf ? this.lPos[left]! : this.iPos[left]!);
    this.iMin[lc] = this.minOf(left, isLeaf);
    this.iMinSeq[lc] = this.minSeqOf(left, isLeaf);
    this.iMax[lc] = this.maxOf(left, isLeaf);
    this.iMin[lc + 1] = this.minOf(right, isLeaf);
    this.iMinSeq[lc + 1] = this.minSeqOf(right, isLeaf);
    this.iMax[lc + 1] = this.maxOf(right, isLeaf);
    this.innerPm(p, lc);
    this.fixUp(p, false);
  }

  // Drops the child at position `at` of `p` (already merged into `into`, the child before it), then
  // repairs p: collapse a root with one child, rebalance an underfull node, or refresh upward.
  private removeChild(p: number, at: number, into: number, isLeaf: boolean): void {
    const b = p * INNER_CAP;
    const cnt = this.iCount[p]!;
    const from = b + at;
    this.iMin.copyWithin(from, from + 1, b + cnt);
    this.iMinSeq.copyWithin(from, from + 1, b + cnt);
    this.iMax.copyWithin(from, from + 1, b + cnt);
    this.iChild.copyWithin(from, from + 1, b + cnt);
    this.iCount[p] = cnt - 1;
    this.reindex(p, at, cnt - 1);
    const ic = b + (isLeaf ? this.lPos[into]! : this.iPos[into]!);
    this.iMin[ic] = this.minOf(into, isLeaf);
    this.iMinSeq[ic] = this.minSeqOf(into, isLeaf);
    this.iMax[ic] = this.maxOf(into, isLeaf);
    this.innerPm(p, ic);
    if (p === this.root) {
      if (cnt - 1 === 1) {
        this.root = into;
        this.height--;
        if (isLeaf) this.lParent[into] = NIL;
        else this.iParent[into] = NIL;
        this.freeInner(p);
      }
      return;
    }
    if (cnt - 1 < INNER_MIN) this.rebalanceInner(p);
    else this.fixUp(p, false);
  }
}

function modified(): MmunError {
  return new MmunError("EINVAL", "IntervalTree was modified during an iteration");
}

class OverlapIterator<T> implements IterableIterator<IntervalTreeNode<T>> {
  // Declared, not defined, fields (see IntervalTreeNode): with them V8 inlines next() into the
  // caller's loop and the iterator costs about 40 ns per query instead of 130 (measured).
  declare private readonly tree: IntervalTree<T>;
  declare private readonly start: number;
  declare private readonly last: number;
  declare private readonly version: number;
  /** Cursor of the node returned last; -2 before the first step, -1 once done. */
  declare private cur: number;

  constructor(tree: IntervalTree<T>, start: number, last: number, version: number) {
    this.tree = tree;
    this.start = start;
    this.last = last;
    this.version = version;
    this.cur = -2;
  }

  next(): IteratorResult<IntervalTreeNode<T>> {
    const c = this.cur;
    if (c === NIL) return { done: true, value: undefined };
    const tree = this.tree;
    if (tree.modCount !== this.version) throw modified();
    const i = c === -2 ? tree.firstIndexOf(this.start, this.last) : tree.nextIndex(c, this.start, this.last);
    this.cur = i;
    return i === NIL ? { done: true, value: undefined } : { done: false, value: tree.nodeAt(i) };
  }

  [Symbol.iterator](): IterableIterator<IntervalTreeNode<T>> {
    return this;
  }
}

class InOrderIterator<T> implements IterableIterator<IntervalTreeNode<T>> {
  private cur = -2;
  constructor(
    private readonly tree: IntervalTree<T>,
    private readonly version: number,
  ) {}

  next(): IteratorResult<IntervalTreeNode<T>> {
    if (this.cur === NIL) return { done: true, value: undefined };
    const tree = this.tree;
    if (tree.modCount !== this.version) throw modified();
    this.cur = this.cur === -2 ? tree.firstSlot() : tree.nextSlot(this.cur);
    if (this.cur === NIL) return { done: true, value: undefined };
    return { done: false, value: tree.nodeAt(this.cur) };
  }

  [Symbol.iterator](): IterableIterator<IntervalTreeNode<T>> {
    return this;
  }
}

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
   * through changes since), "declined" (keys cluster; no build before the next change), or "none".
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
  const current = tree["dirVersion"] === tree["version"];
  const kept = tree["dirKept"];
  const declined = !kept && tree["declinedVersion"] === tree["version"];
  return {
    directory: current ? "current" : kept ? "kept" : declined ? "declined" : "none",
    directoryBuckets: tree["dir"].length,
    directorySegments: kept ? tree["dirSegs"] : 0,
    directoryWait: directoryWait(tree.size, kept ? tree["quietBackoff"] : tree["dirBackoff"]),
    height: tree["height"],
    leaves: tree["leafUsed"] - tree["leafFree"].length,
    innerNodes: tree["innerUsed"] - tree["innerFree"].length,
    leafCapacity: tree["lCount"].length,
    innerCapacity: tree["iCount"].length,
  };
}

/**
 * Checks every invariant of `tree` and throws an Error naming the first violation: all leaves at one
 * depth; node fill (non-root leaves >= LEAF_MIN, non-root inner nodes >= INNER_MIN, an inner root
 * >= 2 children); parent and position links; every cached least start (and its seq), subtree-last and
 * prefix maximum; keys are valid intervals in ascending start with equal starts in insertion order;
 * leaf 0 first and the next-leaf chain in order; every sequence number and value; the free lists;
 * and, while it is current, every bucket and segment of the key directory. O(n); for tests and the
 * explorer's debug mode, not part of the public API.
 */
export function checkIntervalTree<T>(tree: IntervalTree<T>): void {
  const t = tree as unknown as {
    lStart: Float64Array;
    lLast: Float64Array;
    lSeq: Float64Array;
    lVal: (T | undefined)[];
    lCount: Int32Array;
    lParent: Int32Array;
    lPos: Int32Array;
    lNext: Int32Array;
    leafUsed: number;
    leafFree: number[];
    iMin: Float64Array;
    iMinSeq: Float64Array;
    iMax: Float64Array;
    iPm: Float64Array;
    iChild: Int32Array;
    iCount: Int32Array;
    iParent: Int32Array;
    iPos: Int32Array;
    iHeight: Int32Array;
    innerUsed: number;
    innerFree: number[];
    root: number;
    height: number;
    count: number;
    nextSeq: number;
    version: number;
    dir: Int32Array;
    dirVersion: number;
    dirKept: boolean;
    dirSeg: Float64Array;
    dirSegs: number;
    dirHi: number;
    keptChanged: Uint8Array;
    keptRedirect: Int32Array;
    keptLimbo: number[];
  };
  const fail = (msg: string): never => {
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
  if (t.keptLimbo.length > 0 && !t.dirKept)
    fail(`${t.keptLimbo.length} leaves in limbo without a kept directory`);
  for (const n of t.keptLimbo) {
    if (seenLeaf[n] || t.leafFree.includes(n)) fail(`leaf ${n} is in limbo and in the tree or free`);
    if (t.lCount[n] !== 0) fail(`leaf ${n} in limbo counts ${t.lCount[n]} entries`);
  }
  for (const n of t.innerFree) if (seenInner[n]) fail(`inner node ${n} is free and in the tree`);
  if (leaves.length + t.leafFree.length + t.keptLimbo.length !== t.leafUsed)
    fail("a leaf is neither in the tree nor free");
  const inner = seenInner.reduce((a, b) => a + b, 0);
  if (inner + t.innerFree.length !== t.innerUsed) fail("an inner node is neither in the tree nor free");
  if (t.dirVersion === t.version) checkDirectory(t, leaves, fail);
  else if (t.dirKept) checkKept(t, leaves, seenLeaf, fail);
}

/**
 * A kept directory: every bucket's queries scan from a live entry (or a live leaf's first), before
 * which every entry ends before the bucket's least key, and where they scan from moves forward in
 * order from bucket to bucket (insert's upkeep relies on that). Redirects lead to live leaves.
 */
function checkKept(
  t: {
    lStart: Float64Array;
    lLast: Float64Array;
    lCount: Int32Array;
    leafUsed: number;
    dir: Int32Array;
    dirSeg: Float64Array;
    dirSegs: number;
    dirHi: number;
    keptChanged: Uint8Array;
    keptRedirect: Int32Array;
  },
  leaves: number[],
  seenLeaf: Uint8Array,
  fail: (msg: string) => never,
): void {
  const cap = t.lCount.length;
  if (t.keptChanged.length !== cap || t.keptRedirect.length !== cap)
    fail(`kept directory flags for ${t.keptChanged.length} and ${t.keptRedirect.length} of ${cap} leaves`);
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
  if (t.dirHi < pm) fail(`the kept directory reaches ${t.dirHi}, short of the greatest last ${pm}`);
  const segs = t.dirSegs;
  const buckets = t.dirSeg[(segs - 1) * SEG_FIELDS + 2]! + t.dirSeg[(segs - 1) * SEG_FIELDS + 3]! + 1;
  if (buckets > t.dir.length) fail(`the kept directory maps keys to ${buckets} of ${t.dir.length} buckets`);
  let prev = -1;
  for (let b = 0; b < buckets; b++) {
    const c = t.dir[b]!;
    if (c === NIL) continue;
    let leaf = c >> LEAF_BITS;
    for (let hops = 0; t.keptRedirect[leaf] !== NIL; hops++) {
      if (hops > t.leafUsed) fail(`kept directory redirects from leaf ${c >> LEAF_BITS} loop`);
      leaf = t.keptRedirect[leaf]!;
    }
    if (leaf >= t.leafUsed || !seenLeaf[leaf])
      fail(`kept directory bucket ${b} leads to leaf ${leaf}, not in the tree`);
    const from = t.keptChanged[leaf] ? leaf * LEAF_CAP : c;
    const r = rank.get(from);
    if (r === undefined) {
      if (t.lCount[leaf] === 0 && leaves.length === 1) continue; // an empty tree
      fail(`kept directory bucket ${b} scans from ${from}, not a live cursor`);
    }
    if (r < prev)
      fail(`kept directory bucket ${b} scans from rank ${r}, before the bucket below it (${prev})`);
    prev = r;
    const reach = before[r]!;
    if (reach >= 0 && directoryBucket(t.dirSeg, segs, reach) >= b)
      fail(`kept directory bucket ${b} scans from rank ${r}, past an entry ending at ${reach}`);
  }
}

/**
 * The key directory, recomputed the slow way: every bucket holds the cursor of the first entry whose
 * running maximum of lasts falls in that bucket or a later one, or NIL where the scan from there
 * could pass more than DIR_MAX_SCAN entries; at most a quarter of the entries start in NIL buckets.
 */
function checkDirectory(
  t: {
    lStart: Float64Array;
    lLast: Float64Array;
    lCount: Int32Array;
    count: number;
    dir: Int32Array;
    dirSeg: Float64Array;
    dirSegs: number;
    dirHi: number;
  },
  leaves: number[],
  fail: (msg: string) => never,
): void {
  const cursors: number[] = [];
  for (const n of leaves) for (let j = n * LEAF_CAP; j < n * LEAF_CAP + t.lCount[n]!; j++) cursors.push(j);
  let hi = -1;
  for (const j of cursors) hi = Math.max(hi, t.lLast[j]!);
  if (t.dirHi !== hi || t.dir.length < t.count) {
    fail(
      `the key directory reaches ${t.dirHi} (greatest last ${hi}) in ${t.dir.length} buckets for ${t.count}`,
    );
  }
  // Segments: each starts at an entry (its base is that entry's rank, its least key the entry's start),
  // in order, the first at rank 0, together one bucket per entry.
  const seg = t.dirSeg;
  if (t.dirSegs < 1 || t.dirSegs > DIR_SEGMENTS || seg.length !== t.dirSegs * SEG_FIELDS)
    fail(`the key directory has ${t.dirSegs} segments in ${seg.length} fields`);
  for (let k = 0; k < t.dirSegs; k++) {
    const [lo, scale, base, top] = seg.subarray(k * SEG_FIELDS, (k + 1) * SEG_FIELDS);
    const next = k + 1 < t.dirSegs ? seg[(k + 1) * SEG_FIELDS + 2]! : t.count;
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
  const bucket = (x: number) => directoryBucket(seg, t.dirSegs, x);
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
    const got = t.dir[b]!;
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
  const wide = cursors.filter((j) => t.dir[bucket(t.lStart[j]!)] === NIL).length;
  if (wide * 4 > t.count) fail(`${wide} of ${t.count} entries start in NIL key directory buckets`);
}
