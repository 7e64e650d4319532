// Follows include/linux/interval_tree_generic.h (lib/interval_tree.c): an augmented red-black interval tree.
//
// Each node stores a closed interval [start, last], a value, and the largest `last` of its subtree
// (the kernel's __subtree_last), which lets a query skip every subtree that ends before it. The
// red-black core (rbtree.ts) does the balancing; this file does the key descent, supplies the
// subtree-last callbacks and the two intersection conditions, as the kernel's generic header does.
//
// Slot layout (6 words, 48 bytes): the core's links and color, then start, subtree-last, last and the
// insertion sequence number, so a descent reads one 32-byte run per node. Values sit in a plain array
// indexed by slot. Handles (IntervalTreeNode) are not kept by the tree: a node is identified by its
// slot plus its sequence number, which is never reused, so a stale handle is recognised.

import { MmunError } from "./errno.js";
import {
  checkRbTree,
  RB_HEADER_WORDS,
  RB_LEFT,
  RB_NIL,
  RB_PARENT,
  RB_RIGHT,
  type RbAugmentCallbacks,
  RbTree,
} from "./rbtree.js";

const NIL = RB_NIL;
const LEFT = RB_LEFT;
const RIGHT = RB_RIGHT;
const PARENT = RB_PARENT;
// Float64 offsets of our words inside a slot.
const START = RB_HEADER_WORDS;
const SUBTREE_LAST = RB_HEADER_WORDS + 1;
const LAST = RB_HEADER_WORDS + 2;
const SEQ = RB_HEADER_WORDS + 3;
const USER_WORDS = 4;
// Slot size in 8-byte words and in int32 units, as constants so index arithmetic folds.
const WORDS = RB_HEADER_WORDS + USER_WORDS;
const STRIDE32 = WORDS * 2;

/**
 * A handle on one stored interval. Node identity is the stored slot, not the object: the tree keeps no
 * handle, and every call that returns a node (insert, iteration, first) may return a fresh object for
 * the same node. Compare handles with sameAs(). A handle stays readable after its node is removed.
 */
export class IntervalTreeNode<T> {
  /** First key of the closed interval. */
  readonly start: number;
  /** Last key of the closed interval (inclusive). */
  readonly last: number;
  /** The value stored with the interval. */
  readonly value: T;
  /** @internal The tree the node was inserted into. */
  readonly tree: IntervalTree<T>;
  /** @internal The node's slot in the tree's pool. */
  readonly slot: number;
  /** @internal The node's insertion sequence number (unique within its tree). */
  readonly seq: number;

  /** @internal Handles are made by IntervalTree only. */
  constructor(tree: IntervalTree<T>, slot: number, seq: number, start: number, last: number, value: T) {
    this.start = start;
    this.last = last;
    this.value = value;
    this.tree = tree;
    this.slot = slot;
    this.seq = seq;
  }

  /** Whether `other` designates the same node of the same tree as this handle. */
  sameAs(other: IntervalTreeNode<T>): boolean {
    return other.tree === this.tree && other.slot === this.slot && other.seq === this.seq;
  }
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

function isKey(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function describeNode(node: unknown): string {
  return node instanceof IntervalTreeNode
    ? `node [${node.start}, ${node.last}] (slot ${node.slot}, seq ${node.seq})`
    : show(node);
}

function checkInterval(what: string, start: number, last: number): void {
  if (!isKey(start) || !isKey(last) || start > last) {
    throw new MmunError(
      "EINVAL",
      `${what}: [${show(start)}, ${show(last)}] needs non-negative safe integers with start <= last`,
    );
  }
}

/**
 * An interval tree (kernel interval_tree_generic.h): closed intervals `[start, last]` of non-negative
 * safe integers, each with a value. Duplicates are allowed; the order is ascending start, then insertion
 * order among equal starts. Insert and remove are O(log n); a query visiting k nodes is O(log n + k).
 *
 * Invalid keys (negative, fractional, NaN, infinite, above 2^53-1, start > last) throw
 * `MmunError("EINVAL")` and change nothing. Mutating the tree while an iterator from overlapping() or
 * [Symbol.iterator] is live makes that iterator throw EINVAL on its next step.
 */
export class IntervalTree<T> {
  private readonly rb: RbTree;
  private readonly values: (T | undefined)[] = [];
  private nextSeq = 0;
  private version = 0;

  constructor() {
    const augment: RbAugmentCallbacks = {
      propagate: (node, stop) => {
        const f = this.rb.f64;
        const a = this.rb.i32;
        while (node !== stop) {
          const sub = this.computeSubtreeLast(f, a, node);
          const at = node * WORDS + SUBTREE_LAST;
          if (f[at] === sub) break;
          f[at] = sub;
          node = a[node * STRIDE32 + PARENT]!;
        }
      },
      copy: (from, to) => {
        const f = this.rb.f64;
        f[to * WORDS + SUBTREE_LAST] = f[from * WORDS + SUBTREE_LAST]!;
      },
      rotate: (from, to) => {
        const f = this.rb.f64;
        f[to * WORDS + SUBTREE_LAST] = f[from * WORDS + SUBTREE_LAST]!;
        f[from * WORDS + SUBTREE_LAST] = this.computeSubtreeLast(f, this.rb.i32, from);
      },
    };
    this.rb = new RbTree(USER_WORDS, augment);
  }

  /** Number of stored intervals. */
  get size(): number {
    return this.rb.size;
  }

  /**
   * Stores `[start, last]` with `value` and returns a handle to it. An interval equal to stored ones
   * sorts after them. Throws EINVAL (changing nothing) for invalid keys. O(log n). Pairs with remove().
   */
  insert(start: number, last: number, value: T): IntervalTreeNode<T> {
    checkInterval("IntervalTree.insert", start, last);
    const rb = this.rb;
    const slot = rb.alloc(); // may grow the pool: read the views after it
    const f = rb.f64;
    const a = rb.i32;
    const seq = this.nextSeq++;
    const fb = slot * WORDS;
    f[fb + START] = start;
    f[fb + SUBTREE_LAST] = last;
    f[fb + LAST] = last;
    f[fb + SEQ] = seq;
    // Descend left iff start < node.start: equal starts go right, after the ones already there.
    let parent = NIL;
    let asLeft = false;
    let leftmost = true;
    let n = rb.root;
    while (n !== NIL) {
      const nb = n * WORDS;
      if (f[nb + SUBTREE_LAST]! < last) f[nb + SUBTREE_LAST] = last;
      parent = n;
      if (start < f[nb + START]!) {
        asLeft = true;
        n = a[n * STRIDE32 + LEFT]!;
      } else {
        asLeft = false;
        leftmost = false;
        n = a[n * STRIDE32 + RIGHT]!;
      }
    }
    rb.insert(slot, parent, asLeft, leftmost);
    if (slot === this.values.length) this.values.push(value);
    else this.values[slot] = value;
    this.version++;
    return new IntervalTreeNode(this, slot, seq, start, last, value);
  }

  /**
   * Removes the node `node` designates (any handle for it: from insert, iteration or first()).
   * Throws EINVAL, changing nothing, when it is not a node of this tree (removed already, from another
   * tree, or a stale handle whose slot now holds another node). O(log n). Pairs with insert().
   */
  remove(node: IntervalTreeNode<T>): void {
    if (!this.holds(node)) {
      throw new MmunError("EINVAL", `IntervalTree.remove: ${describeNode(node)} is not in this tree`);
    }
    const rb = this.rb;
    const slot = node.slot;
    rb.erase(slot);
    rb.free(slot);
    rb.f64[slot * WORDS + SEQ] = -1;
    this.values[slot] = undefined;
    this.version++;
  }

  /**
   * The first node intersecting `[start, last]` in tree order (smallest start, earliest inserted on
   * ties), or undefined. Throws EINVAL for an invalid query. Continue with iterNext().
   */
  iterFirst(start: number, last: number): IntervalTreeNode<T> | undefined {
    const i = this.firstIndex(start, last);
    return i === NIL ? undefined : this.nodeAt(i);
  }

  /**
   * The node after `node` in tree order that intersects `[start, last]`, or undefined. `node` must be
   * in this tree (EINVAL otherwise). As in the kernel, the walk reads the tree as it is now: a removal
   * between two steps is fine as long as the node passed in is still stored.
   */
  iterNext(node: IntervalTreeNode<T>, start: number, last: number): IntervalTreeNode<T> | undefined {
    checkInterval("IntervalTree.iterNext", start, last);
    if (!this.holds(node)) {
      throw new MmunError("EINVAL", `IntervalTree.iterNext: ${describeNode(node)} is not in this tree`);
    }
    const i = this.nextIndex(node.slot, start, last);
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

  /** The first node in order (smallest start, earliest inserted), or undefined; O(1). */
  first(): IntervalTreeNode<T> | undefined {
    const i = this.rb.leftmost;
    return i === NIL ? undefined : this.nodeAt(i);
  }

  /** All nodes in order; throws EINVAL from next() if the tree changes during the iteration. */
  [Symbol.iterator](): IterableIterator<IntervalTreeNode<T>> {
    return new InOrderIterator(this, this.version);
  }

  /**
   * @internal Slot of the first node intersecting `[start, last]`, or -1 (the kernel's iter_first).
   * Validates the query. Zero-allocation iteration for the notifier core, with nextIndex().
   */
  firstIndex(start: number, last: number): number {
    checkInterval("IntervalTree.firstIndex", start, last);
    const rb = this.rb;
    const root = rb.root;
    // O(1) rejections: empty tree, everything ends before start, everything starts after last.
    if (root === NIL) return NIL;
    const f = rb.f64;
    if (f[root * WORDS + SUBTREE_LAST]! < start) return NIL;
    if (f[rb.leftmost * WORDS + START]! > last) return NIL;
    return this.subtreeSearch(f, rb.i32, root, start, last);
  }

  /**
   * @internal Slot of the next node after slot `i` in order that intersects `[start, last]`, or -1
   * (the kernel's iter_next). `i` must be a live slot and the query valid: neither is checked.
   */
  nextIndex(i: number, start: number, last: number): number {
    const rb = this.rb;
    const f = rb.f64;
    const a = rb.i32;
    let node = i;
    let right = a[node * STRIDE32 + RIGHT]!;
    for (;;) {
      // Anything after `node` inside its right subtree comes first.
      if (right !== NIL && start <= f[right * WORDS + SUBTREE_LAST]!) {
        return this.subtreeSearch(f, a, right, start, last);
      }
      // Otherwise climb until we arrive from a left child: that ancestor is next in order.
      let from: number;
      do {
        from = node;
        node = a[node * STRIDE32 + PARENT]!;
        if (node === NIL) return NIL;
        right = a[node * STRIDE32 + RIGHT]!;
      } while (from === right);
      const nb = node * WORDS;
      if (last < f[nb + START]!) return NIL; // it and everything after it start too late
      if (start <= f[nb + LAST]!) return node;
    }
  }

  /** @internal Value stored in live slot `i`. */
  valueAt(i: number): T {
    return this.values[i] as T;
  }

  /** @internal Start of the interval in live slot `i`. */
  startAt(i: number): number {
    return this.rb.f64[i * WORDS + START]!;
  }

  /** @internal Last of the interval in live slot `i`. */
  lastAt(i: number): number {
    return this.rb.f64[i * WORDS + LAST]!;
  }

  /** @internal A handle on the node in live slot `i`. */
  nodeAt(i: number): IntervalTreeNode<T> {
    const f = this.rb.f64;
    const b = i * WORDS;
    return new IntervalTreeNode(this, i, f[b + SEQ]!, f[b + START]!, f[b + LAST]!, this.values[i] as T);
  }

  /** @internal Slot of the in-order successor of live slot `i`, or -1. */
  nextSlot(i: number): number {
    return this.rb.next(i);
  }

  /** @internal Slot of the first node in order, or -1. */
  firstSlot(): number {
    return this.rb.leftmost;
  }

  /** @internal Modification counter, bumped by every insert and remove. */
  get modCount(): number {
    return this.version;
  }

  // Whether `node` is a handle on a node stored in this tree now: same tree, live slot, same seq.
  private holds(node: IntervalTreeNode<T>): boolean {
    return (
      node instanceof IntervalTreeNode &&
      node.tree === this &&
      this.rb.isLive(node.slot) &&
      this.rb.f64[node.slot * WORDS + SEQ] === node.seq
    );
  }

  // Leftmost node of the subtree at `node` intersecting [start, last], or NIL (_subtree_search).
  // Precondition: start <= subtree-last of `node`.
  private subtreeSearch(f: Float64Array, a: Int32Array, node: number, start: number, last: number): number {
    for (;;) {
      // Both children's subtree-lasts are read before either is tested, so the two cache misses
      // overlap instead of following each other when the walk turns right.
      const left = a[node * STRIDE32 + LEFT]!;
      const right = a[node * STRIDE32 + RIGHT]!;
      const leftLast = left === NIL ? -1 : f[left * WORDS + SUBTREE_LAST]!;
      const rightLast = right === NIL ? -1 : f[right * WORDS + SUBTREE_LAST]!;
      // Some node on the left ends at or after start: the leftmost such node is the only candidate
      // from here on, because every node after it starts no earlier.
      if (start <= leftLast) {
        node = left;
        continue;
      }
      const nb = node * WORDS;
      if (f[nb + START]! > last) return NIL;
      if (start <= f[nb + LAST]!) return node;
      if (start > rightLast) return NIL;
      node = right;
    }
  }

  private computeSubtreeLast(f: Float64Array, a: Int32Array, node: number): number {
    let sub = f[node * WORDS + LAST]!;
    const l = a[node * STRIDE32 + LEFT]!;
    if (l !== NIL) {
      const v = f[l * WORDS + SUBTREE_LAST]!;
      if (v > sub) sub = v;
    }
    const r = a[node * STRIDE32 + RIGHT]!;
    if (r !== NIL) {
      const v = f[r * WORDS + SUBTREE_LAST]!;
      if (v > sub) sub = v;
    }
    return sub;
  }
}

function modified(): MmunError {
  return new MmunError("EINVAL", "IntervalTree was modified during an iteration");
}

class OverlapIterator<T> implements IterableIterator<IntervalTreeNode<T>> {
  private cur = -2; // -2: not started, -1: done
  constructor(
    private readonly tree: IntervalTree<T>,
    private readonly start: number,
    private readonly last: number,
    private readonly version: number,
  ) {}

  next(): IteratorResult<IntervalTreeNode<T>> {
    if (this.cur === NIL) return { done: true, value: undefined };
    const tree = this.tree;
    if (tree.modCount !== this.version) throw modified();
    this.cur =
      this.cur === -2
        ? tree.firstIndex(this.start, this.last)
        : tree.nextIndex(this.cur, this.start, this.last);
    if (this.cur === NIL) return { done: true, value: undefined };
    return { done: false, value: tree.nodeAt(this.cur) };
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

/**
 * Checks every invariant of `tree` (the red-black rules via checkRbTree, then: keys are valid
 * intervals, in-order starts never decrease, equal starts are in insertion order, every cached
 * subtree-last is the maximum `last` of its subtree, free slots hold no value). Throws an Error naming
 * the first violation. O(n); for tests and the explorer's debug mode, not part of the public API.
 */
export function checkIntervalTree<T>(tree: IntervalTree<T>): void {
  const rb = tree["rb"];
  const values = tree["values"];
  const fail = (msg: string): never => {
    throw new Error(`interval tree invariant violated: ${msg}`);
  };
  if (rb.words !== WORDS) fail(`slot size is ${rb.words} words`);
  const order = checkRbTree(rb);
  const f = rb.f64;
  let prevStart = -1;
  let prevSeq = -1;
  for (const n of order) {
    const start = f[n * WORDS + START]!;
    const last = f[n * WORDS + LAST]!;
    const seq = f[n * WORDS + SEQ]!;
    if (!isKey(start) || !isKey(last) || start > last) fail(`slot ${n} holds [${start}, ${last}]`);
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= tree["nextSeq"]) fail(`slot ${n} has seq ${seq}`);
    if (start < prevStart) fail(`slot ${n} starts at ${start} after a node starting at ${prevStart}`);
    if (start === prevStart && seq <= prevSeq) {
      fail(`slot ${n} (seq ${seq}) sorts after seq ${prevSeq} with the same start ${start}`);
    }
    prevStart = start;
    prevSeq = seq;
    let sub = last;
    const l = rb.left(n);
    const r = rb.right(n);
    if (l !== NIL) sub = Math.max(sub, f[l * WORDS + SUBTREE_LAST]!);
    if (r !== NIL) sub = Math.max(sub, f[r * WORDS + SUBTREE_LAST]!);
    // Local check; by induction on height it proves every cache is the maximum of its subtree.
    if (f[n * WORDS + SUBTREE_LAST] !== sub) {
      fail(`slot ${n} caches subtree-last ${f[n * WORDS + SUBTREE_LAST]}, its children give ${sub}`);
    }
  }
  if (values.length !== rb.used) fail(`values array has ${values.length} entries for ${rb.used} slots`);
  for (let s = rb.freeHead; s !== NIL; s = rb.left(s)) {
    if (values[s] !== undefined) fail(`free slot ${s} still holds a value`);
    if (f[s * WORDS + SEQ] !== -1) fail(`free slot ${s} still has seq ${f[s * WORDS + SEQ]}`);
  }
}
