// Follows include/linux/interval_tree_generic.h (insert with subtree-last widening on the way down,
// remove, iter_first, iter_next, subtree-last pruning), on an augmented B+ tree with wide nodes where
// the kernel uses an augmented red-black tree; the kernel's layout is kept in rbIntervalTree.ts, and
// `npm run bench -- itree` measures both (docs/performance.md).
//
// The files of the tree: this one is the public class, its queries and its iterators; the structure
// and its augmentation are in intervalTreeNodes.ts, the layout and the pools in intervalTreePools.ts
// (IntervalTree extends IntervalTreeNodes extends IntervalTreePools: one object); the key directory,
// an index on the keys that queries use once the tree has answered enough of them, in
// keyDirectory.ts; the validator in intervalTreeCheck.ts. docs/architecture.md describes the whole.
//
// Handles and cursors. There is no per-entry table: a handle finds its entry by the cursor it
// remembers (and the few below it), else by (start, seq) in that leaf, else by a descent on
// (start, seq). The notifier core walks with cursors (firstIndex, nextIndex, valueAt).

import { MmunError } from "./errno.js";
import { checkInterval, show } from "./interval.js";
import { IntervalTreeNodes } from "./intervalTreeNodes.js";
import { NODE_LAYOUT } from "./intervalTreePools.js";
import { KeyDirectory } from "./keyDirectory.js";
import { lowerBound, upperBound } from "./sortedSearch.js";

const { NIL, NONE, LEAF_BITS, LEAF_CAP, INNER_CAP } = NODE_LAYOUT;

/** Cursors locate() tries before searching the leaf: a handle's hint and the PROBES - 1 below it. */
const PROBES = 4;
/** Seqs below this are small integers (V8 Smis) even with pointer compression. */
const SMALL_SEQ = 2 ** 30;
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

function describeNode(node: unknown): string {
  return node instanceof IntervalTreeNode
    ? `node [${node.start}, ${node.last}] (seq ${node.seq})`
    : show(node);
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
export class IntervalTree<T> extends IntervalTreeNodes<T> {
  constructor() {
    super();
    this.keys = new KeyDirectory(this);
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
    this.keys.onInsert(at, start, last);
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
    this.keys.onRemove(at >> LEAF_BITS);
    this.eraseAt(at);
    this.count--;
    this.version++;
    this.shrinkIfSparse();
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
    // most DIR_MAX_SCAN while the directory is current); without it the first result comes from the
    // descent and each next leaf from nextIndex(), which skips subtrees that end before `start`.
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lCount = this.lCount;
    let out: T[] | undefined; // set when the results outgrow HITS
    let k = 0;
    let i = this.keys.cursor(start, this.count);
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
          this.keys.scanned(passed + j - from - moved - k);
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
    // grows by push to 17 slots on the first (see "Gathering results" in docs/performance.md).
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
    let j = this.keys.cursor(start, this.count);
    if (j === NONE) return NIL;
    if (j === NIL) return this.descend(start, last);
    // Scan to the first entry ending at or after start (or to one starting after last: then nothing
    // intersects). Current, the bucket's cursor lies before it by at most DIR_MAX_SCAN entries.
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
        this.keys.scanned(passed);
        return j;
      } else {
        j++;
        passed++;
      }
    }
    this.keys.scanned(passed);
    return NIL;
  }

  // First entry intersecting [start, last] by the descent from the root, or NIL (tree not empty).
  private descend(start: number, last: number): number {
    // O(1): everything starts after last (leaf 0 is leftmost).
    if (this.lStart[0]! > last) return NIL;
    return this.subtreeFirst(this.root, this.height, start, last);
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
}

function modified(): MmunError {
  return new MmunError("EINVAL", "IntervalTree was modified during an iteration");
}

class OverlapIterator<T> implements IterableIterator<IntervalTreeNode<T>> {
  // Declared, not defined, fields (see IntervalTreeNode): with them V8 inlines next() into the
  // caller's loop, and the iterator costs a third of what it does with defined fields.
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
