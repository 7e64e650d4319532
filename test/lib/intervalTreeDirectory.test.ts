// Tests of the interval tree's key directory (src/lib/keyDirectory.ts): when it is built, declined and
// dropped, and that queries answered through it match the brute-force model on every key space,
// including the edges of its buckets, keys that cluster, and trees that change between runs of queries.
// checkIntervalTree recomputes the directory the slow way whenever it is current.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IntervalTree } from "../../src/lib/intervalTree.js";
import { Rng } from "../../src/lib/rng.js";
import {
  checkIntervalTree,
  compare,
  INTERVAL_TREE_LAYOUT,
  intervalTreeShape,
  type KeySpace,
  keyDirectoryOf,
  MAX,
  Model,
  randomInterval,
  SPACES,
  same,
  uniform,
  values,
  walkIndex,
} from "./intervalModel.js";

const { dirQuiet, dirMaxScan, keptBudget, keptMaxScan, keptMaxWalk } = INTERVAL_TREE_LAYOUT;

/** Runs exactly the quiet queries the next build waits for (random stabs that leave no trace). */
function quietRun(tree: IntervalTree<number>, rng: Rng, lo: number, hi: number): void {
  for (let q = intervalTreeShape(tree).directoryWait; q > 0; q--) {
    const p = uniform(rng, lo, hi);
    tree.search(p, p);
  }
}

/** Every query that could sit on a bucket's edge: around each entry's start and last, and past both ends. */
function edgeQueries(model: Model, rng: Rng, ks: KeySpace): [number, number][] {
  const qs: [number, number][] = [
    [ks.lo, ks.lo],
    [ks.hi, ks.hi],
    [ks.lo, ks.hi],
    [0, 0],
    [MAX, MAX],
  ];
  for (const e of model.entries) {
    for (const p of [e.start - 1, e.start, e.last, e.last + 1]) if (p >= 0 && p <= MAX) qs.push([p, p]);
    qs.push([e.start, Math.min(MAX, e.start + uniform(rng, 0, ks.maxLen))]);
  }
  for (let k = 0; k < 500; k++) qs.push(randomInterval(rng, ks));
  return qs;
}

/**
 * Inserts n intervals of ks: randomInterval's mix (half of them span two random keys, so the running
 * maximum of lasts soon reaches the top and most buckets share a cursor), or with `short` only
 * intervals up to ks.maxLen long, so that every bucket has a cursor of its own.
 */
function fill(
  tree: IntervalTree<number>,
  model: Model,
  rng: Rng,
  ks: KeySpace,
  n: number,
  short = false,
): void {
  for (let i = 0; i < n; i++) {
    const a = uniform(rng, ks.lo, ks.hi);
    const [s, l] = short ? [a, Math.min(ks.hi, a + uniform(rng, 0, ks.maxLen))] : randomInterval(rng, ks);
    model.add(s, l, model.entries.length, tree.insert(s, l, model.entries.length));
  }
}

/** n short intervals of SPACES[1] in a tree whose directory the quiet run built: current. */
function withCurrentDirectory(
  seed: number,
  n: number,
): { rng: Rng; tree: IntervalTree<number>; model: Model } {
  const rng = new Rng(seed);
  const tree = new IntervalTree<number>();
  const model = new Model();
  fill(tree, model, rng, SPACES[1]!, n, true);
  quietRun(tree, rng, 0, 1e6);
  return { rng, tree, model };
}

/**
 * A checker of many queries on a tree that does not change: compare() once (size, first, the whole
 * order), then each query's search(), cursor walk and overlapping() against the model sorted once.
 */
function answers(tree: IntervalTree<number>, model: Model): (qs: number, ql: number) => void {
  const sorted = model.sorted();
  compare(tree, model, 0, MAX);
  return (qs, ql) => {
    const want: number[] = [];
    for (const e of sorted) {
      if (e.start > ql) break;
      if (e.last >= qs) want.push(e.value);
    }
    same(tree.search(qs, ql), want);
    same(walkIndex(tree, qs, ql), want);
    same(values(tree.overlapping(qs, ql)), want);
  };
}

/** NIL buckets of a current directory (queries there descend from the root). */
function nilBuckets(tree: IntervalTree<number>): number {
  const dir = keyDirectoryOf(tree).buckets;
  let nil = 0;
  for (let b = 0; b < tree.size; b++) if (dir[b] === -1) nil++;
  return nil;
}

describe("IntervalTree key directory", () => {
  const runs: [number, KeySpace, number, boolean][] = [
    [61, SPACES[0]!, 300, false],
    [62, SPACES[1]!, 3000, false],
    [63, SPACES[2]!, 3000, false],
    [64, SPACES[3]!, 3000, false],
    [65, SPACES[1]!, 3000, true],
    [66, SPACES[2]!, 3000, true],
    [67, SPACES[3]!, 3000, true],
    [68, SPACES[1]!, 1, false],
    [69, SPACES[3]!, 20, true],
  ];
  for (const [seed, ks, n, short] of runs) {
    const kind = short ? "short intervals" : "mixed intervals";
    it(`is built by the quiet run, answers like the model at every bucket edge, ${n} ${kind} in ${ks.name} (seed ${seed})`, () => {
      const rng = new Rng(seed);
      const tree = new IntervalTree<number>();
      const model = new Model();
      fill(tree, model, rng, ks, n, short);
      // One query short of the run: still none.
      for (let q = dirQuiet(n) - 1; q > 0; q--) tree.search(ks.lo, ks.lo);
      expect(intervalTreeShape(tree).directory).toBe("none");
      tree.search(ks.hi, ks.hi);
      expect(intervalTreeShape(tree)).toMatchObject({ directory: "current", directoryBuckets: n });
      checkIntervalTree(tree);
      {
        const check = answers(tree, model);
        for (const [qs, ql] of edgeQueries(model, rng, ks)) check(qs, ql);
      }
      expect(intervalTreeShape(tree).directory).toBe("current");
    });
  }

  it("is kept through inserts and removes, answering like the model, and exact again after a quiet run (seed 77)", () => {
    const rng = new Rng(77);
    const ks = SPACES[1]!;
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, ks, 2000, true);
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(intervalTreeShape(tree).directory).toBe("current");
    // An insert far past every last: the buckets only reached it through the greatest key's.
    model.add(MAX - 5, MAX, -1, tree.insert(MAX - 5, MAX, -1));
    expect(intervalTreeShape(tree).directory).toBe("kept");
    checkIntervalTree(tree);
    compare(tree, model, MAX - 3, MAX - 3);
    compare(tree, model, 0, MAX);
    expect(intervalTreeShape(tree).directory).toBe("kept");
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(intervalTreeShape(tree).directory).toBe("current");
    checkIntervalTree(tree);
    expect(tree.search(MAX - 3, MAX - 3)).toEqual([-1]);
    // A remove of the entry at the greatest last, then of the least start.
    tree.remove(model.entries.at(-1)!.handle);
    model.removeAt(model.entries.length - 1);
    expect(intervalTreeShape(tree).directory).toBe("kept");
    expect(tree.search(MAX - 3, MAX - 3)).toEqual([]);
    const least = model.sorted()[0]!;
    tree.remove(least.handle);
    model.removeAt(model.entries.indexOf(least));
    checkIntervalTree(tree);
    {
      const check = answers(tree, model);
      for (const [qs, ql] of edgeQueries(model, rng, ks)) check(qs, ql);
    }
    // As many queries in a row as a build waits for: rebuilt, exact again.
    expect(intervalTreeShape(tree).directory).toBe("current");
    tree.remove(model.entries[0]!.handle);
    model.removeAt(0);
    expect(intervalTreeShape(tree).directory).toBe("kept");
    // Changes between every query: still kept, and right at every bucket edge.
    for (let round = 0; round < 300; round++) {
      const i = rng.int(model.entries.length);
      tree.remove(model.entries[i]!.handle);
      model.removeAt(i);
      fill(tree, model, rng, ks, 1, true);
      const [qs, ql] = randomInterval(rng, ks);
      compare(tree, model, qs, ql);
    }
    expect(intervalTreeShape(tree).directory).toBe("kept");
    checkIntervalTree(tree);
  });

  const keptRuns: [number, KeySpace, number, boolean][] = [
    [71, SPACES[0]!, 200, false],
    [72, SPACES[1]!, 3000, true],
    [73, SPACES[1]!, 3000, false],
    [74, SPACES[2]!, 2000, true],
    [75, SPACES[3]!, 2000, false],
  ];
  for (const [seed, ks, n, short] of keptRuns) {
    it(`answers like the model through a kept directory while ${n} ${short ? "short" : "mixed"} intervals in ${ks.name} change between queries (seed ${seed})`, () => {
      const rng = new Rng(seed);
      const tree = new IntervalTree<number>();
      const model = new Model();
      fill(tree, model, rng, ks, n, short);
      quietRun(tree, rng, ks.lo, ks.hi);
      expect(intervalTreeShape(tree).directory).not.toBe("none");
      let kept = 0;
      // Phases: changes and queries mixed, mostly changes (the tree shrinks, leaves merge and borrow,
      // then grows back, leaves split), mostly queries.
      for (let op = 0; op < 6000; op++) {
        const phase = Math.floor(op / 2000) % 3;
        const pQuery = phase === 0 ? 0.5 : phase === 1 ? 0.1 : 0.9;
        const r = rng.next();
        if (r < pQuery) {
          if (intervalTreeShape(tree).directory === "kept") kept++;
          const [qs, ql] = rng.chance(0.5) ? randomInterval(rng, ks) : [uniform(rng, ks.lo, ks.hi), 0];
          const q: [number, number] = ql === 0 ? [qs, qs] : [qs, ql];
          const want = model.overlapping(q[0], q[1]);
          same(tree.search(q[0], q[1]), want);
          same(walkIndex(tree, q[0], q[1]), want);
        } else if (
          model.entries.length > 0 &&
          (rng.chance(op % 4000 < 2000 ? 0.6 : 0.4) || model.entries.length > 2 * n)
        ) {
          const i = rng.int(model.entries.length);
          tree.remove(model.entries[i]!.handle);
          model.removeAt(i);
        } else {
          fill(tree, model, rng, ks, 1, short);
        }
        if (op % 1000 === 999) checkIntervalTree(tree);
      }
      expect(kept).toBeGreaterThan(500);
      checkIntervalTree(tree);
      compare(tree, model, 0, MAX);
    });
  }

  it("redirects the buckets of a leaf that merged or lent entries leftward, and reuses no freed leaf before the next build (seed 76)", () => {
    const rng = new Rng(76);
    const ks = SPACES[1]!;
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, ks, 3000, true);
    quietRun(tree, rng, ks.lo, ks.hi);
    // Remove a run of neighbours in key order: their leaves underflow and merge or borrow.
    const sorted = model.sorted();
    for (const e of sorted.slice(1000, 1600)) {
      tree.remove(e.handle);
      model.removeAt(model.entries.indexOf(e));
    }
    expect(intervalTreeShape(tree).directory).toBe("kept");
    expect([...keyDirectoryOf(tree).redirect].filter((r) => r !== -1).length).toBeGreaterThan(0);
    const limbo = keyDirectoryOf(tree).limbo.length;
    expect(limbo).toBeGreaterThan(0);
    checkIntervalTree(tree);
    // Inserts split leaves: new ones come from the pool, not from limbo.
    // (Below the gap: an insert into it would reach back over its hundreds of buckets, and drop the
    // directory.)
    const used = intervalTreeShape(tree).leaves;
    const below = sorted[1000]!.start - 2 * ks.maxLen;
    for (let i = 0; i < 1000; i++) {
      const a = uniform(rng, 0, below);
      const l = a + uniform(rng, 0, ks.maxLen);
      model.add(a, l, 10_000 + i, tree.insert(a, l, 10_000 + i));
    }
    expect(keyDirectoryOf(tree).limbo.length).toBe(limbo);
    expect(intervalTreeShape(tree).leaves).toBeGreaterThan(used);
    checkIntervalTree(tree);
    const check = answers(tree, model);
    for (const [qs, ql] of edgeQueries(model, rng, ks).slice(0, 300)) check(qs, ql);
    expect(intervalTreeShape(tree).directory).toBe("kept");
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(intervalTreeShape(tree).directory).toBe("current");
    expect(keyDirectoryOf(tree).limbo.length).toBe(0);
    checkIntervalTree(tree);
  });

  it("drops a kept directory for an interval reaching back over more than keptMaxWalk buckets, and builds it again later (seed 86)", () => {
    const rng = new Rng(86);
    const ks = SPACES[1]!;
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, ks, 2000, true);
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(keptMaxWalk).toBeGreaterThan(0);
    model.add(100, 900_000, -1, tree.insert(100, 900_000, -1));
    expect(intervalTreeShape(tree).directory).toBe("none");
    checkIntervalTree(tree);
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(intervalTreeShape(tree).directory).toBe("current");
    const check = answers(tree, model);
    for (const [qs, ql] of edgeQueries(model, rng, ks)) check(qs, ql);
  });

  it("makes a bucket descend once a query through the kept directory passes more than keptMaxScan entries (seed 87)", () => {
    const rng = new Rng(87);
    const ks = SPACES[1]!;
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, ks, 2000, true);
    quietRun(tree, rng, ks.lo, ks.hi);
    const nilBefore = nilBuckets(tree);
    // 400 one-key intervals inside one bucket (a bucket spans about 500 keys here).
    for (let i = 0; i < 400; i++)
      model.add(600_000 + i, 600_000 + i, 5000 + i, tree.insert(600_000 + i, 600_000 + i, 5000 + i));
    expect(intervalTreeShape(tree).directory).toBe("kept");
    const want = model.overlapping(600_390, 600_390);
    same(tree.search(600_390, 600_390), want);
    expect(nilBuckets(tree)).toBe(nilBefore + 1);
    same(tree.search(600_390, 600_390), want); // by the descent now
    same(walkIndex(tree, 600_395, 600_395), model.overlapping(600_395, 600_395));
    checkIntervalTree(tree);
    expect(keptMaxScan).toBeGreaterThan(dirMaxScan);
  });

  it("checkIntervalTree catches a kept bucket that scans from past an entry its queries need", () => {
    const { rng, tree, model } = withCurrentDirectory(89, 1500);
    fill(tree, model, rng, SPACES[1]!, 1, true);
    expect(intervalTreeShape(tree).directory).toBe("kept");
    checkIntervalTree(tree);
    const dir = keyDirectoryOf(tree).buckets;
    const b = dir.findIndex((c, i) => c !== -1 && i > 10 && dir[i + 1]! >> 5 !== c >> 5 && dir[i + 1] !== -1);
    const saved = dir[b]!;
    dir[b] = dir[b + 1]!; // a later leaf
    expect(() => checkIntervalTree(tree)).toThrow(/kept directory bucket/);
    dir[b] = saved;
    checkIntervalTree(tree);
  });

  it("checkIntervalTree catches a change that did not reach the key directory, and upkeep on a current one", () => {
    const { tree, model } = withCurrentDirectory(90, 500);
    expect(intervalTreeShape(tree).directory).toBe("current");
    checkIntervalTree(tree);
    // A change the hooks did not see: the tree's version moved, the directory still says current.
    tree.version++;
    expect(() => checkIntervalTree(tree)).toThrow(/key directory is current, built at version/);
    tree.version--;
    const keys = keyDirectoryOf(tree);
    keys.changed[3] = 1;
    expect(() => checkIntervalTree(tree)).toThrow(/current key directory marks leaf 3 changed/);
    keys.changed[3] = 0;
    keys.redirect[2] = 0;
    expect(() => checkIntervalTree(tree)).toThrow(/current key directory redirects leaf 2/);
    keys.redirect[2] = -1;
    checkIntervalTree(tree);
    // After a change through the hooks it is kept, and that is consistent too.
    model.add(7, 9, -1, tree.insert(7, 9, -1));
    expect(intervalTreeShape(tree).directory).toBe("kept");
    checkIntervalTree(tree);
  });

  it("matches the model on fast-check op sequences with quiet runs between changes (seed 78)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("insert" as const), a: fc.nat(400), len: fc.nat(60) }),
      fc.record({
        kind: fc.constant("insertMany" as const),
        a: fc.nat(400),
        k: fc.integer({ min: 1, max: 80 }),
      }),
      fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("quiet" as const), seed: fc.nat() }),
      fc.record({ kind: fc.constant("query" as const), a: fc.nat(480), b: fc.nat(480) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const tree = new IntervalTree<number>();
        const model = new Model();
        const add = (s: number, l: number) =>
          model.add(s, l, model.entries.length, tree.insert(s, l, model.entries.length));
        for (const o of ops) {
          if (o.kind === "insert") add(o.a, o.a + o.len);
          else if (o.kind === "insertMany")
            for (let i = 0; i < o.k; i++) add(o.a + i * 3, o.a + i * 3 + (i % 7));
          else if (o.kind === "remove" && model.entries.length > 0) {
            const i = o.pick % model.entries.length;
            tree.remove(model.entries[i]!.handle);
            model.removeAt(i);
          } else if (o.kind === "quiet") {
            quietRun(tree, new Rng(o.seed), 0, 480);
            if (tree.size > 0) expect(intervalTreeShape(tree).directory).not.toBe("none");
            checkIntervalTree(tree);
          } else if (o.kind === "query") {
            const [s, l] = o.a <= o.b ? [o.a, o.b] : [o.b, o.a];
            compare(tree, model, s, l);
          }
        }
        for (let p = 0; p <= 480; p += 7) compare(tree, model, p, p);
        compare(tree, model, 0, 480);
      }),
      { seed: 78, numRuns: 150 },
    );
  });

  it("splits an address space's clusters into segments, and answers through them (seed 79)", () => {
    const rng = new Rng(79);
    const tree = new IntervalTree<number>();
    const model = new Model();
    // Text near 4 MB, a heap past 2^46, libraries and stack near 2^47: page-sized mappings.
    const bases = [0x40_0000, 0x5555_5555_0000, 0x7f00_0000_0000, 0x7ffe_0000_0000];
    for (let i = 0; i < 4000; i++) {
      const s = bases[rng.int(4)]! + rng.int(16_000) * 4096;
      const l = s + 4096 * (1 + rng.int(8)) - 1;
      model.add(s, l, i, tree.insert(s, l, i));
    }
    quietRun(tree, rng, 0, 2 ** 47);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "current", directorySegments: 4 });
    checkIntervalTree(tree);
    expect(nilBuckets(tree)).toBe(0);
    const check = answers(tree, model);
    for (const base of bases) {
      const ks: KeySpace = { name: "cluster", lo: base - 4096, hi: base + 16_010 * 4096, maxLen: 8 * 4096 };
      for (const [qs, ql] of edgeQueries(model, rng, ks).filter(([q]) => q >= ks.lo && q <= ks.hi))
        check(qs, ql);
    }
    // Gaps between segments, and queries spanning several.
    for (const [qs, ql] of [
      [0x1000_0000, 0x1000_0000],
      [0x40_0000, 0x7fff_ffff_ffff],
      [0x6000_0000_0000, 0x7f00_0000_0000],
    ] as const)
      check(qs, ql);
    // One interval past every key, far away: a segment of its own.
    model.add(MAX - 9, MAX, -1, tree.insert(MAX - 9, MAX, -1));
    quietRun(tree, rng, 0, 2 ** 47);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "current", directorySegments: 5 });
    checkIntervalTree(tree);
    expect(tree.search(MAX - 3, MAX)).toEqual([-1]);
    expect(tree.search(2 ** 50, 2 ** 50)).toEqual([]);
  });

  it("is declined for keys in more clusters than segments, and tried again only after a change (seed 80)", () => {
    const rng = new Rng(80);
    const tree = new IntervalTree<number>();
    const model = new Model();
    // 40 clusters of 100 page-sized mappings, 2^40 apart.
    for (let c = 0; c < 40; c++) {
      for (let i = 0; i < 100; i++) {
        const s = c * 2 ** 40 + rng.int(200) * 4096;
        model.add(s, s + 4095, c * 100 + i, tree.insert(s, s + 4095, c * 100 + i));
      }
    }
    quietRun(tree, rng, 0, 40 * 2 ** 40);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "declined", directoryBuckets: 0 });
    // Declined stays declined however many queries follow, and they still answer right.
    quietRun(tree, rng, 0, 40 * 2 ** 40);
    expect(intervalTreeShape(tree).directory).toBe("declined");
    const declined = answers(tree, model);
    for (const e of model.entries.slice(0, 400)) declined(e.start, e.last);
    // A change, then another quiet run: tried again, declined again.
    tree.remove(model.entries[0]!.handle);
    model.removeAt(0);
    expect(intervalTreeShape(tree).directory).toBe("none");
    quietRun(tree, rng, 0, 40 * 2 ** 40);
    expect(intervalTreeShape(tree).directory).toBe("declined");
    // With all but 8 clusters gone, every cluster is a segment.
    for (let i = model.entries.length - 1; i >= 0; i--) {
      if (model.entries[i]!.start >= 8 * 2 ** 40) {
        tree.remove(model.entries[i]!.handle);
        model.removeAt(i);
      }
    }
    quietRun(tree, rng, 0, 8 * 2 ** 40);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "current", directorySegments: 8 });
    checkIntervalTree(tree);
    const built = answers(tree, model);
    for (const e of model.entries) built(e.start, e.start);
  });

  it("descends from buckets a dense cluster crowds, and uses the rest (seed 84)", () => {
    const rng = new Rng(84);
    const tree = new IntervalTree<number>();
    const model = new Model();
    const ks = SPACES[1]!;
    fill(tree, model, rng, ks, 3000, true);
    // 600 intervals within 100 keys: a fifth of the entries in a handful of buckets.
    for (let i = 0; i < 600; i++) {
      const s = 500_000 + rng.int(100);
      const l = s + rng.int(3);
      model.add(s, l, 3000 + i, tree.insert(s, l, 3000 + i));
    }
    quietRun(tree, rng, ks.lo, ks.hi);
    expect(intervalTreeShape(tree).directory).toBe("current");
    expect(nilBuckets(tree)).toBeGreaterThan(0);
    checkIntervalTree(tree);
    const check = answers(tree, model);
    for (let p = 499_990; p <= 500_110; p++) check(p, p);
    {
      const check = answers(tree, model);
      for (const [qs, ql] of edgeQueries(model, rng, ks)) check(qs, ql);
    }
  });

  it("answers nested and long intervals, all-equal keys and a single entry (seed 81)", () => {
    const rng = new Rng(81);
    const shapes: [string, (i: number) => [number, number]][] = [
      ["nested", (i) => [i, 4000 - i]],
      ["one long, many short", (i) => (i === 0 ? [0, MAX] : [i * 1000, i * 1000 + 10])],
      ["all equal", () => [77, 77]],
      ["one long in the middle", (i) => (i === 900 ? [900_000, MAX - 1] : [i * 1000, i * 1000 + 999])],
      ["lasts far past their starts", (i) => [i, MAX - i]],
    ];
    for (const [name, shape] of shapes) {
      for (const n of [1, 2, 1999]) {
        const tree = new IntervalTree<number>();
        const model = new Model();
        for (let i = 0; i < n; i++) {
          const [s, l] = shape(i);
          model.add(s, l, i, tree.insert(s, l, i));
        }
        quietRun(tree, rng, 0, 5000);
        expect(intervalTreeShape(tree).directory, `${name}, ${n}`).toBe("current");
        checkIntervalTree(tree);
        const ks: KeySpace = { name, lo: 0, hi: 2_000_000, maxLen: 5000 };
        const check = answers(tree, model);
        for (const [qs, ql] of edgeQueries(model, rng, ks).slice(0, 3000)) check(qs, ql);
      }
    }
  });

  it("never scans past dirMaxScan entries from a bucket it uses, and checkIntervalTree catches a wrong cursor", () => {
    const { tree } = withCurrentDirectory(82, 1500);
    checkIntervalTree(tree); // includes the scan bound, recomputed the slow way
    expect(dirMaxScan).toBeGreaterThan(0);
    const dir = keyDirectoryOf(tree).buckets;
    const b = dir.findIndex((c, i) => c !== -1 && dir[i + 1] !== c && i > 10);
    const saved = dir[b]!;
    dir[b] = dir[b + 1]!; // a cursor past some queries' first result
    expect(() => checkIntervalTree(tree)).toThrow(/key directory bucket/);
    dir[b] = -1; // NIL where the scan is short
    expect(() => checkIntervalTree(tree)).toThrow(/is NIL, but its scan passes only/);
    dir[b] = saved;
    checkIntervalTree(tree);
  });

  it("waits twice as long after each build that ran out of changes before serving its wait, up to 16x, and back to size/2 + 16 once one pays (seed 85)", () => {
    const rng = new Rng(85);
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, SPACES[1]!, 2000, true);
    const base = dirQuiet(tree.size);
    const budget = keptBudget(tree.size);
    const churn = (changes: number) => {
      for (let c = 0; c < changes; c += 2) {
        const e = model.entries.pop()!;
        tree.remove(e.handle);
        model.add(e.start, e.last, e.value, tree.insert(e.start, e.last, e.value));
      }
    };
    expect(intervalTreeShape(tree).directoryWait).toBe(base);
    for (const factor of [1, 2, 4, 8, 16, 16]) {
      const wait = intervalTreeShape(tree).directoryWait;
      expect(wait).toBe(base * factor);
      // One query short: none; the last one builds it.
      for (let q = wait - 1; q > 0; q--) {
        const p = rng.int(1e6);
        tree.search(p, p + 10);
      }
      expect(intervalTreeShape(tree).directory).toBe("none");
      tree.search(5, 5);
      expect(intervalTreeShape(tree).directory).toBe("current");
      churn(budget);
      expect(intervalTreeShape(tree).directory).toBe("kept");
      churn(2); // past its budget, having served one query: dropped
      expect(intervalTreeShape(tree).directory).toBe("none");
    }
    // A directory that serves as many queries as it waited for is rebuilt by the next query after
    // its budget, and resets the wait.
    quietRun(tree, rng, 0, 1e6);
    expect(intervalTreeShape(tree).directory).toBe("current");
    for (let q = 0; q < 16 * base; q++) {
      const p = rng.int(1e6);
      tree.search(p, p);
    }
    churn(budget + 2);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "kept", directoryWait: base });
    tree.search(5, 5);
    expect(intervalTreeShape(tree).directory).toBe("current");
    checkIntervalTree(tree);
    const check = answers(tree, model);
    for (let q = 0; q < 500; q++) check(...randomInterval(rng, SPACES[1]!));
  });

  it("doubles the quiet run that makes a kept directory exact after each build a change follows too soon, up to 16x, and resets it once one serves twice size/2 + 16 (seed 90)", () => {
    const rng = new Rng(90);
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, SPACES[1]!, 2000, true);
    const base = dirQuiet(tree.size);
    const change = () => {
      const e = model.entries.pop()!;
      tree.remove(e.handle);
      model.add(e.start, e.last, e.value, tree.insert(e.start, e.last, e.value));
    };
    quietRun(tree, rng, 0, 1e6);
    expect(intervalTreeShape(tree).directory).toBe("current");
    for (const factor of [2, 4, 8, 16, 16]) {
      change(); // the build served one query: wasted
      expect(intervalTreeShape(tree)).toMatchObject({ directory: "kept", directoryWait: base * factor });
      for (let q = base * factor - 1; q > 0; q--) {
        const p = rng.int(1e6);
        tree.search(p, p + 10);
      }
      expect(intervalTreeShape(tree).directory).toBe("kept");
      tree.search(5, 5);
      expect(intervalTreeShape(tree).directory).toBe("current");
    }
    for (let q = 0; q < 2 * base; q++) tree.search(rng.int(1e6), 1e6);
    change();
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "kept", directoryWait: base });
    checkIntervalTree(tree);
    const check = answers(tree, model);
    for (let q = 0; q < 300; q++) check(...randomInterval(rng, SPACES[1]!));
  });

  it("gives its memory back when a shrinking tree compacts its pools (seed 83)", () => {
    const rng = new Rng(83);
    const tree = new IntervalTree<number>();
    const model = new Model();
    fill(tree, model, rng, SPACES[3]!, 8000);
    quietRun(tree, rng, 0, MAX);
    expect(intervalTreeShape(tree).directoryBuckets).toBe(8000);
    const capacity = intervalTreeShape(tree).leafCapacity;
    while (intervalTreeShape(tree).leafCapacity === capacity) {
      tree.remove(model.entries.pop()!.handle);
    }
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "none", directoryBuckets: 0 });
    quietRun(tree, rng, 0, MAX);
    expect(intervalTreeShape(tree)).toMatchObject({ directory: "current", directoryBuckets: tree.size });
    checkIntervalTree(tree);
    for (let q = 0; q < 300; q++) {
      const [qs, ql] = randomInterval(rng, SPACES[3]!);
      compare(tree, model, qs, ql);
    }
  });
});
