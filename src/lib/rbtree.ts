// Follows lib/rbtree.c and include/linux/rbtree_augmented.h: the red-black core, blind to what it orders.
//
// Nodes live in a pool of fixed-size slots inside one ArrayBuffer, viewed both as a Float64Array and as
// an Int32Array. A slot is `words` 8-byte words long. The first RB_HEADER_WORDS words belong to this
// core: int32 offsets RB_LEFT, RB_RIGHT, RB_PARENT and RB_COLOR (the kernel's rb_node); the words after
// them are the user's (the kernel's container struct around rb_node). Links are slot indices, RB_NIL
// for none. As with rb_link_node() in the kernel, the user finds the insertion point itself and hands
// it to insert(); this core only rebalances, and keeps the user's augmented values right through the
// three callbacks of RbAugmentCallbacks (the kernel's struct rb_augment_callbacks).

import { MmunError } from "./errno.js";

/** The null link (the kernel's NULL rb_node pointer). */
export const RB_NIL = -1;

/** Int32 offset of the left link inside a slot. */
export const RB_LEFT = 0;
/** Int32 offset of the right link inside a slot. */
export const RB_RIGHT = 1;
/** Int32 offset of the parent link inside a slot. */
export const RB_PARENT = 2;
/** Int32 offset of the color inside a slot (RB_RED, RB_BLACK, or RB_FREE for a slot not in use). */
export const RB_COLOR = 3;
/** Number of leading 8-byte words of every slot that belong to the core. */
export const RB_HEADER_WORDS = 2;

/** Color of a red node. */
export const RB_RED = 0;
/** Color of a black node. */
export const RB_BLACK = 1;
/** Color value marking a slot on the free list. */
export const RB_FREE = 2;

const NIL = RB_NIL;
const LEFT = RB_LEFT;
const RIGHT = RB_RIGHT;
const PARENT = RB_PARENT;
const COLOR = RB_COLOR;
const RED = RB_RED;
const BLACK = RB_BLACK;
const FREE = RB_FREE;

/** Largest Int32Array index a slot may reach. */
const MAX_INT32_INDEX = 0x7fffffff;

/**
 * How the tree keeps a per-node aggregate (for the interval tree: the largest `last` in the subtree)
 * right while it restructures, as the kernel's `struct rb_augment_callbacks`.
 */
export interface RbAugmentCallbacks {
  /**
   * Recompute the aggregate of `node`, then of its ancestors, stopping before `stop` (RB_NIL for the
   * root) or at the first node whose aggregate did not change. `node` may be RB_NIL (no-op).
   */
  propagate(node: number, stop: number): void;
  /** `to` has taken the place of `from` in the tree: give it `from`'s aggregate. */
  copy(from: number, to: number): void;
  /**
   * A rotation made `to` the root of the subtree `from` was the root of: `to` takes `from`'s aggregate
   * (same set of nodes) and `from` recomputes its own from its new children.
   */
  rotate(from: number, to: number): void;
}

/** Callbacks for a tree without an aggregate (the kernel's dummy callbacks). */
export const RB_NO_AUGMENT: RbAugmentCallbacks = {
  propagate() {},
  copy() {},
  rotate() {},
};

/**
 * A red-black tree over a pool of slots, with a cached leftmost node (the kernel's rb_root_cached).
 *
 * Contract: the user allocates a slot with alloc(), writes its own words, finds the parent and side by
 * descending from `root`, and calls insert(). It calls erase() to unlink a slot and free() to give the
 * slot back. The typed-array views are replaced when the pool grows (only alloc() grows it), so users
 * must re-read `f64` / `i32` after alloc().
 */
export class RbTree {
  /** The pool as doubles: word `w` of slot `i` is `f64[i * words + w]`. Replaced when the pool grows. */
  f64: Float64Array;
  /** The pool as int32: the core fields of slot `i` are `i32[i * stride32 + RB_LEFT…RB_COLOR]`. */
  i32: Int32Array;
  /** Slot size in 8-byte words (RB_HEADER_WORDS plus the user's words). */
  readonly words: number;
  /** Slot size in int32 units (2 * words). */
  readonly stride32: number;
  /** The root slot, or RB_NIL when the tree is empty. */
  root = NIL;
  /** The leftmost (first in order) slot, or RB_NIL when the tree is empty; kept in O(1). */
  leftmost = NIL;
  /** Number of slots linked into the tree. */
  size = 0;
  /** Slots handed out so far (high-water mark): every slot below is in the tree or on the free list. */
  used = 0;
  /** Head of the free list (linked through RB_LEFT), RB_NIL when empty. */
  freeHead = NIL;
  /** Length of the free list. */
  freeCount = 0;
  private readonly augment: RbAugmentCallbacks;

  /**
   * @param userWords 8-byte words per slot for the user, after the core's header words.
   * @param augment aggregate maintenance (RB_NO_AUGMENT for none).
   * @param initialCapacity slots to allocate up front (the pool doubles when full).
   */
  constructor(userWords: number, augment: RbAugmentCallbacks = RB_NO_AUGMENT, initialCapacity = 16) {
    if (!Number.isInteger(userWords) || userWords < 0) {
      throw new MmunError("EINVAL", `RbTree userWords must be a non-negative integer, got ${userWords}`);
    }
    if (!Number.isInteger(initialCapacity) || initialCapacity < 1) {
      throw new MmunError(
        "EINVAL",
        `RbTree initialCapacity must be a positive integer, got ${initialCapacity}`,
      );
    }
    this.words = RB_HEADER_WORDS + userWords;
    this.stride32 = this.words * 2;
    this.augment = augment;
    const buf = new ArrayBuffer(initialCapacity * this.words * 8);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
  }

  /** Number of slots the pool holds before it must grow. */
  get capacity(): number {
    return this.f64.length / this.words;
  }

  /** Takes a slot from the free list, else the pool (growing replaces the views). Pairs with free(). */
  alloc(): number {
    const head = this.freeHead;
    if (head !== NIL) {
      this.freeHead = this.i32[head * this.stride32 + LEFT]!;
      this.freeCount--;
      this.i32[head * this.stride32 + COLOR] = RED;
      return head;
    }
    if (this.used === this.capacity) this.grow();
    const slot = this.used++;
    this.i32[slot * this.stride32 + COLOR] = RED;
    return slot;
  }

  /** Puts an erased (or never inserted) slot on the free list. Pairs with alloc(). */
  free(slot: number): void {
    const base = slot * this.stride32;
    this.i32[base + LEFT] = this.freeHead;
    this.i32[base + RIGHT] = NIL;
    this.i32[base + PARENT] = NIL;
    this.i32[base + COLOR] = FREE;
    this.freeHead = slot;
    this.freeCount++;
  }

  /** Whether `slot` is a slot of this pool that is not on the free list. */
  isLive(slot: number): boolean {
    return slot >= 0 && slot < this.used && this.i32[slot * this.stride32 + COLOR] !== FREE;
  }

  /** Left child of `slot`, or RB_NIL. */
  left(slot: number): number {
    return this.i32[slot * this.stride32 + LEFT]!;
  }

  /** Right child of `slot`, or RB_NIL. */
  right(slot: number): number {
    return this.i32[slot * this.stride32 + RIGHT]!;
  }

  /** Parent of `slot`, or RB_NIL for the root. */
  parent(slot: number): number {
    return this.i32[slot * this.stride32 + PARENT]!;
  }

  /** Color of `slot`: RB_RED, RB_BLACK or RB_FREE. */
  color(slot: number): number {
    return this.i32[slot * this.stride32 + COLOR]!;
  }

  /**
   * Links `slot` as the `asLeft` child of `parent` (RB_NIL: as the root) and rebalances, as the
   * kernel's rb_link_node() followed by rb_insert_augmented_cached(). The caller has already updated
   * the aggregates along the descent and set `slot`'s own. `isLeftmost`: the descent only went left.
   * Pairs with erase().
   */
  insert(slot: number, parent: number, asLeft: boolean, isLeftmost: boolean): void {
    const a = this.i32;
    const s = this.stride32;
    const base = slot * s;
    a[base + LEFT] = NIL;
    a[base + RIGHT] = NIL;
    a[base + PARENT] = parent;
    a[base + COLOR] = RED;
    if (parent === NIL) this.root = slot;
    else a[parent * s + (asLeft ? LEFT : RIGHT)] = slot;
    if (isLeftmost) this.leftmost = slot;
    this.size++;
    this.insertColor(slot);
  }

  /**
   * Unlinks `slot` from the tree and rebalances (rb_erase_augmented_cached). The slot stays allocated
   * until free(). Pairs with insert().
   */
  erase(slot: number): void {
    const a = this.i32;
    const s = this.stride32;
    const aug = this.augment;
    if (slot === this.leftmost) this.leftmost = this.next(slot);
    const zb = slot * s;
    const l = a[zb + LEFT]!;
    const r = a[zb + RIGHT]!;
    const p = a[zb + PARENT]!;
    // Parent of the position that lost a black node, or NIL when no recoloring is needed.
    let fixParent = NIL;
    if (l === NIL || r === NIL) {
      // At most one child: splice the node out. A lone child is always red under a black node.
      const child = l === NIL ? r : l;
      this.replaceChild(p, slot, child);
      if (child !== NIL) {
        a[child * s + PARENT] = p;
        a[child * s + COLOR] = BLACK;
      } else if (a[zb + COLOR] === BLACK) {
        fixParent = p;
      }
      aug.propagate(p, NIL);
    } else {
      // Two children: the in-order successor (leftmost of the right subtree) takes the node's place.
      let succ = r;
      let xParent: number;
      let x: number;
      if (a[r * s + LEFT] === NIL) {
        xParent = r;
        x = a[r * s + RIGHT]!;
        aug.copy(slot, r);
      } else {
        do succ = a[succ * s + LEFT]!;
        while (a[succ * s + LEFT] !== NIL);
        xParent = a[succ * s + PARENT]!;
        x = a[succ * s + RIGHT]!;
        a[xParent * s + LEFT] = x;
        if (x !== NIL) a[x * s + PARENT] = xParent;
        a[succ * s + RIGHT] = r;
        a[r * s + PARENT] = succ;
        aug.copy(slot, succ);
        aug.propagate(xParent, succ);
      }
      const sb = succ * s;
      a[sb + LEFT] = l;
      a[l * s + PARENT] = succ;
      this.replaceChild(p, slot, succ);
      a[sb + PARENT] = p;
      const succColor = a[sb + COLOR];
      a[sb + COLOR] = a[zb + COLOR]!;
      if (x !== NIL) a[x * s + COLOR] = BLACK;
      else if (succColor === BLACK) fixParent = xParent;
      aug.propagate(succ, NIL);
    }
    this.size--;
    if (fixParent !== NIL) this.eraseColor(fixParent);
  }

  /** The in-order successor of `slot`, or RB_NIL (rb_next). */
  next(slot: number): number {
    const a = this.i32;
    const s = this.stride32;
    let n = a[slot * s + RIGHT]!;
    if (n !== NIL) {
      for (let l = a[n * s + LEFT]!; l !== NIL; l = a[n * s + LEFT]!) n = l;
      return n;
    }
    let p = a[slot * s + PARENT]!;
    while (p !== NIL && a[p * s + RIGHT] === slot) {
      slot = p;
      p = a[p * s + PARENT]!;
    }
    return p;
  }

  /** The in-order predecessor of `slot`, or RB_NIL (rb_prev). */
  prev(slot: number): number {
    const a = this.i32;
    const s = this.stride32;
    let n = a[slot * s + LEFT]!;
    if (n !== NIL) {
      for (let r = a[n * s + RIGHT]!; r !== NIL; r = a[n * s + RIGHT]!) n = r;
      return n;
    }
    let p = a[slot * s + PARENT]!;
    while (p !== NIL && a[p * s + LEFT] === slot) {
      slot = p;
      p = a[p * s + PARENT]!;
    }
    return p;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    if (capacity * this.stride32 > MAX_INT32_INDEX + 1) {
      throw new MmunError("ENOMEM", `RbTree pool cannot grow past ${this.capacity} slots`);
    }
    const f64 = new Float64Array(capacity * this.words);
    f64.set(this.f64);
    this.f64 = f64;
    this.i32 = new Int32Array(f64.buffer);
  }

  private replaceChild(parent: number, old: number, child: number): void {
    if (parent === NIL) {
      this.root = child;
      return;
    }
    const pb = parent * this.stride32;
    if (this.i32[pb + LEFT] === old) this.i32[pb + LEFT] = child;
    else this.i32[pb + RIGHT] = child;
  }

  // The right child of `x` becomes the root of x's subtree; colors are the caller's business.
  private rotateLeft(x: number): void {
    const a = this.i32;
    const s = this.stride32;
    const xb = x * s;
    const y = a[xb + RIGHT]!;
    const yb = y * s;
    const b = a[yb + LEFT]!;
    a[xb + RIGHT] = b;
    if (b !== NIL) a[b * s + PARENT] = x;
    const p = a[xb + PARENT]!;
    a[yb + PARENT] = p;
    this.replaceChild(p, x, y);
    a[yb + LEFT] = x;
    a[xb + PARENT] = y;
    this.augment.rotate(x, y);
  }

  // The left child of `x` becomes the root of x's subtree; mirror of rotateLeft.
  private rotateRight(x: number): void {
    const a = this.i32;
    const s = this.stride32;
    const xb = x * s;
    const y = a[xb + LEFT]!;
    const yb = y * s;
    const b = a[yb + RIGHT]!;
    a[xb + LEFT] = b;
    if (b !== NIL) a[b * s + PARENT] = x;
    const p = a[xb + PARENT]!;
    a[yb + PARENT] = p;
    this.replaceChild(p, x, y);
    a[yb + RIGHT] = x;
    a[xb + PARENT] = y;
    this.augment.rotate(x, y);
  }

  // Restores the red rule after linking the red node `z` (__rb_insert).
  private insertColor(z: number): void {
    const a = this.i32;
    const s = this.stride32;
    for (;;) {
      let p = a[z * s + PARENT]!;
      if (p === NIL) {
        a[z * s + COLOR] = BLACK; // the root is black
        return;
      }
      if (a[p * s + COLOR] === BLACK) return;
      const g = a[p * s + PARENT]!; // p is red, so it is not the root
      const gb = g * s;
      if (p === a[gb + LEFT]) {
        const u = a[gb + RIGHT]!;
        if (u !== NIL && a[u * s + COLOR] === RED) {
          // Red uncle: push the blackness down from the grandparent and continue above it.
          a[p * s + COLOR] = BLACK;
          a[u * s + COLOR] = BLACK;
          a[gb + COLOR] = RED;
          z = g;
          continue;
        }
        if (z === a[p * s + RIGHT]) {
          // Inner grandchild: turn it into an outer one.
          this.rotateLeft(p);
          z = p;
          p = a[z * s + PARENT]!;
        }
        a[p * s + COLOR] = BLACK;
        a[gb + COLOR] = RED;
        this.rotateRight(g);
        return;
      }
      const u = a[gb + LEFT]!;
      if (u !== NIL && a[u * s + COLOR] === RED) {
        a[p * s + COLOR] = BLACK;
        a[u * s + COLOR] = BLACK;
        a[gb + COLOR] = RED;
        z = g;
        continue;
      }
      if (z === a[p * s + LEFT]) {
        this.rotateRight(p);
        z = p;
        p = a[z * s + PARENT]!;
      }
      a[p * s + COLOR] = BLACK;
      a[gb + COLOR] = RED;
      this.rotateLeft(g);
      return;
    }
  }

  // Restores equal black heights after a black node left one child position of `parent`
  // (____rb_erase_color). `x` is the node on the short side (RB_NIL at first).
  private eraseColor(parent: number): void {
    const a = this.i32;
    const s = this.stride32;
    let x = NIL;
    for (;;) {
      const pb = parent * s;
      let w = a[pb + RIGHT]!;
      if (x !== w) {
        // x is the left child; its sibling w is not NIL (it carries the missing black).
        if (a[w * s + COLOR] === RED) {
          a[w * s + COLOR] = BLACK;
          a[pb + COLOR] = RED;
          this.rotateLeft(parent);
          w = a[pb + RIGHT]!;
        }
        let wb = w * s;
        const wr = a[wb + RIGHT]!;
        if (wr === NIL || a[wr * s + COLOR] === BLACK) {
          const wl = a[wb + LEFT]!;
          if (wl === NIL || a[wl * s + COLOR] === BLACK) {
            // Both nephews black: make w red and move the deficit up (or absorb it in a red parent).
            a[wb + COLOR] = RED;
            if (a[pb + COLOR] === RED) {
              a[pb + COLOR] = BLACK;
              return;
            }
            x = parent;
            parent = a[pb + PARENT]!;
            if (parent === NIL) return;
            continue;
          }
          // Near nephew red, far nephew black: rotate it into the far position.
          a[wl * s + COLOR] = BLACK;
          a[wb + COLOR] = RED;
          this.rotateRight(w);
          w = a[pb + RIGHT]!;
          wb = w * s;
        }
        // Far nephew red: one rotation at the parent settles it.
        a[wb + COLOR] = a[pb + COLOR]!;
        a[pb + COLOR] = BLACK;
        a[a[wb + RIGHT]! * s + COLOR] = BLACK;
        this.rotateLeft(parent);
        return;
      }
      // Mirror: x is the right child.
      w = a[pb + LEFT]!;
      if (a[w * s + COLOR] === RED) {
        a[w * s + COLOR] = BLACK;
        a[pb + COLOR] = RED;
        this.rotateRight(parent);
        w = a[pb + LEFT]!;
      }
      let wb = w * s;
      const wl = a[wb + LEFT]!;
      if (wl === NIL || a[wl * s + COLOR] === BLACK) {
        const wr = a[wb + RIGHT]!;
        if (wr === NIL || a[wr * s + COLOR] === BLACK) {
          a[wb + COLOR] = RED;
          if (a[pb + COLOR] === RED) {
            a[pb + COLOR] = BLACK;
            return;
          }
          x = parent;
          parent = a[pb + PARENT]!;
          if (parent === NIL) return;
          continue;
        }
        a[wr * s + COLOR] = BLACK;
        a[wb + COLOR] = RED;
        this.rotateLeft(w);
        w = a[pb + LEFT]!;
        wb = w * s;
      }
      a[wb + COLOR] = a[pb + COLOR]!;
      a[pb + COLOR] = BLACK;
      a[a[wb + LEFT]! * s + COLOR] = BLACK;
      this.rotateRight(parent);
      return;
    }
  }
}

/**
 * Checks every red-black invariant of `tree` and returns its slots in order: parent links, a black
 * root, no red node with a red child, equal black height on every path, `size`, the cached leftmost,
 * and the free list (every slot below `used` is in the tree or on the free list, never both). Throws an
 * Error naming the first violation. O(n); for tests and debug mode.
 */
export function checkRbTree(tree: RbTree): number[] {
  const fail = (msg: string): never => {
    throw new Error(`rbtree invariant violated: ${msg}`);
  };
  const seen = new Uint8Array(tree.used);
  const order: number[] = [];
  if (tree.root !== NIL) {
    if (!tree.isLive(tree.root)) fail(`root ${tree.root} is not a live slot`);
    if (tree.parent(tree.root) !== NIL) fail(`root ${tree.root} has parent ${tree.parent(tree.root)}`);
    if (tree.color(tree.root) !== BLACK) fail(`root ${tree.root} is not black`);
  }
  // Iterative in-order walk carrying the black count from the root.
  let blackHeight = -1;
  const stack: number[] = [];
  const blacks: number[] = [];
  let n = tree.root;
  let b = 0;
  while (n !== NIL || stack.length > 0) {
    while (n !== NIL) {
      if (!tree.isLive(n)) fail(`slot ${n} is linked into the tree but is not live`);
      if (seen[n]) fail(`slot ${n} is reachable twice (cycle or shared child)`);
      seen[n] = 1;
      const c = tree.color(n);
      if (c !== RED && c !== BLACK) fail(`slot ${n} has color ${c}`);
      if (c === BLACK) b++;
      for (const child of [tree.left(n), tree.right(n)]) {
        if (child === NIL) {
          if (blackHeight === -1) blackHeight = b;
          else if (blackHeight !== b) fail(`black height ${b} below slot ${n}, expected ${blackHeight}`);
        } else {
          if (child < 0 || child >= tree.used) fail(`slot ${n} links to out-of-range slot ${child}`);
          if (tree.parent(child) !== n) fail(`slot ${child} has parent ${tree.parent(child)}, expected ${n}`);
          if (c === RED && tree.color(child) === RED) fail(`red slot ${n} has red child ${child}`);
        }
      }
      stack.push(n);
      blacks.push(b);
      n = tree.left(n);
    }
    n = stack.pop()!;
    b = blacks.pop()!;
    order.push(n);
    n = tree.right(n);
  }
  if (order.length !== tree.size) fail(`size is ${tree.size} but ${order.length} slots are linked`);
  const first = order.length > 0 ? order[0]! : NIL;
  if (tree.leftmost !== first) fail(`cached leftmost is ${tree.leftmost}, actual leftmost is ${first}`);
  let free = 0;
  for (let f = tree.freeHead; f !== NIL; f = tree.left(f)) {
    if (f < 0 || f >= tree.used) fail(`free list reaches out-of-range slot ${f}`);
    if (seen[f]) fail(`slot ${f} is on the free list and ${seen[f] === 1 ? "in the tree" : "listed twice"}`);
    if (tree.color(f) !== FREE) fail(`slot ${f} is on the free list but not marked free`);
    seen[f] = 2;
    free++;
  }
  if (free !== tree.freeCount) fail(`freeCount is ${tree.freeCount} but the free list holds ${free}`);
  if (free + order.length !== tree.used) {
    fail(`${tree.used} slots used but ${order.length} in the tree and ${free} free (leaked slots)`);
  }
  return order;
}
