import { describe, expect, it } from "vitest";
import { MmunError } from "../../src/lib/errno.js";
import { IntervalTree, type IntervalTreeNode } from "../../src/lib/intervalTree.js";
import { checkIntervalTree, intervalTreeShape } from "../../src/lib/intervalTreeCheck.js";
import { checkRbIntervalTree, RbIntervalTree } from "../../src/lib/rbIntervalTree.js";
import { Rng } from "../../src/lib/rng.js";

/** The cursor walk both trees share (firstIndex/nextIndex/valueAt). */
interface Walkable {
  firstIndex(start: number, last: number): number;
  nextIndex(i: number, start: number, last: number): number;
  valueAt(i: number): number;
}

function walk(t: Walkable, start: number, last: number): number[] {
  const out: number[] = [];
  for (let i = t.firstIndex(start, last); i !== -1; i = t.nextIndex(i, start, last)) out.push(t.valueAt(i));
  return out;
}

/** The same intervals in the kernel-layout tree and the wide-node tree, changed in lockstep. */
class Twins {
  readonly rb = new RbIntervalTree<number>();
  readonly wide = new IntervalTree<number>();
  private readonly live: { slot: number; node: IntervalTreeNode<number> }[] = [];

  get size(): number {
    return this.live.length;
  }

  insert(start: number, last: number, value: number): void {
    this.live.push({ slot: this.rb.insert(start, last, value), node: this.wide.insert(start, last, value) });
  }

  removeRandom(rng: Rng): void {
    const k = rng.int(this.live.length);
    const e = this.live[k]!;
    this.live[k] = this.live[this.live.length - 1]!;
    this.live.pop();
    this.rb.remove(e.slot);
    this.wide.remove(e.node);
  }

  check(): void {
    checkRbIntervalTree(this.rb);
    checkIntervalTree(this.wide);
    expect(this.rb.size).toBe(this.wide.size);
  }

  /** Both trees return the same values, in the same order, for [start, last]. */
  agree(start: number, last: number): void {
    const want = walk(this.rb, start, last);
    const got = walk(this.wide, start, last);
    if (got.join() !== want.join()) expect(got).toEqual(want);
  }
}

describe("RbIntervalTree (the kernel's layout) against IntervalTree (wide nodes)", () => {
  for (const [seed, keySpace, ops] of [
    [21, 50, 6000],
    [22, 1e6, 6000],
    [23, 2 ** 53 - 1, 3000],
  ] as const) {
    it(`returns the same intervals in the same order on ${ops} random ops, keys < ${keySpace} (seed ${seed})`, () => {
      const rng = new Rng(seed);
      const twins = new Twins();
      const key = () => (keySpace > 2 ** 32 ? rng.nextU32() * 2 ** 21 : rng.int(keySpace));
      for (let op = 0; op < ops; op++) {
        if (twins.size === 0 || rng.next() < (twins.size < 400 ? 0.65 : 0.45)) {
          const a = key();
          const b = rng.chance(0.5) ? key() : a + rng.int(1000);
          twins.insert(Math.min(a, b), Math.max(a, b), op);
        } else {
          twins.removeRandom(rng);
        }
        twins.check();
        const q = key();
        twins.agree(q, rng.chance(0.3) ? q : q + rng.int(keySpace > 1000 ? 5000 : 10));
      }
      twins.agree(0, 2 ** 53 - 1);
    });
  }

  it("agrees on 40,000 mixed ops around 6,000 intervals (height 2: inner borrows and merges) (seed 31)", () => {
    const rng = new Rng(31);
    const twins = new Twins();
    let maxHeight = 0;
    for (let op = 0; op < 40_000; op++) {
      // Grow to ~6,000, shrink to ~500, grow again: whole subtrees empty out and refill.
      const target = Math.floor(op / 10_000) % 2 === 0 ? 6000 : 500;
      if (twins.size === 0 || rng.next() < (twins.size < target ? 0.7 : 0.3)) {
        const s = rng.int(1e7);
        twins.insert(s, s + rng.int(rng.chance(0.05) ? 1e6 : 2000), op);
      } else {
        twins.removeRandom(rng);
      }
      maxHeight = Math.max(maxHeight, intervalTreeShape(twins.wide).height);
      if (op % 250 === 0) twins.check();
      const q = rng.int(1e7);
      twins.agree(q, q + (rng.chance(0.5) ? 0 : rng.int(20_000)));
    }
    twins.check();
    expect(maxHeight).toBe(2);
    twins.agree(0, 2 ** 53 - 1);
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
