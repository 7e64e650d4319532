// Follows include/linux/interval_tree_generic.h (lib/interval_tree.c): the kernel's augmented red-black
// interval tree, kept as the reference IntervalTree (intervalTree.ts, a wide-node B+ tree) is tested
// and measured against. Not exported from the package root.
//
// Each node stores a closed interval [start, last], a value, and the largest `last` of its subtree
// (the kernel's __subtree_last), which lets a query skip every subtree that ends before it. The
// red-black core (rbtree.ts) does the balancing; this file does the key descent, supplies the
// subtree-last callbacks and the two intersection conditions, as the kernel's generic header does.
//
// Slot layout (6 words, 48 bytes): the core's links and color, then start, subtree-last, last and the
// insertion sequence number, so a descent reads one 32-byte run per node. Values sit in a plain array
// indexed by slot.

import { checkInterval, isKey } from "./interval.js";
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
 * The kernel's interval tree (interval_tree_generic.h) with IntervalTree's semantics, addressed by slot:
 * insert returns the node's slot, remove takes it, and queries walk slots with firstIndex/nextIndex.
 * Invalid keys throw `MmunError("EINVAL")` and change nothing; slots are not checked (reference code).
 */
export class RbIntervalTree<T> {
  private readonly rb: RbTree;
  private readonly values: (T | undefined)[] = [];
  private nextSeq = 0;

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

  /** Stores `[start, last]` with `value` and returns its slot; equal intervals sort after. Pairs with remove(). */
  insert(start: number, last: number, value: T): number {
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
    return slot;
  }

  /** Removes the node in live slot `slot`. Pairs with insert(). */
  remove(slot: number): void {
    const rb = this.rb;
    rb.erase(slot);
    rb.free(slot);
    rb.f64[slot * WORDS + SEQ] = -1;
    this.values[slot] = undefined;
  }

  /** Slot of the first node intersecting `[start, last]`, or -1 (iter_first). Validates the query. */
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

  /** Slot of the next node after live slot `i` intersecting `[start, last]`, or -1 (iter_next). */
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

  /** Value stored in live slot `i`. */
  valueAt(i: number): T {
    return this.values[i] as T;
  }

  /** Start of the interval in live slot `i`. */
  startAt(i: number): number {
    return this.rb.f64[i * WORDS + START]!;
  }

  /** Last of the interval in live slot `i`. */
  lastAt(i: number): number {
    return this.rb.f64[i * WORDS + LAST]!;
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

/**
 * Checks every invariant of `tree` (the red-black rules via checkRbTree, then: keys are valid
 * intervals, in-order starts never decrease, equal starts are in insertion order, every cached
 * subtree-last is the maximum `last` of its subtree, free slots hold no value). Throws an Error naming
 * the first violation. O(n); for tests and the explorer's debug mode, not part of the public API.
 */
export function checkRbIntervalTree<T>(tree: RbIntervalTree<T>): void {
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
