// Tests of src/lib/rbtree.ts: the red-black core on its own, with a subtree-size augmentation
// to check the callback protocol independently of the interval tree.

import { describe, expect, it } from "vitest";
import {
  checkRbTree,
  RB_BLACK,
  RB_COLOR,
  RB_HEADER_WORDS,
  RB_NIL,
  RB_RED,
  RbTree,
} from "../../src/lib/rbtree.js";
import { Rng } from "../../src/lib/rng.js";

const KEY = RB_HEADER_WORDS; // user word 0: the key
const COUNT = RB_HEADER_WORDS + 1; // user word 1: nodes in the subtree (the augmented value)

/** A multiset of numbers on the core: the user side of rb_link_node, as a kernel user writes it. */
class CountedTree {
  readonly rb: RbTree;

  constructor() {
    const count = (n: number) => (n === RB_NIL ? 0 : this.rb.f64[n * this.rb.words + COUNT]!);
    const compute = (n: number) => 1 + count(this.rb.left(n)) + count(this.rb.right(n));
    this.rb = new RbTree(
      2,
      {
        propagate: (n, stop) => {
          while (n !== stop) {
            const v = compute(n);
            if (this.rb.f64[n * this.rb.words + COUNT] === v) break;
            this.rb.f64[n * this.rb.words + COUNT] = v;
            n = this.rb.parent(n);
          }
        },
        copy: (from, to) => {
          this.rb.f64[to * this.rb.words + COUNT] = this.rb.f64[from * this.rb.words + COUNT]!;
        },
        rotate: (from, to) => {
          this.rb.f64[to * this.rb.words + COUNT] = this.rb.f64[from * this.rb.words + COUNT]!;
          this.rb.f64[from * this.rb.words + COUNT] = compute(from);
        },
      },
      2,
    );
  }

  key(n: number): number {
    return this.rb.f64[n * this.rb.words + KEY]!;
  }

  insert(key: number): number {
    const rb = this.rb;
    const slot = rb.alloc();
    rb.f64[slot * rb.words + KEY] = key;
    rb.f64[slot * rb.words + COUNT] = 1;
    let parent = RB_NIL;
    let asLeft = false;
    let leftmost = true;
    for (let n = rb.root; n !== RB_NIL; ) {
      rb.f64[n * rb.words + COUNT]!++;
      parent = n;
      asLeft = key < this.key(n);
      if (!asLeft) leftmost = false;
      n = asLeft ? rb.left(n) : rb.right(n);
    }
    rb.insert(slot, parent, asLeft, leftmost);
    return slot;
  }

  remove(slot: number): void {
    this.rb.erase(slot);
    this.rb.free(slot);
  }

  /** Checks the core's invariants and every subtree count; returns the keys in order. */
  check(): number[] {
    const order = checkRbTree(this.rb);
    const rb = this.rb;
    const size = (n: number): number => {
      if (n === RB_NIL) return 0;
      const s = 1 + size(rb.left(n)) + size(rb.right(n));
      if (rb.f64[n * rb.words + COUNT] !== s)
        expect.fail(`slot ${n} counts ${rb.f64[n * rb.words + COUNT]}, has ${s}`);
      return s;
    };
    size(rb.root);
    return order.map((n) => this.key(n));
  }
}

describe("RbTree", () => {
  it("keeps a sorted multiset, balanced, with exact augmented counts over 5000 random ops (seed 3)", () => {
    const rng = new Rng(3);
    const t = new CountedTree();
    const live: { slot: number; key: number }[] = [];
    for (let op = 0; op < 5000; op++) {
      if (live.length === 0 || rng.chance(live.length < 150 ? 0.6 : 0.4)) {
        const key = rng.int(64);
        live.push({ slot: t.insert(key), key });
      } else {
        const i = rng.int(live.length);
        t.remove(live[i]!.slot);
        live.splice(i, 1);
      }
      const keys = t.check();
      const want = live.map((e) => e.key).sort((a, b) => a - b);
      if (keys.length !== want.length || keys.some((k, i) => k !== want[i])) expect(keys).toEqual(want);
    }
  });

  it("walks in order both ways with next() and prev()", () => {
    const t = new CountedTree();
    const rng = new Rng(4);
    for (let i = 0; i < 300; i++) t.insert(rng.int(1000));
    const forward: number[] = [];
    let last = RB_NIL;
    for (let n = t.rb.leftmost; n !== RB_NIL; n = t.rb.next(n)) {
      forward.push(t.key(n));
      last = n;
    }
    const backward: number[] = [];
    for (let n = last; n !== RB_NIL; n = t.rb.prev(n)) backward.push(t.key(n));
    expect(forward).toEqual(t.check());
    expect(backward).toEqual([...forward].reverse());
  });

  it("grows its pool by doubling and reuses freed slots last-in first-out", () => {
    const t = new CountedTree();
    expect(t.rb.capacity).toBe(2);
    const slots = Array.from({ length: 100 }, (_, i) => t.insert(i));
    expect(t.rb.capacity).toBe(128);
    expect(slots).toEqual(Array.from({ length: 100 }, (_, i) => i));
    t.remove(slots[10]!);
    t.remove(slots[20]!);
    expect(t.rb.freeCount).toBe(2);
    expect(t.rb.isLive(10)).toBe(false);
    expect(t.insert(5)).toBe(20);
    expect(t.insert(5)).toBe(10);
    expect(t.rb.used).toBe(100);
    t.check();
  });

  it("checkRbTree reports a red root, a red-red edge, unequal black heights and a leaked slot", () => {
    const mk = () => {
      const t = new CountedTree();
      for (let i = 0; i < 50; i++) t.insert(i);
      return t;
    };
    const words = (t: CountedTree) => t.rb.stride32;
    const t1 = mk();
    t1.rb.i32[t1.rb.root * words(t1) + RB_COLOR] = RB_RED;
    expect(() => t1.check()).toThrow(/root .* is not black/);

    const t2 = mk();
    // Paint every node red: some red node then has a red child.
    for (let n = t2.rb.leftmost; n !== RB_NIL; n = t2.rb.next(n)) {
      if (n !== t2.rb.root) t2.rb.i32[n * words(t2) + RB_COLOR] = RB_RED;
    }
    expect(() => t2.check()).toThrow(/red slot .* has red child|black height/);

    const t3 = mk();
    const leaf = t3.rb.leftmost;
    t3.rb.i32[leaf * words(t3) + RB_COLOR] = t3.rb.color(leaf) === RB_BLACK ? RB_RED : RB_BLACK;
    expect(() => t3.check()).toThrow(/black height|red child/);

    const t4 = mk();
    t4.rb.alloc(); // allocated, never inserted nor freed
    expect(() => t4.check()).toThrow(/leaked/);
  });
});
