import { describe, expect, it } from "vitest";
import { MmunError } from "../../src/lib/errno.js";
import {
  checkIntervalTree,
  IntervalTree,
  type IntervalTreeNode,
  intervalTreeShape,
} from "../../src/lib/intervalTree.js";
import { checkRbIntervalTree, RbIntervalTree } from "../../src/lib/rbIntervalTree.js";
import { Rng } from "../../src/lib/rng.js";

function rbWalk(t: RbIntervalTree<number>, start: number, last: number): number[] {
  const out: number[] = [];
  for (let i = t.firstIndex(start, last); i !== -1; i = t.nextIndex(i, start, last)) out.push(t.valueAt(i));
  return out;
}

function walk(t: IntervalTree<number>, start: number, last: number): number[] {
  const out: number[] = [];
  for (let i = t.firstIndex(start, last); i !== -1; i = t.nextIndex(i, start, last)) out.push(t.valueAt(i));
  return out;
}

describe("RbIntervalTree (the kernel's layout) against IntervalTree (wide nodes)", () => {
  for (const [seed, keySpace, ops] of [
    [21, 50, 6000],
    [22, 1e6, 6000],
    [23, 2 ** 53 - 1, 3000],
  ] as const) {
    it(`returns the same intervals in the same order on ${ops} random ops, keys < ${keySpace} (seed ${seed})`, () => {
      const rng = new Rng(seed);
      const rb = new RbIntervalTree<number>();
      const wide = new IntervalTree<number>();
      const live: { slot: number; node: IntervalTreeNode<number> }[] = [];
      const key = () => (keySpace > 2 ** 32 ? rng.nextU32() * 2 ** 21 : rng.int(keySpace));
      for (let op = 0; op < ops; op++) {
        if (live.length === 0 || rng.next() < (live.length < 400 ? 0.65 : 0.45)) {
          const a = key();
          const b = rng.chance(0.5) ? key() : a + rng.int(1000);
          const [s, l] = a <= b ? [a, b] : [b, a];
          live.push({ slot: rb.insert(s, l, op), node: wide.insert(s, l, op) });
          checkRbIntervalTree(rb);
          checkIntervalTree(wide);
        } else {
          const k = rng.int(live.length);
          const e = live[k]!;
          live[k] = live[live.length - 1]!;
          live.pop();
          rb.remove(e.slot);
          wide.remove(e.node);
          checkRbIntervalTree(rb);
          checkIntervalTree(wide);
        }
        expect(rb.size).toBe(wide.size);
        const q = key();
        const r = rng.chance(0.3) ? q : q + rng.int(keySpace > 1000 ? 5000 : 10);
        const want = rbWalk(rb, q, r);
        const got = walk(wide, q, r);
        if (got.join() !== want.join()) expect(got).toEqual(want);
      }
      expect(walk(wide, 0, 2 ** 53 - 1)).toEqual(rbWalk(rb, 0, 2 ** 53 - 1));
    });
  }

  it("agrees on 40,000 mixed ops around 6,000 intervals (height 2: inner borrows and merges) (seed 31)", () => {
    const rng = new Rng(31);
    const rb = new RbIntervalTree<number>();
    const wide = new IntervalTree<number>();
    const live: { slot: number; node: IntervalTreeNode<number> }[] = [];
    let maxHeight = 0;
    for (let op = 0; op < 40_000; op++) {
      // Grow to ~6,000, shrink to ~500, grow again: whole subtrees empty out and refill.
      const phase = Math.floor(op / 10_000) % 2;
      const target = phase === 0 ? 6000 : 500;
      if (live.length === 0 || rng.next() < (live.length < target ? 0.7 : 0.3)) {
        const s = rng.int(1e7);
        const l = s + rng.int(rng.chance(0.05) ? 1e6 : 2000);
        live.push({ slot: rb.insert(s, l, op), node: wide.insert(s, l, op) });
      } else {
        const k = rng.int(live.length);
        const e = live[k]!;
        live[k] = live[live.length - 1]!;
        live.pop();
        rb.remove(e.slot);
        wide.remove(e.node);
      }
      maxHeight = Math.max(maxHeight, intervalTreeShape(wide).height);
      if (op % 250 === 0) {
        checkIntervalTree(wide);
        checkRbIntervalTree(rb);
      }
      const q = rng.int(1e7);
      const r = q + (rng.chance(0.5) ? 0 : rng.int(20_000));
      const want = rbWalk(rb, q, r);
      const got = walk(wide, q, r);
      if (got.join() !== want.join()) expect(got).toEqual(want);
    }
    checkIntervalTree(wide);
    expect(maxHeight).toBe(2);
    expect(walk(wide, 0, 2 ** 53 - 1)).toEqual(rbWalk(rb, 0, 2 ** 53 - 1));
  });

  it("rejects invalid keys with EINVAL and changes nothing", () => {
    const rb = new RbIntervalTree<number>();
    rb.insert(1, 2, 0);
    expect(() => rb.insert(3, 2, 1)).toThrow(MmunError);
    expect(() => rb.firstIndex(-1, 2)).toThrow(/EINVAL|non-negative/);
    expect(rb.size).toBe(1);
    checkRbIntervalTree(rb);
  });

  it("checkRbIntervalTree catches a corrupted subtree-last, a broken order and a wrong leftmost", () => {
    const rng = new Rng(5);
    const mk = () => {
      const t = new RbIntervalTree<number>();
      for (let i = 0; i < 100; i++) t.insert(rng.int(1000), 1000 + rng.int(1000), i);
      checkRbIntervalTree(t);
      return t;
    };
    const t1 = mk();
    const rb1 = t1["rb"];
    rb1.f64[rb1.root * rb1.words + 3] = 5; // subtree-last of the root
    expect(() => checkRbIntervalTree(t1)).toThrow(/subtree-last/);
    const t2 = mk();
    const rb2 = t2["rb"];
    rb2.f64[rb2.root * rb2.words + 2] = 1e9; // start of the root breaks the order
    expect(() => checkRbIntervalTree(t2)).toThrow(/starts at|holds/);
    const t3 = mk();
    t3["rb"].leftmost = t3["rb"].root;
    expect(() => checkRbIntervalTree(t3)).toThrow(/leftmost/);
  });
});
