// Tests of src/lib/intervalTree.ts: differential against a brute-force array model (every invariant
// checked after every mutation), adversarial shapes, argument errors, and @flatten-js as an oracle.

import FlattenIntervalTree from "@flatten-js/interval-tree";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MmunError } from "../../src/lib/errno.js";
import { IntervalTree, type IntervalTreeNode } from "../../src/lib/intervalTree.js";
import { Rng } from "../../src/lib/rng.js";
import {
  checkIntervalTree,
  compare,
  INTERVAL_TREE_LAYOUT,
  intervalTreeShape,
  type KeySpace,
  MAX,
  Model,
  randomInterval,
  SPACES,
  uniform,
  values,
  walk,
} from "./intervalModel.js";

/**
 * Random ops against the model; the tree size drifts around `target`. Checks every invariant after
 * every mutation and compares a query after every op.
 */
function differential(seed: number, ks: KeySpace, ops: number, target: number): void {
  const rng = new Rng(seed);
  const tree = new IntervalTree<number>();
  const model = new Model();
  let nextValue = 0;
  for (let op = 0; op < ops; op++) {
    const r = rng.next();
    const grow = model.entries.length < target ? 0.6 : 0.4;
    if (r < grow || model.entries.length === 0) {
      const [s, l] = randomInterval(rng, ks);
      const v = nextValue++;
      const h = tree.insert(s, l, v);
      expect([h.start, h.last, h.value]).toEqual([s, l, v]);
      model.add(s, l, v, h);
      checkIntervalTree(tree);
    } else if (r < 0.9) {
      const i = rng.int(model.entries.length);
      const e = model.entries[i]!;
      // Any handle for the node works: the one insert returned, or a fresh one from a query.
      let handle = e.handle;
      if (rng.chance(0.3)) {
        const fresh = [...tree.overlapping(e.start, e.start)].find((n) => n.sameAs(e.handle));
        expect(fresh).toBeDefined();
        handle = fresh!;
      }
      tree.remove(handle);
      model.removeAt(i);
      checkIntervalTree(tree);
      expect(() => tree.remove(e.handle)).toThrow(MmunError);
    } else if (r < 0.95 && model.entries.length > 0) {
      // iterNext from an arbitrary stored node: the next intersecting node after it in order.
      const [qs, ql] = randomInterval(rng, ks);
      const sorted = model.sorted();
      const k = rng.int(sorted.length);
      const after = sorted.slice(k + 1).filter((e) => e.start <= ql && qs <= e.last);
      expect(tree.iterNext(sorted[k]!.handle, qs, ql)?.value).toBe(after[0]?.value);
      const next = tree.nextIndex(tree.indexOf(sorted[k]!.handle), qs, ql);
      expect(next === -1 ? undefined : tree.valueAt(next)).toBe(after[0]?.value);
    }
    const [qs, ql] = rng.chance(0.2) ? [uniform(rng, ks.lo, ks.hi), -1] : randomInterval(rng, ks);
    compare(tree, model, qs, ql === -1 ? qs : ql);
    if (rng.chance(0.05)) {
      // Every live handle finds its node, whether its remembered cursor still holds or not.
      for (const e of model.entries) expect(tree.valueAt(tree.indexOf(e.handle))).toBe(e.value);
    }
  }
  // Drain completely: removal down to empty, with the validator at every step.
  const rest = rng.shuffle([...model.entries]);
  for (const e of rest) {
    tree.remove(e.handle);
    checkIntervalTree(tree);
  }
  expect(tree.size).toBe(0);
  expect(tree.first()).toBeUndefined();
  expect(tree.iterFirst(ks.lo, ks.hi)).toBeUndefined();
}

describe("IntervalTree against an array model", () => {
  const runs: [number, KeySpace, number, number][] = [
    [42, SPACES[0]!, 3000, 40],
    [7, SPACES[0]!, 2000, 300],
    [43, SPACES[1]!, 10_000, 200],
    [44, SPACES[2]!, 4000, 150],
    [45, SPACES[3]!, 4000, 150],
  ];
  for (const [seed, ks, ops, target] of runs) {
    it(`matches the model on ${ops} random ops, key space ${ks.name}, size ~${target} (seed ${seed})`, () => {
      differential(seed, ks, ops, target);
    });
  }

  it("matches the model on fast-check op sequences with shrinking (seed 1234)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("insert" as const), a: fc.nat(16), b: fc.nat(16) }),
      fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("query" as const), a: fc.nat(16), b: fc.nat(16) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const tree = new IntervalTree<number>();
        const model = new Model();
        let v = 0;
        for (const o of ops) {
          if (o.kind === "insert") {
            const [s, l] = o.a <= o.b ? [o.a, o.b] : [o.b, o.a];
            model.add(s, l, v, tree.insert(s, l, v));
            v++;
            checkIntervalTree(tree);
          } else if (o.kind === "remove" && model.entries.length > 0) {
            const i = o.pick % model.entries.length;
            tree.remove(model.entries[i]!.handle);
            model.removeAt(i);
            checkIntervalTree(tree);
          } else if (o.kind === "query") {
            const [s, l] = o.a <= o.b ? [o.a, o.b] : [o.b, o.a];
            compare(tree, model, s, l);
          }
        }
        compare(tree, model, 0, 16);
      }),
      { seed: 1234, numRuns: 200 },
    );
  });
});

/** Inserts [start, last] pairs (value = index) and checks after each. */
function build(pairs: [number, number][]): {
  tree: IntervalTree<number>;
  handles: IntervalTreeNode<number>[];
} {
  const tree = new IntervalTree<number>();
  const handles = pairs.map(([s, l], i) => {
    const h = tree.insert(s, l, i);
    checkIntervalTree(tree);
    return h;
  });
  return { tree, handles };
}

describe("IntervalTree on adversarial shapes", () => {
  const n = 1000;

  const { leafCap, leafMin, innerCap, innerMin } = INTERVAL_TREE_LAYOUT;

  it("fills leaves 3/4 under sorted inserts (appending splits unevenly), 2 levels for 1000", () => {
    const { tree } = build(Array.from({ length: n }, (_, i) => [i, i + 3] as [number, number]));
    const shape = intervalTreeShape(tree);
    expect(shape.height).toBe(1);
    // Every leaf but the last keeps leafCap - leafMin when the next one splits off.
    expect(shape.leaves).toBe(Math.ceil((n - leafMin) / (leafCap - leafMin)));
    expect(values(tree.overlapping(500, 500))).toEqual([497, 498, 499, 500]);
  });

  it("stays shallow and at least half full under reverse-sorted inserts", () => {
    const { tree } = build(Array.from({ length: n }, (_, i) => [n - i, n - i + 3] as [number, number]));
    const shape = intervalTreeShape(tree);
    expect(shape.height).toBe(1);
    expect(shape.leaves).toBeLessThanOrEqual(Math.ceil(n / (leafCap / 2)));
    expect(tree.first()!.start).toBe(1);
  });

  it("grows one level per (innerCap - innerMin)-fold growth under 2^17 sorted inserts, and shrinks back", () => {
    const tree = new IntervalTree<number>();
    const handles: IntervalTreeNode<number>[] = [];
    for (let i = 0; i < 2 ** 17; i++) handles.push(tree.insert(i, i, i));
    checkIntervalTree(tree);
    // Appends fill leaves to leafCap - leafMin and inner nodes to innerCap - innerMin.
    let levels = 0;
    for (let nodes = Math.ceil(2 ** 17 / (leafCap - leafMin)); nodes > 1; levels++) {
      nodes = Math.ceil(nodes / (innerCap - innerMin));
    }
    expect(intervalTreeShape(tree).height).toBe(levels);
    expect(levels).toBeGreaterThanOrEqual(2);
    for (let i = 0; i < 2 ** 17 - 10; i++) tree.remove(handles[i]!);
    checkIntervalTree(tree);
    expect(intervalTreeShape(tree)).toMatchObject({ height: 0, leaves: 1, innerNodes: 0 });
    expect(values(tree)).toEqual(Array.from({ length: 10 }, (_, i) => 2 ** 17 - 10 + i));
  });

  it("keeps all-equal intervals in insertion order, through removals", () => {
    const { tree, handles } = build(Array.from({ length: 300 }, () => [5, 5] as [number, number]));
    expect(values(tree)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const rng = new Rng(11);
    const kept = new Set(Array.from({ length: 300 }, (_, i) => i));
    for (const i of rng.shuffle(Array.from({ length: 300 }, (_, i) => i)).slice(0, 150)) {
      tree.remove(handles[i]!);
      kept.delete(i);
      checkIntervalTree(tree);
    }
    for (let i = 0; i < 50; i++) tree.insert(5, 5, 300 + i);
    checkIntervalTree(tree);
    const want = [...[...kept].sort((a, b) => a - b), ...Array.from({ length: 50 }, (_, i) => 300 + i)];
    expect(values(tree.overlapping(0, 10))).toEqual(want);
    expect(walk(tree, 5, 5)).toEqual(want);
  });

  it("finds every nested interval containing a point, and none past its edges", () => {
    const { tree } = build(Array.from({ length: 500 }, (_, i) => [i, 2000 - i] as [number, number]));
    expect(walk(tree, 1000, 1000)).toHaveLength(500);
    expect(walk(tree, 250, 250)).toEqual(Array.from({ length: 251 }, (_, i) => i));
    expect(walk(tree, 1750, 1760)).toEqual(Array.from({ length: 251 }, (_, i) => i));
    expect(walk(tree, 2001, MAX)).toEqual([]);
  });

  for (const [order, pick] of [
    ["first", (t: IntervalTree<number>) => t.first()!],
    ["last", (t: IntervalTree<number>) => [...t].at(-1)!],
    ["middle", (t: IntervalTree<number>) => [...t][t.size >> 1]!],
  ] as const) {
    it(`survives removing the ${order} node until empty: borrows, merges, root collapse (seed 12)`, () => {
      const rng = new Rng(12);
      const { tree } = build(
        Array.from({ length: 3000 }, () => [rng.int(100), 0] as [number, number]).map(
          ([s]) => [s, s + rng.int(20)] as [number, number],
        ),
      );
      const heights = [intervalTreeShape(tree).height];
      while (tree.size > 0) {
        const victim = pick(tree);
        tree.remove(victim);
        checkIntervalTree(tree);
        const h = intervalTreeShape(tree).height;
        if (h !== heights.at(-1)) heights.push(h);
      }
      expect(heights).toEqual([2, 1, 0]); // 3000 intervals need 2 levels of inner nodes
      expect(tree.first()).toBeUndefined();
      expect(intervalTreeShape(tree)).toMatchObject({ height: 0, leaves: 1, innerNodes: 0 });
    });
  }

  it("rejects the stale handles of removed nodes under churn, where new nodes took their cursors (seed 13)", () => {
    const rng = new Rng(13);
    const tree = new IntervalTree<number>();
    let live: IntervalTreeNode<number>[] = [];
    const dead: IntervalTreeNode<number>[] = [];
    for (let i = 0; i < 64; i++) live.push(tree.insert(i, i + 1, i));
    for (let round = 0; round < 2000; round++) {
      const k = rng.int(live.length);
      const victim = live[k]!;
      tree.remove(victim);
      dead.push(victim);
      const s = rng.int(1000);
      const h = tree.insert(s, s + rng.int(10), 1000 + round);
      live[k] = h;
      checkIntervalTree(tree);
    }
    // Dead handles whose remembered cursor now holds a live node: the hint must not vouch for them.
    const cursors = new Map(live.map((h) => [tree.indexOf(h), h]));
    const reused = dead.filter((d) => cursors.has(d.hint));
    expect(reused.length).toBeGreaterThan(0);
    for (const d of reused) {
      expect(() => tree.remove(d)).toThrow(/not in this tree/);
      expect(d.sameAs(cursors.get(d.hint)!)).toBe(false);
    }
    for (const d of dead) expect(tree.indexOf(d)).toBe(-1);
    expect(tree.size).toBe(64);
    checkIntervalTree(tree);
    live = [];
  });
});

/** Asserts that `fn` throws MmunError EINVAL whose message names every string in `named`. */
function expectEinval(fn: () => unknown, ...named: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(MmunError);
  expect((err as MmunError).code).toBe("EINVAL");
  for (const s of named) expect((err as MmunError).message).toContain(s);
}

describe("IntervalTree pools", () => {
  const SHRINK_FLOOR = 64;

  for (const ks of [SPACES[0]!, SPACES[3]!]) {
    it(`hand memory back as the tree shrinks, and every handle made before keeps working, ${ks.name} (seed 31)`, () => {
      const rng = new Rng(31);
      const tree = new IntervalTree<number>();
      const model = new Model();
      const n = 12_000;
      for (let i = 0; i < n; i++) {
        const [s, l] = randomInterval(rng, ks);
        model.add(s, l, i, tree.insert(s, l, i));
      }
      const grown = intervalTreeShape(tree);
      expect(grown.leafCapacity).toBeGreaterThanOrEqual(n / INTERVAL_TREE_LAYOUT.leafCap);
      let compactions = 0;
      let prevCap = grown.leafCapacity;
      // Down to 10 entries in random order; every removal is through a handle made at insert time.
      while (model.entries.length > 10) {
        const k = rng.int(model.entries.length);
        tree.remove(model.entries[k]!.handle);
        model.removeAt(k);
        const shape = intervalTreeShape(tree);
        if (shape.leafCapacity < prevCap) {
          compactions++;
          checkIntervalTree(tree);
          // Right after a compaction: handles from before (stale hints) still find their nodes.
          const probe = model.entries[rng.int(model.entries.length)]!;
          const [qs, ql] = randomInterval(rng, ks);
          compare(tree, model, qs, ql);
          expect(tree.iterNext(probe.handle, 0, MAX)?.value).toBe(
            model.sorted()[model.sorted().findIndex((e) => e.handle === probe.handle) + 1]?.value,
          );
        }
        prevCap = shape.leafCapacity;
        // Never more than 4 leaves of room per leaf in use, once past the floor.
        if (shape.leafCapacity >= SHRINK_FLOOR && shape.leaves * 4 <= shape.leafCapacity) {
          expect.fail(`${shape.leaves} leaves in use in room for ${shape.leafCapacity}`);
        }
        if (model.entries.length % 997 === 0) {
          checkIntervalTree(tree);
          const [qs, ql] = randomInterval(rng, ks);
          compare(tree, model, qs, ql);
        }
      }
      expect(compactions).toBeGreaterThanOrEqual(2);
      const small = intervalTreeShape(tree);
      expect(small.leafCapacity).toBeLessThan(SHRINK_FLOOR);
      expect(small.innerCapacity).toBeLessThanOrEqual(2);
      // And it grows again from there.
      for (let i = 0; i < 5000; i++) {
        const [s, l] = randomInterval(rng, ks);
        model.add(s, l, n + i, tree.insert(s, l, n + i));
      }
      checkIntervalTree(tree);
      for (let q = 0; q < 20; q++) {
        const [qs, ql] = randomInterval(rng, ks);
        compare(tree, model, qs, ql);
      }
      for (const e of model.entries) tree.remove(e.handle);
      expect(tree.size).toBe(0);
      expect(intervalTreeShape(tree).leafCapacity).toBeLessThan(SHRINK_FLOOR);
      checkIntervalTree(tree);
    });
  }

  it("refuses dead handles after a compaction moved live nodes onto their cursors", () => {
    const tree = new IntervalTree<number>();
    const hs = Array.from({ length: 4096 }, (_, i) => tree.insert(i, i, i));
    const dead = hs.slice(100);
    for (const h of dead) tree.remove(h);
    expect(intervalTreeShape(tree).leafCapacity).toBeLessThan(SHRINK_FLOOR);
    for (const h of dead.filter((_, i) => i % 37 === 0))
      expectEinval(() => tree.remove(h), "not in this tree");
    expect(values(tree)).toEqual(hs.slice(0, 100).map((h) => h.value));
    for (const h of hs.slice(0, 100)) tree.remove(h);
    expect(tree.size).toBe(0);
    checkIntervalTree(tree);
  });
});

/** A snapshot of everything observable, to prove a failed call changed nothing. */
function snapshot(tree: IntervalTree<number>) {
  return { size: tree.size, all: [...tree].map((n) => [n.start, n.last, n.value]) };
}

describe("IntervalTree argument errors", () => {
  const bad: [string, unknown, unknown][] = [
    ["start > last", 5, 4],
    ["negative start", -1, 4],
    ["negative last", -3, -1],
    ["NaN start", Number.NaN, 4],
    ["NaN last", 1, Number.NaN],
    ["Infinity", 0, Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY, 0],
    ["fraction", 0.5, 4],
    ["fraction last", 1, 4.25],
    ["2^53 (unsafe)", 0, 2 ** 53],
    ["a string", "1", 4],
    ["a bigint", 1n, 4n],
    ["undefined", undefined, 4],
    ["-0 and NaN", -0, Number.NaN],
  ];

  function populated() {
    const rng = new Rng(20);
    const tree = new IntervalTree<number>();
    const handles = Array.from({ length: 50 }, (_, i) => {
      const s = rng.int(1000);
      return tree.insert(s, s + rng.int(50), i);
    });
    return { tree, handles };
  }

  /** The handle class, to forge handles the way only the tree should make them. */
  function nodeClass(h: IntervalTreeNode<number>) {
    return h.constructor as new (
      ...a: [IntervalTree<number>, number, number, number, number, number]
    ) => IntervalTreeNode<number>;
  }

  for (const [what, s, l] of bad) {
    it(`rejects ${what} with EINVAL naming the values, for insert and every query, changing nothing`, () => {
      const { tree } = populated();
      const before = snapshot(tree);
      const shown = [s, l].map((v) =>
        typeof v === "bigint" ? `${v}n` : typeof v === "string" ? `"${v}"` : String(v),
      );
      const S = s as number;
      const L = l as number;
      expectEinval(() => tree.insert(S, L, 99), ...shown);
      expectEinval(() => tree.iterFirst(S, L), ...shown);
      expectEinval(() => tree.overlapping(S, L), ...shown);
      expectEinval(() => tree.search(S, L), ...shown);
      expectEinval(() => tree.iterNext(tree.first()!, S, L), ...shown);
      expectEinval(() => tree.firstIndex(S, L), ...shown);
      expect(snapshot(tree)).toEqual(before);
      checkIntervalTree(tree);
    });
  }

  it("accepts the extreme keys 0 and 2^53-1 and -0 as 0", () => {
    const tree = new IntervalTree<string>();
    tree.insert(0, MAX, "all");
    tree.insert(MAX, MAX, "top");
    tree.insert(-0, 0, "zero");
    checkIntervalTree(tree);
    expect([...tree.overlapping(MAX, MAX)].map((n) => n.value)).toEqual(["all", "top"]);
    expect([...tree.overlapping(0, 0)].map((n) => n.value)).toEqual(["all", "zero"]);
  });

  it("rejects a double remove with EINVAL and changes nothing", () => {
    const { tree, handles } = populated();
    tree.remove(handles[3]!);
    const before = snapshot(tree);
    expectEinval(() => tree.remove(handles[3]!), "not in this tree");
    expect(snapshot(tree)).toEqual(before);
    checkIntervalTree(tree);
  });

  it("rejects removing a node of another tree, even one with the same seq at the same cursor", () => {
    const a = populated();
    const b = populated();
    const before = snapshot(a.tree);
    expect([b.handles[7]!.seq, b.handles[7]!.hint]).toEqual([a.handles[7]!.seq, a.handles[7]!.hint]);
    expectEinval(() => a.tree.remove(b.handles[7]!), "not in this tree");
    expectEinval(() => a.tree.iterNext(b.handles[7]!, 0, 10), "not in this tree");
    expect(snapshot(a.tree)).toEqual(before);
    expect(b.tree.size).toBe(50);
  });

  it("rejects things that are not handles", () => {
    const { tree, handles } = populated();
    const before = snapshot(tree);
    const h = handles[0]!;
    const forged = { start: h.start, last: h.last, value: h.value, seq: h.seq, hint: h.hint, tree };
    for (const x of [undefined, null, 3, "handle", {}, forged, [h]]) {
      expectEinval(() => tree.remove(x as unknown as IntervalTreeNode<number>));
    }
    expect(snapshot(tree)).toEqual(before);
  });

  it("rejects real handle objects carrying a bad seq or start (fractional, negative, unknown, NaN)", () => {
    const { tree, handles } = populated();
    const before = snapshot(tree);
    const h = handles[3]!;
    const Node = nodeClass(h);
    // A fresh handle on a neighbour in h's leaf: its hint holds.
    const at = tree.indexOf(h);
    const other = tree.nodeAt(tree.startAt(at + 1) >= h.start ? at + 1 : at - 1);
    expect(tree.indexOf(other)).toBe(other.hint);
    for (const [seq, start, hint] of [
      [h.seq + 0.5, h.start, h.hint],
      [-1, h.start, h.hint],
      [1e9, h.start, h.hint],
      [Number.NaN, h.start, h.hint],
      [h.seq, h.start + 1, h.hint],
      [h.seq, Number.NaN, h.hint],
      // Another node's seq and cursor with this node's start: the hint must not vouch for it.
      [other.seq, h.start === other.start ? h.start + 1 : h.start, other.hint],
    ] as const) {
      const bad = new Node(tree, seq, start, h.last, h.value, hint);
      expectEinval(() => tree.remove(bad));
      expectEinval(() => tree.iterNext(bad, 0, 10));
    }
    expect(snapshot(tree)).toEqual(before);
    checkIntervalTree(tree);
  });

  it("finds a node whatever its handle's cursor hint says (fractional, negative, NaN, past the end, another node's)", () => {
    const { tree, handles } = populated();
    const h = handles[3]!;
    const Node = nodeClass(h);
    for (const hint of [h.hint + 0.5, -1, Number.NaN, 1e9, handles[4]!.hint, h.hint]) {
      const copy = new Node(tree, h.seq, h.start, h.last, h.value, hint);
      expect(tree.indexOf(copy)).toBe(tree.indexOf(h));
      expect(tree.iterNext(copy, 0, 1e9)?.sameAs(tree.iterNext(h, 0, 1e9)!)).toBe(true);
    }
    expect(tree.nodeAt(tree.indexOf(h)).hint).toBe(tree.indexOf(h));
  });

  it("follows nodes whose cursor hint went stale, and never takes a stale copy past a leaf's end for one (seed 17)", () => {
    // One leaf: removing a node shifts the ones after it down and leaves a copy of the last one past
    // the new count. The last node's hint then points at that copy.
    const tree = new IntervalTree<number>();
    const hs = Array.from({ length: 10 }, (_, i) => tree.insert(i * 10, i * 10 + 5, i));
    const last = hs[9]!;
    expect(last.hint).toBe(9);
    tree.remove(hs[0]!);
    expect(tree.indexOf(last)).toBe(8);
    expect(tree.iterNext(hs[8]!, 0, 1000)?.sameAs(last)).toBe(true);
    tree.remove(last);
    expectEinval(() => tree.remove(last), "not in this tree");
    expectEinval(() => tree.iterNext(last, 0, 1000), "not in this tree");
    checkIntervalTree(tree);
    expect(snapshot(tree).all.map(([s]) => s)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    // Many leaves, random churn: every handle stays usable (or is rejected once removed) whether its
    // hint still holds or not.
    const rng = new Rng(17);
    const big = new IntervalTree<number>();
    const live: IntervalTreeNode<number>[] = [];
    for (let i = 0; i < 3000; i++) {
      if (live.length > 0 && rng.next() < 0.4) {
        const k = rng.int(live.length);
        const victim = live[k]!;
        live[k] = live[live.length - 1]!;
        live.pop();
        big.remove(victim);
        expectEinval(() => big.remove(victim), "not in this tree");
      } else {
        const s = rng.int(500);
        live.push(big.insert(s, s + rng.int(20), i));
      }
    }
    checkIntervalTree(big);
    const stale = live.filter((x) => big.indexOf(x) !== x.hint).length;
    expect(stale).toBeGreaterThan(0);
    for (const x of live) expect(big.valueAt(big.indexOf(x))).toBe(x.value);
  });

  it("keeps node identity exact for seqs past 2^30 and 2^31 (handles from insert and iteration)", () => {
    // Handles carry seqs below 2^30 as small integers and larger ones as doubles: both must keep
    // identifying their node, and a seq past int32 must not wrap onto another.
    for (const base of [2 ** 30 - 3, 2 ** 31 - 3, 2 ** 32 - 3, 2 ** 53 - 40]) {
      const tree = new IntervalTree<number>();
      tree.nextSeq = base;
      const made = Array.from({ length: 6 }, (_, i) => tree.insert(10, 20 + i, i));
      expect(made.map((h) => h.seq)).toEqual([0, 1, 2, 3, 4, 5].map((i) => base + i));
      const walked = [...tree];
      expect(walked.map((h) => h.seq)).toEqual(made.map((h) => h.seq));
      expect(walked.every((h, i) => h.sameAs(made[i]!))).toBe(true);
      // Remove through iteration handles and insert handles alternately; a dead one is refused.
      tree.remove(walked[4]!);
      tree.remove(made[1]!);
      expectEinval(() => tree.remove(made[4]!), "not in this tree");
      expectEinval(() => tree.iterNext(walked[1]!, 0, 100), "not in this tree");
      expect([...tree].map((h) => h.value)).toEqual([0, 2, 3, 5]);
      expect(tree.iterNext(walked[3]!, 0, 100)?.value).toBe(5);
      checkIntervalTree(tree);
    }
  });

  it("keeps a removed handle readable", () => {
    const { tree, handles } = populated();
    const h = handles[9]!;
    const [s, l] = [h.start, h.last];
    tree.remove(h);
    tree.insert(1, 2, 1000); // reuses the slot
    expect([h.start, h.last, h.value]).toEqual([s, l, 9]);
  });
});

describe("IntervalTree iteration and modification", () => {
  function small() {
    const tree = new IntervalTree<number>();
    const handles = Array.from({ length: 20 }, (_, i) => tree.insert(i, i + 5, i));
    return { tree, handles };
  }

  it("makes an overlapping() iterator throw EINVAL after an insert or a remove", () => {
    const { tree, handles } = small();
    const it1 = tree.overlapping(0, 100);
    expect(it1.next().value?.value).toBe(0);
    tree.insert(3, 4, 99);
    expect(() => it1.next()).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const it2 = tree.overlapping(0, 100);
    tree.remove(handles[5]!);
    expect(() => it2.next()).toThrow(/modified during an iteration/);
    expect(() => {
      for (const n of tree.overlapping(0, 100)) if (n.value === 2) tree.remove(n);
    }).toThrow(MmunError);
  });

  it("makes the whole-tree iterator throw EINVAL after a change", () => {
    const { tree } = small();
    expect(() => {
      for (const n of tree) if (n.value === 4) tree.insert(100, 200, 100);
    }).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });

  it("lets a finished iterator stay finished after later changes", () => {
    const { tree } = small();
    const it1 = tree.overlapping(50, 60);
    expect(it1.next().done).toBe(true);
    tree.insert(55, 56, 1);
    expect(it1.next().done).toBe(true);
  });

  it("allows the kernel's remove-while-walking pattern through iterFirst/iterNext (fetch next first)", () => {
    const { tree } = small();
    const removed: number[] = [];
    let n = tree.iterFirst(4, 10);
    while (n) {
      const next = tree.iterNext(n, 4, 10);
      if (n.value % 2 === 0) {
        tree.remove(n);
        removed.push(n.value);
        checkIntervalTree(tree);
      }
      n = next;
    }
    expect(removed).toEqual([0, 2, 4, 6, 8, 10]);
    expect(values(tree.overlapping(4, 10))).toEqual([1, 3, 5, 7, 9]);
  });

  it("returns handles that identify nodes by slot: sameAs, and remove through any of them", () => {
    const { tree, handles } = small();
    const fromQuery = tree.iterFirst(7, 7)!;
    expect(fromQuery).not.toBe(handles[2]);
    expect(fromQuery.sameAs(handles[2]!)).toBe(true);
    expect(fromQuery.sameAs(handles[3]!)).toBe(false);
    expect(tree.first()!.sameAs(handles[0]!)).toBe(true);
    tree.remove(fromQuery);
    expect(() => tree.remove(handles[2]!)).toThrow(MmunError);
  });

  it("returns search() results as a new array of values in tree order, which later changes leave alone", () => {
    const { tree, handles } = small();
    tree.insert(6, 6, 100); // equal start after the stored one: after it in order
    const got = tree.search(6, 8);
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 100, 7, 8]);
    expect(tree.search(6, 8)).not.toBe(got);
    tree.remove(handles[3]!);
    got.length = 0;
    expect(tree.search(6, 8)).toEqual([1, 2, 4, 5, 6, 100, 7, 8]);
    expect(tree.search(26, 30)).toEqual([]);
    expect(new IntervalTree<number>().search(0, MAX)).toEqual([]);
    const strings = new IntervalTree<string | undefined>();
    strings.insert(1, 2, undefined);
    strings.insert(2, 3, "b");
    const withUndefined = strings.search(2, 2);
    expect(withUndefined).toEqual([undefined, "b"]);
    // Every slot is written (an array made at its size could keep holes): own keys 0 and 1.
    expect(Object.keys(withUndefined)).toEqual(["0", "1"]);
  });

  it("search() returns arrays without holes, also past its 256-cursor scratch, with and without the key directory (seed 88)", () => {
    const rng = new Rng(88);
    const tree = new IntervalTree<number>();
    for (let i = 0; i < 3000; i++) {
      const s = rng.int(100_000);
      tree.insert(s, s + rng.int(2_000), i);
    }
    const check = (): void => {
      for (const [lo, hi] of [
        [0, MAX],
        [40_000, 60_000],
        [50_000, 50_000],
      ] as const) {
        const got = tree.search(lo, hi);
        expect(Object.keys(got).length).toBe(got.length);
        let want = 0;
        for (const node of tree.overlapping(lo, hi)) expect(node.value).toBe(got[want++]);
        expect(got.length).toBe(want);
      }
    };
    check();
    expect(intervalTreeShape(tree).directory).toBe("none");
    for (let q = 0; q < 2000; q++) tree.search(q * 50, q * 50);
    expect(intervalTreeShape(tree).directory).toBe("current");
    check();
  });

  it("rejects O(1) the queries that cannot match: empty tree, all before, all after", () => {
    const tree = new IntervalTree<number>();
    expect(tree.iterFirst(0, MAX)).toBeUndefined();
    tree.insert(100, 200, 1);
    tree.insert(150, 160, 2);
    expect(tree.iterFirst(201, MAX)).toBeUndefined();
    expect(tree.iterFirst(0, 99)).toBeUndefined();
    expect(tree.iterFirst(0, 100)?.value).toBe(1);
    expect(tree.iterFirst(200, 200)?.value).toBe(1);
    expect(walk(tree, 155, 155)).toEqual([1, 2]);
  });
});

describe("IntervalTree against @flatten-js/interval-tree", () => {
  it("returns the same sets of values on random range searches (seed 99)", () => {
    const rng = new Rng(99);
    const ours = new IntervalTree<number>();
    const theirs = new FlattenIntervalTree<number>();
    const handles: IntervalTreeNode<number>[] = [];
    const keys: [number, number][] = [];
    for (let i = 0; i < 3000; i++) {
      const s = uniform(rng, 0, 2 ** 40);
      const l = s + uniform(rng, 0, 2 ** 30);
      keys.push([s, l]);
      handles.push(ours.insert(s, l, i));
      theirs.insert([s, l], i);
    }
    for (const i of rng.shuffle(Array.from({ length: 3000 }, (_, i) => i)).slice(0, 1000)) {
      ours.remove(handles[i]!);
      theirs.remove(keys[i]!, i);
    }
    checkIntervalTree(ours);
    expect(ours.size).toBe(theirs.size);
    for (let q = 0; q < 2000; q++) {
      const lo = uniform(rng, 0, 2 ** 40);
      const hi = lo + (q % 2 ? 0 : uniform(rng, 0, 2 ** 34));
      const a = values(ours.overlapping(lo, hi)).sort((x, y) => x - y);
      const b = [...theirs.search([lo, hi])].sort((x, y) => x - y);
      expect(a).toEqual(b);
      expect(ours.search(lo, hi).sort((x, y) => x - y)).toEqual(b);
    }
  });
});

/** The pools checkIntervalTree reads, by name (private fields of the tree). */
type Arrays = Record<string, number[]>;

describe("checkIntervalTree", () => {
  const mk = (rng: Rng) => {
    const t = new IntervalTree<number>();
    for (let i = 0; i < 300; i++) t.insert(rng.int(1000), 1000 + rng.int(1000), i);
    checkIntervalTree(t);
    expect(intervalTreeShape(t).height).toBe(1);
    return t as unknown as Arrays & IntervalTree<number>;
  };
  // [what, pool, index (or a function of the tree giving it), bad value, expected message]
  const corruptions: [string, string, number | ((t: Arrays) => number), number, RegExp][] = [
    ["a subtree-last", "iMax", 0, 5, /subtree-last/],
    ["a least start", "iMin", 1, 0, /least start/],
    ["an inner prefix max", "iPm", 1, 1, /prefix max/],
    ["a leaf entry's last (stale subtree-last above it)", "lLast", 3, 1e9, /subtree-last/],
    ["the order of starts", "lStart", 5, 1e9, /holds|starts at/],
    ["a least start's seq", "iMinSeq", 1, 1e9, /least start's seq/],
    ["an entry's seq (a duplicate)", "lSeq", 3, 0, /seq/],
    ["the next-leaf chain", "lNext", 0, -1, /next leaf/],
    ["a parent link", "lParent", 1, 7, /parent/],
  ];
  for (const [what, pool, index, bad, message] of corruptions) {
    it(`catches a corrupted ${what} (seed 5)`, () => {
      const t = mk(new Rng(5));
      t[pool]![typeof index === "number" ? index : index(t)] = bad;
      expect(() => checkIntervalTree(t)).toThrow(message);
    });
  }
});
