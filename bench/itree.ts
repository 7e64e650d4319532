// Interval tree benchmark: src/lib/intervalTree.ts against @flatten-js/interval-tree and node-interval-tree.
// A column "kernel RB layout" measures src/lib/rbIntervalTree.ts, the kernel's augmented red-black tree
// in the same typed-array pool, through its slot API (no handles): it is not a peer (ratios ignore it),
// it shows in the same run why IntervalTree uses wide nodes. Results and what they decided are in
// docs/performance.md.
//
// npm run bench -- itree [--sizes 1e4,1e5,1e6] [--seed 1] [--repeat 3]
// npm run bench -- itree --child 0 --sizes 1e4   # one structure (index in subjectsList), one size,
//                                                # one process: the result as a JSON line, for A/B checks
//
// Every structure runs the same pre-generated inputs (seeded Rng), and a sanity pass checks that they
// return the same number of results, so the ratios compare equal work. Workloads at size N:
//   build    N inserts into an empty tree
//   stab     point queries (about 2 results each)
//   range    range queries (about 10 results each)
//   remove   removal of a random half of the intervals, by handle (ours) or by key + value (peers)
//   mixed    50% range queries, 25% inserts, 25% removes on a tree of N (each batch restores the set)
// plus bytes per stored interval: heap + ArrayBuffer growth after gc; values are small integers and
// our insert handles are dropped (the tree does not keep them), measured right after the build. The
// "queried" row adds what a tree keeps once it has answered queries: ours builds its key directory
// then (4 bytes per bucket, a bucket per interval, counted from its shape, not measured).
// A query returns the values of the intervals it finds, as the peers' search() does: ours through
// search(). Two more rows per query workload measure our other ways to ask: "handles" through
// overlapping(), which yields a handle per result (an object that can remove the node; more work than
// the peers do), and "index API" through the internal zero-allocation iteration
// (firstIndex/nextIndex/valueAt) the notifier core uses. Under each table, two "floor" lines: the
// same stabs and ranges answered from a static sorted array (no insert, no remove; about the least a
// comparison-based structure can do), beside our search() and the time 10x the fastest peer leaves
// per query. The closing summary shows the ratio that static array scores against the fastest peer,
// beside ours. Our tree's key directory is not comparison-based: once built it answers below that
// floor.
//
// Each round runs the query rows, then the mixed rows, which change the tree: the queries of the next
// round first run on the directory kept through those changes, until a quiet run rebuilds it exact.
// At 10^6 that is a good part of the "stab" row's time (it comes first); the rows after it run with
// the exact directory.
// Each workload is measured in ROUNDS rounds and the best round counts: the machine may be shared,
// and other processes only ever slow a round down. Whole-tree workloads that take seconds per call
// (peers' builds at 10^6) run once.
//
// Every structure runs in fresh Node processes of its own (`--in-process` runs them all in this one):
// in one process, whoever runs later inherits the JIT's and the collector's state from the others,
// and a peer's query rate moved with its place in the order. The processes run round-robin, --repeat
// times per structure (default 3), and each figure is the best of them, so a slow spell of a shared
// machine has to cover all of them to move a cell.

import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import FlattenIntervalTree from "@flatten-js/interval-tree";
import * as nitModule from "node-interval-tree";
import { IntervalTree, type IntervalTreeNode } from "../src/lib/intervalTree.js";
import { intervalTreeShape } from "../src/lib/intervalTreeCheck.js";
import { RbIntervalTree } from "../src/lib/rbIntervalTree.js";
import { Rng } from "../src/lib/rng.js";
import { lowerBound } from "../src/lib/sortedSearch.js";
import { fmt, fmtRatio, gc, type MeasureOptions, measure, printTable, retainedBytes } from "./harness.js";

/** Keys are drawn from [0, 2^48): beyond 32 bits, as addresses are. */
const KEY_SPACE = 2 ** 48;
/** Queries kept per size; timed calls walk through them in batches so caches stay honest. */
const QUERY_POOL = 1 << 17;
/** Queries of the sanity pass (a prefix of the pool) whose result counts must agree. */
const CHECK_QUERIES = 1 << 14;
const QUERY_BATCH = 1024;
const MIXED_OPS = 4096;
/** Distinct mixed batches, run in turn, so no structure gets to replay one batch from its caches. */
const MIXED_BATCHES = 16;

interface Data {
  n: number;
  starts: Float64Array;
  lasts: Float64Array;
  stabs: Float64Array;
  rangeLo: Float64Array;
  rangeHi: Float64Array;
  /** Ids of the intervals to remove, in removal order (half of them). */
  removals: Int32Array;
  /** Mixed batches of MIXED_OPS: kind 0 = range query (arg: query index), 1 = remove id, 2 = re-insert id. */
  mixedKind: Uint8Array;
  mixedArg: Int32Array;
}

/**
 * A uniform integer in [lo, hi]. Rng.range is exact but rejects draws against 2^53 for spans above
 * 2^32, which takes millions of draws for spans just above it; a 53-bit fraction is enough here.
 */
function uniform(rng: Rng, lo: number, hi: number): number {
  const span = hi - lo + 1;
  if (span <= 2 ** 32) return rng.range(lo, hi);
  const frac = (rng.nextU32() * 2 ** 21 + (rng.nextU32() >>> 11)) / 2 ** 53;
  return Math.min(hi, lo + Math.floor(frac * span));
}

function generate(n: number, seed: number): Data {
  const rng = new Rng(seed * 1_000_003 + n);
  const starts = new Float64Array(n);
  const lasts = new Float64Array(n);
  // Lengths average 2 * KEY_SPACE / n: any point is covered by about 2 intervals.
  const maxLen = Math.floor((4 * KEY_SPACE) / n);
  for (let i = 0; i < n; i++) {
    const s = uniform(rng, 0, KEY_SPACE - 1);
    starts[i] = s;
    lasts[i] = Math.min(KEY_SPACE - 1, s + uniform(rng, 0, maxLen));
  }
  const stabs = new Float64Array(QUERY_POOL);
  const rangeLo = new Float64Array(QUERY_POOL);
  const rangeHi = new Float64Array(QUERY_POOL);
  // Range width 8 * KEY_SPACE / n: about 8 more intervals than a point query, so about 10 results.
  const width = Math.floor((8 * KEY_SPACE) / n);
  for (let q = 0; q < QUERY_POOL; q++) {
    stabs[q] = uniform(rng, 0, KEY_SPACE - 1);
    const lo = uniform(rng, 0, KEY_SPACE - 1);
    rangeLo[q] = lo;
    rangeHi[q] = Math.min(KEY_SPACE - 1, lo + width);
  }
  const ids = Array.from({ length: n }, (_, i) => i);
  rng.shuffle(ids);
  const removals = Int32Array.from(ids.slice(0, Math.floor(n / 2)));
  // Mixed: remove random stored intervals and put them back later in the same batch.
  const mixedKind = new Uint8Array(MIXED_OPS * MIXED_BATCHES);
  const mixedArg = new Int32Array(MIXED_OPS * MIXED_BATCHES);
  const live = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const out: number[] = [];
  for (let k = 0; k < MIXED_OPS * MIXED_BATCHES; k++) {
    const r = rng.next();
    // Every removed interval must be back by the end of its batch: a removal needs a later slot.
    const remaining = MIXED_OPS - (k % MIXED_OPS);
    const mayRemove = out.length + 2 <= remaining;
    if (out.length >= remaining) mixedKind[k] = 2;
    else if (r < 0.5) mixedKind[k] = 0;
    else if ((r < 0.75 || out.length === 0) && mayRemove) mixedKind[k] = 1;
    else mixedKind[k] = out.length > 0 ? 2 : 0;
    if (mixedKind[k] === 0) {
      mixedArg[k] = rng.int(QUERY_POOL);
    } else if (mixedKind[k] === 1) {
      const j = rng.int(live.length);
      const id = live[j]!;
      live[j] = live[live.length - 1]!;
      live.pop();
      out.push(id);
      mixedArg[k] = id;
    } else {
      const j = rng.int(out.length);
      const id = out[j]!;
      out[j] = out[out.length - 1]!;
      out.pop();
      live.push(id);
      mixedArg[k] = id;
    }
  }
  return { n, starts, lasts, stabs, rangeLo, rangeHi, removals, mixedKind, mixedArg };
}

/** One structure under test. Each method holds its own loop, so every call site stays monomorphic. */
interface Subject<Tree> {
  name: string;
  /** Builds a tree of all n intervals (value = id). */
  build(d: Data): Tree;
  /** Prepares what remove/mixed need (ours: handles by id). */
  prepare(tree: Tree, d: Data): void;
  size(tree: Tree): number;
  stab(tree: Tree, d: Data, from: number, count: number): number;
  range(tree: Tree, d: Data, from: number, count: number): number;
  removeHalf(tree: Tree, d: Data): void;
  /** Runs mixed batch `batch` (0 <= batch < MIXED_BATCHES) and returns its query results. */
  mixed(tree: Tree, d: Data, batch: number): number;
  /** Extra query variants (ours: handles through overlapping(), the internal zero-allocation index API). */
  stabHandles?(tree: Tree, d: Data, from: number, count: number): number;
  rangeHandles?(tree: Tree, d: Data, from: number, count: number): number;
  stabIndex?(tree: Tree, d: Data, from: number, count: number): number;
  rangeIndex?(tree: Tree, d: Data, from: number, count: number): number;
  mixedHandles?(tree: Tree, d: Data, batch: number): number;
  /**
   * Bytes a tree allocates while answering queries and keeps until it changes (ours: the key
   * directory), counted from its shape; a peer that keeps nothing leaves this out.
   */
  queryBytes?(tree: Tree): number;
}

function ours(): Subject<IntervalTree<number>> {
  let handles: IntervalTreeNode<number>[] = [];
  return {
    name: "mmun",
    build(d) {
      const t = new IntervalTree<number>();
      const { starts, lasts } = d;
      for (let i = 0; i < d.n; i++) t.insert(starts[i]!, lasts[i]!, i);
      return t;
    },
    prepare(t, d) {
      handles = new Array(d.n);
      for (const node of t) handles[node.value] = node;
    },
    size: (t) => t.size,
    queryBytes(t) {
      const shape = intervalTreeShape(t);
      if (shape.directory !== "current")
        throw new Error("mmun: no key directory after the first round of queries");
      return 4 * shape.directoryBuckets + 32 * shape.directorySegments;
    },
    stab(t, d, from, count) {
      let c = 0;
      const q = d.stabs;
      for (let k = 0; k < count; k++) {
        const p = q[(from + k) & (QUERY_POOL - 1)]!;
        c += t.search(p, p).length;
      }
      return c;
    },
    range(t, d, from, count) {
      let c = 0;
      const { rangeLo, rangeHi } = d;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        c += t.search(rangeLo[j]!, rangeHi[j]!).length;
      }
      return c;
    },
    stabHandles(t, d, from, count) {
      let c = 0;
      const q = d.stabs;
      for (let k = 0; k < count; k++) {
        const p = q[(from + k) & (QUERY_POOL - 1)]!;
        for (const node of t.overlapping(p, p)) c += node.value >= 0 ? 1 : 0;
      }
      return c;
    },
    rangeHandles(t, d, from, count) {
      let c = 0;
      const { rangeLo, rangeHi } = d;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        for (const node of t.overlapping(rangeLo[j]!, rangeHi[j]!)) c += node.value >= 0 ? 1 : 0;
      }
      return c;
    },
    stabIndex(t, d, from, count) {
      let c = 0;
      const q = d.stabs;
      for (let k = 0; k < count; k++) {
        const p = q[(from + k) & (QUERY_POOL - 1)]!;
        for (let i = t.firstIndex(p, p); i !== -1; i = t.nextIndex(i, p, p)) c += t.valueAt(i) >= 0 ? 1 : 0;
      }
      return c;
    },
    rangeIndex(t, d, from, count) {
      let c = 0;
      const { rangeLo, rangeHi } = d;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        const lo = rangeLo[j]!;
        const hi = rangeHi[j]!;
        for (let i = t.firstIndex(lo, hi); i !== -1; i = t.nextIndex(i, lo, hi))
          c += t.valueAt(i) >= 0 ? 1 : 0;
      }
      return c;
    },
    removeHalf(t, d) {
      const r = d.removals;
      for (let k = 0; k < r.length; k++) t.remove(handles[r[k]!]!);
    },
    mixed(t, d, batch) {
      let c = 0;
      const { mixedKind, mixedArg, rangeLo, rangeHi, starts, lasts } = d;
      for (let k = batch * MIXED_OPS, end = k + MIXED_OPS; k < end; k++) {
        const arg = mixedArg[k]!;
        const kind = mixedKind[k];
        if (kind === 0) {
          c += t.search(rangeLo[arg]!, rangeHi[arg]!).length;
        } else if (kind === 1) {
          t.remove(handles[arg]!);
        } else {
          handles[arg] = t.insert(starts[arg]!, lasts[arg]!, arg);
        }
      }
      return c;
    },
    mixedHandles(t, d, batch) {
      let c = 0;
      const { mixedKind, mixedArg, rangeLo, rangeHi, starts, lasts } = d;
      for (let k = batch * MIXED_OPS, end = k + MIXED_OPS; k < end; k++) {
        const arg = mixedArg[k]!;
        const kind = mixedKind[k];
        if (kind === 0) {
          for (const node of t.overlapping(rangeLo[arg]!, rangeHi[arg]!)) c += node.value >= 0 ? 1 : 0;
        } else if (kind === 1) {
          t.remove(handles[arg]!);
        } else {
          handles[arg] = t.insert(starts[arg]!, lasts[arg]!, arg);
        }
      }
      return c;
    },
  };
}

function kernelRb(): Subject<RbIntervalTree<number>> {
  let slots = new Int32Array(0);
  const walk = (t: RbIntervalTree<number>, lo: number, hi: number): number => {
    let c = 0;
    for (let i = t.firstIndex(lo, hi); i !== -1; i = t.nextIndex(i, lo, hi)) c += t.valueAt(i) >= 0 ? 1 : 0;
    return c;
  };
  return {
    name: "kernel RB layout",
    build(d) {
      const t = new RbIntervalTree<number>();
      const { starts, lasts } = d;
      slots = new Int32Array(d.n);
      for (let i = 0; i < d.n; i++) slots[i] = t.insert(starts[i]!, lasts[i]!, i);
      return t;
    },
    prepare() {},
    size: (t) => t.size,
    stab(t, d, from, count) {
      let c = 0;
      for (let k = 0; k < count; k++) {
        const p = d.stabs[(from + k) & (QUERY_POOL - 1)]!;
        c += walk(t, p, p);
      }
      return c;
    },
    range(t, d, from, count) {
      let c = 0;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        c += walk(t, d.rangeLo[j]!, d.rangeHi[j]!);
      }
      return c;
    },
    removeHalf(t, d) {
      const r = d.removals;
      for (let k = 0; k < r.length; k++) t.remove(slots[r[k]!]!);
    },
    mixed(t, d, batch) {
      let c = 0;
      const { mixedKind, mixedArg, rangeLo, rangeHi, starts, lasts } = d;
      for (let k = batch * MIXED_OPS, end = k + MIXED_OPS; k < end; k++) {
        const arg = mixedArg[k]!;
        const kind = mixedKind[k];
        if (kind === 0) c += walk(t, rangeLo[arg]!, rangeHi[arg]!);
        else if (kind === 1) t.remove(slots[arg]!);
        else slots[arg] = t.insert(starts[arg]!, lasts[arg]!, arg);
      }
      return c;
    },
  };
}

function flatten(): Subject<FlattenIntervalTree<number>> {
  return {
    name: "@flatten-js/interval-tree",
    build(d) {
      const t = new FlattenIntervalTree<number>();
      const { starts, lasts } = d;
      for (let i = 0; i < d.n; i++) t.insert([starts[i]!, lasts[i]!], i);
      return t;
    },
    prepare() {},
    size: (t) => t.size,
    stab(t, d, from, count) {
      let c = 0;
      const q = d.stabs;
      for (let k = 0; k < count; k++) {
        const p = q[(from + k) & (QUERY_POOL - 1)]!;
        c += t.search([p, p]).length;
      }
      return c;
    },
    range(t, d, from, count) {
      let c = 0;
      const { rangeLo, rangeHi } = d;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        c += t.search([rangeLo[j]!, rangeHi[j]!]).length;
      }
      return c;
    },
    removeHalf(t, d) {
      const { removals: r, starts, lasts } = d;
      for (let k = 0; k < r.length; k++) {
        const id = r[k]!;
        t.remove([starts[id]!, lasts[id]!], id);
      }
    },
    mixed(t, d, batch) {
      let c = 0;
      const { mixedKind, mixedArg, rangeLo, rangeHi, starts, lasts } = d;
      for (let k = batch * MIXED_OPS, end = k + MIXED_OPS; k < end; k++) {
        const arg = mixedArg[k]!;
        const kind = mixedKind[k];
        if (kind === 0) c += t.search([rangeLo[arg]!, rangeHi[arg]!]).length;
        else if (kind === 1) t.remove([starts[arg]!, lasts[arg]!], arg);
        else t.insert([starts[arg]!, lasts[arg]!], arg);
      }
      return c;
    },
  };
}

interface NitTree {
  insert(low: number, high: number, data: number): boolean;
  remove(low: number, high: number, data: number): boolean;
  search(low: number, high: number): number[];
  readonly count: number;
}

// node-interval-tree is CommonJS with `exports.default`; reach the class under either interop.
const NitClass: new () => NitTree = (() => {
  const m = nitModule as unknown as { default: unknown };
  const d = m.default as { default?: unknown };
  return (typeof d === "function" ? d : d.default) as new () => NitTree;
})();

function nit(): Subject<NitTree> {
  return {
    name: "node-interval-tree",
    build(d) {
      const t = new NitClass();
      const { starts, lasts } = d;
      for (let i = 0; i < d.n; i++) t.insert(starts[i]!, lasts[i]!, i);
      return t;
    },
    prepare() {},
    size: (t) => t.count,
    stab(t, d, from, count) {
      let c = 0;
      const q = d.stabs;
      for (let k = 0; k < count; k++) {
        const p = q[(from + k) & (QUERY_POOL - 1)]!;
        c += t.search(p, p).length;
      }
      return c;
    },
    range(t, d, from, count) {
      let c = 0;
      const { rangeLo, rangeHi } = d;
      for (let k = 0; k < count; k++) {
        const j = (from + k) & (QUERY_POOL - 1);
        c += t.search(rangeLo[j]!, rangeHi[j]!).length;
      }
      return c;
    },
    removeHalf(t, d) {
      const { removals: r, starts, lasts } = d;
      for (let k = 0; k < r.length; k++) {
        const id = r[k]!;
        t.remove(starts[id]!, lasts[id]!, id);
      }
    },
    mixed(t, d, batch) {
      let c = 0;
      const { mixedKind, mixedArg, rangeLo, rangeHi, starts, lasts } = d;
      for (let k = batch * MIXED_OPS, end = k + MIXED_OPS; k < end; k++) {
        const arg = mixedArg[k]!;
        const kind = mixedKind[k];
        if (kind === 0) c += t.search(rangeLo[arg]!, rangeHi[arg]!).length;
        else if (kind === 1) t.remove(starts[arg]!, lasts[arg]!, arg);
        else t.insert(starts[arg]!, lasts[arg]!, arg);
      }
      return c;
    },
  };
}

type Workload =
  | "build"
  | "stab"
  | "stab, handles"
  | "stab, index API"
  | "range"
  | "range, handles"
  | "range, index API"
  | "remove"
  | "mixed"
  | "mixed, handles";
const WORKLOADS: Workload[] = [
  "build",
  "stab",
  "stab, handles",
  "stab, index API",
  "range",
  "range, handles",
  "range, index API",
  "remove",
  "mixed",
  "mixed, handles",
];

/** The workload a variant row measures (its peers' figures are that workload's). */
function baseWorkload(w: Workload): Workload {
  return w.split(",")[0] as Workload;
}

interface Result {
  opsPerSec: Map<Workload, number>;
  bytesPerInterval: number;
  /** Bytes per interval held once the queries have run (ours then has its key directory). */
  queriedBytesPerInterval: number;
  /** Result counts of the sanity pass, which must agree across structures. */
  checks: Map<string, number>;
}

/** Index of the first peer in the subject list (0 is mmun, 1 the kernel-layout reference). */
const PEERS = 2;

/** Rounds per workload; the best round counts (other processes only ever slow a round down). */
const ROUNDS = 3;
/** Time budget of one measurement, in ms. */
const TIME = 250;
/** Rounds of whole-tree workloads (build, remove) are skipped beyond this many ms of calls. */
const HEAVY_BUDGET_MS = 8000;

// Calls that take long (a whole build at 10^6 takes peers tens of seconds) run once, without warmup.
// The cut stays far from where a size's first build lands (that build includes the JIT's warm-up and
// a full collection), so that every process of one structure times its build the same way (see
// "Method" in docs/performance.md).
const LONG_CALL_MS = 500;
function options(perCallMs: number, extra: MeasureOptions = {}): MeasureOptions {
  return perCallMs > LONG_CALL_MS
    ? { ...extra, iterations: 1, time: 0, warmup: false }
    : { ...extra, time: TIME };
}

async function runSubject<Tree>(s: Subject<Tree>, d: Data): Promise<Result> {
  const opsPerSec = new Map<Workload, number>();
  const checks = new Map<string, number>();
  const note = (msg: string) => process.stderr.write(`  ${s.name}: ${msg}\n`);
  const record = (w: Workload, m: { opsPerSec: number }) => {
    opsPerSec.set(w, Math.max(opsPerSec.get(w) ?? 0, m.opsPerSec));
  };

  // Memory and a first build, timed once to size the later measurements.
  const t0 = performance.now();
  const { bytes, value: tree } = retainedBytes(() => s.build(d));
  const buildMs = performance.now() - t0;
  let queriedBytes = Number.NaN;
  checks.set("size after build", s.size(tree));
  const heavyRounds = buildMs * ROUNDS < HEAVY_BUDGET_MS ? ROUNDS : 1;
  note(`built ${fmt(d.n)} in ${fmt(buildMs)} ms (${fmt(bytes / d.n, 1)} B/interval)`);

  for (let r = 0; r < heavyRounds; r++) {
    record(
      "build",
      await measure(`${s.name} build`, () => s.build(d), { opsPerCall: d.n, ...options(buildMs) }),
    );
    gc();
  }

  // Sanity pass over the whole query pool, then timed batches walking through it.
  checks.set("stab results", s.stab(tree, d, 0, CHECK_QUERIES));
  checks.set("range results", s.range(tree, d, 0, CHECK_QUERIES));
  const queries: [Workload, (t: Tree, d: Data, from: number, count: number) => number][] = [
    ["stab", s.stab],
    ["range", s.range],
  ];
  const variants: [Workload, ((t: Tree, d: Data, from: number, count: number) => number) | undefined][] = [
    ["stab, handles", s.stabHandles],
    ["stab, index API", s.stabIndex],
    ["range, handles", s.rangeHandles],
    ["range, index API", s.rangeIndex],
  ];
  for (const [w, fn] of variants) {
    if (!fn) continue;
    const base = baseWorkload(w);
    if (fn(tree, d, 0, CHECK_QUERIES) !== checks.get(`${base} results`)) {
      throw new Error(`${s.name}: ${w} results differ from ${base}`);
    }
    queries.push([w, fn]);
  }

  // Mixed: every batch removes intervals and puts them back, so the tree keeps n intervals.
  s.prepare(tree, d);
  const t1 = performance.now();
  let mixedTotal = 0;
  const mixedChecks: number[] = [];
  for (let b = 0; b < MIXED_BATCHES; b++) {
    mixedChecks.push(s.mixed(tree, d, b));
    mixedTotal += mixedChecks[b]!;
  }
  checks.set("mixed results", mixedTotal);
  const mixedMs = (performance.now() - t1) / MIXED_BATCHES;
  let batch = 0;

  let cursor = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const [w, fn] of queries) {
      const call = () => {
        fn(tree, d, cursor, QUERY_BATCH);
        cursor = (cursor + QUERY_BATCH) & (QUERY_POOL - 1);
      };
      record(w, await measure(`${s.name} ${w}`, call, { opsPerCall: QUERY_BATCH, time: TIME }));
    }
    // What the tree holds once it has answered queries (ours: its key directory), before any change.
    if (r === 0) queriedBytes = bytes + (s.queryBytes?.(tree) ?? 0);
    const mixedKinds: [Workload, ((t: Tree, d: Data, batch: number) => number) | undefined][] = [
      ["mixed", s.mixed],
      ["mixed, handles", s.mixedHandles],
    ];
    for (const [w, fn] of mixedKinds) {
      if (!fn) continue;
      const mixed = () => {
        if (fn(tree, d, batch) !== mixedChecks[batch])
          throw new Error(`${s.name}: ${w} batch ${batch} changed`);
        batch = (batch + 1) % MIXED_BATCHES;
      };
      record(w, await measure(`${s.name} ${w}`, mixed, { opsPerCall: MIXED_OPS, ...options(mixedMs) }));
    }
  }
  checks.set("size after mixed", s.size(tree));

  // Removal of half: the first call consumes the tree built above, later calls rebuild (untimed).
  // The full collection runs before the rebuild, not between the rebuild and the timed call: on a
  // 2-CPU machine a full collection right before the call slows the removal of the structures whose
  // nodes live in typed arrays (mmun and the kernel-layout reference), not the object-based peers'
  // ("Removal after a full collection" in docs/performance.md). Collecting first still leaves the
  // previous call's garbage out of the timing.
  let spare: Tree | undefined = tree;
  let victim: Tree = tree;
  let removedSize = -1;
  const removeOptions = options(buildMs, {
    beforeEach: () => {
      gc();
      if (spare) {
        victim = spare;
        spare = undefined;
      } else {
        victim = s.build(d);
      }
      s.prepare(victim, d);
    },
  });
  for (let r = 0; r < heavyRounds; r++) {
    const removeHalf = () => {
      s.removeHalf(victim, d);
      removedSize = s.size(victim);
    };
    record(
      "remove",
      await measure(`${s.name} remove`, removeHalf, { opsPerCall: d.removals.length, ...removeOptions }),
    );
    checks.set("size after remove", removedSize);
  }
  return { opsPerSec, bytesPerInterval: bytes / d.n, queriedBytesPerInterval: queriedBytes / d.n, checks };
}

/** The structures, in table order: mmun, the kernel-layout reference, then the peers. */
function subjectsList(): Subject<unknown>[] {
  return [ours(), kernelRb(), flatten(), nit()] as Subject<unknown>[];
}

interface WireResult {
  opsPerSec: [Workload, number][];
  bytesPerInterval: number;
  queriedBytesPerInterval: number;
  checks: [string, number][];
}

/** Runs subject `index` at size n in a child process (same Node flags) and returns its result. */
function runIsolated(index: number, n: number, seed: number): Result {
  const script = process.argv[1];
  if (!script) throw new Error("itree: cannot find the bench entry script to re-run");
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      script,
      "itree",
      "--child",
      String(index),
      "--sizes",
      String(n),
      "--seed",
      String(seed),
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 },
  );
  if (child.status !== 0) throw new Error(`itree: subject ${index} at N=${n} exited with ${child.status}`);
  const line = child.stdout.trim().split("\n").pop() ?? "";
  const wire = JSON.parse(line) as WireResult;
  return {
    opsPerSec: new Map(wire.opsPerSec),
    bytesPerInterval: wire.bytesPerInterval,
    queriedBytesPerInterval: wire.queriedBytesPerInterval,
    checks: new Map(wire.checks),
  };
}

/** First index i in [0, n) with a[i] >= x, or n: the tree's quarter search, or a 2-way one (`halves`). */
function floorLowerBound(a: Float64Array, n: number, x: number, halves: boolean): number {
  if (!halves) return lowerBound(a, 0, n, x);
  let base = 0;
  while (n > 1) {
    const half = n >>> 1;
    base += half * +(a[base + half - 1]! < x);
    n -= half;
  }
  return base + +(n === 1 && a[base]! < x);
}

interface Floor {
  /** ns per stab and per range query, values returned in a new array as search() does. */
  stab: number;
  range: number;
  /** Results over the sanity pass's queries, to compare with the trees'. */
  stabCount: number;
  rangeCount: number;
}

/**
 * A floor for comparison-based interval structures: the same queries answered from a static sorted
 * array that cannot insert or remove. The intervals sit sorted by start in flat arrays with
 * the prefix maximum of their lasts, so the first interval ending at or after a query's start is one
 * branch-free search away, and the results follow it in a short scan. Each query returns its values
 * in a new array, as search() does. A tree pays for being changeable on top of this, so where 10x
 * the fastest peer leaves less time than the floor, a tree cannot be expected to meet it.
 */
async function staticFloor(d: Data): Promise<Floor> {
  const n = d.n;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d.starts[a]! - d.starts[b]!);
  const starts = new Float64Array(n);
  const lasts = new Float64Array(n);
  const maxLast = new Float64Array(n);
  const values = new Int32Array(n);
  let m = -1;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    starts[k] = d.starts[i]!;
    lasts[k] = d.lasts[i]!;
    m = Math.max(m, lasts[k]!);
    maxLast[k] = m;
    values[k] = i;
  }
  const query = (lo: number, hi: number, halves: boolean): number[] => {
    const out: number[] = [];
    for (let j = floorLowerBound(maxLast, n, lo, halves); j < n && starts[j]! <= hi; j++) {
      if (lasts[j]! >= lo) out.push(values[j]!);
    }
    return out;
  };
  // The floor must agree with the trees, or it measures other work.
  let stabCount = 0;
  let rangeCount = 0;
  for (let q = 0; q < CHECK_QUERIES; q++) {
    stabCount += query(d.stabs[q]!, d.stabs[q]!, false).length;
    rangeCount += query(d.rangeLo[q]!, d.rangeHi[q]!, false).length;
  }
  let sink = stabCount + rangeCount;
  let cursor = 0;
  let halves = false;
  const stab = () => {
    const q = d.stabs;
    for (let k = 0; k < QUERY_BATCH; k++) {
      const p = q[(cursor + k) & (QUERY_POOL - 1)]!;
      sink += query(p, p, halves).length;
    }
    cursor = (cursor + QUERY_BATCH) & (QUERY_POOL - 1);
  };
  const range = () => {
    const { rangeLo, rangeHi } = d;
    for (let k = 0; k < QUERY_BATCH; k++) {
      const j = (cursor + k) & (QUERY_POOL - 1);
      sink += query(rangeLo[j]!, rangeHi[j]!, halves).length;
    }
    cursor = (cursor + QUERY_BATCH) & (QUERY_POOL - 1);
  };
  // The faster of a 4-way (the tree's own) and a 2-way branch-free search, as a floor should be.
  const floor: Floor = {
    stab: Number.POSITIVE_INFINITY,
    range: Number.POSITIVE_INFINITY,
    stabCount,
    rangeCount,
  };
  for (let r = 0; r < 2 * ROUNDS; r++) {
    halves = r % 2 === 1;
    const s = await measure("static floor stab", stab, { opsPerCall: QUERY_BATCH, time: TIME });
    const g = await measure("static floor range", range, { opsPerCall: QUERY_BATCH, time: TIME });
    floor.stab = Math.min(floor.stab, s.nsPerOp);
    floor.range = Math.min(floor.range, g.nsPerOp);
  }
  if (sink < 0) throw new Error("unreachable");
  return floor;
}

function parseSizes(text: string): number[] {
  return text.split(",").map((t) => {
    const n = Number(t.trim());
    if (!Number.isSafeInteger(n) || n < 2) throw new Error(`--sizes: bad size "${t}"`);
    return n;
  });
}

/** Entry point for `npm run bench -- itree`. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sizes: { type: "string", default: "1e4,1e5,1e6" },
      seed: { type: "string", default: "1" },
      "in-process": { type: "boolean", default: false },
      repeat: { type: "string", default: "3" },
      child: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("usage: npm run bench -- itree [--sizes 1e4,1e5,1e6] [--seed 1] [--repeat 3] [--in-process]");
    return;
  }
  const sizes = parseSizes(values.sizes);
  const seed = Number(values.seed);
  const repeat = Number(values.repeat);
  if (!Number.isSafeInteger(repeat) || repeat < 1) throw new Error(`--repeat: bad count "${values.repeat}"`);
  if (!(globalThis as { gc?: unknown }).gc) {
    console.warn("warning: run with --expose-gc (npm run bench does) for meaningful memory numbers");
  }
  if (values.child !== undefined) {
    // A child of runIsolated: one subject, one size, the result as one JSON line on stdout.
    const s = subjectsList()[Number(values.child)];
    if (!s || sizes.length !== 1) throw new Error("itree --child: bad subject or sizes");
    const r = await runSubject(s, generate(sizes[0]!, seed));
    const wire: WireResult = {
      opsPerSec: [...r.opsPerSec],
      bytesPerInterval: r.bytesPerInterval,
      queriedBytesPerInterval: r.queriedBytesPerInterval,
      checks: [...r.checks],
    };
    console.log(JSON.stringify(wire));
    return;
  }
  const summary: string[][] = [];
  for (const n of sizes) {
    process.stderr.write(`itree: N = ${fmt(n)}\n`);
    // Index 1 is the kernel-layout reference; peers start at PEERS.
    const subjects = subjectsList();
    const results: Result[] = [];
    if (values["in-process"]) {
      const d = generate(n, seed);
      for (const s of subjects) {
        gc();
        results.push(await runSubject(s, d));
      }
    } else {
      // Round-robin, so a slow spell of the machine hits every structure, not one; best of the runs.
      for (let r = 0; r < repeat; r++) {
        for (let i = 0; i < subjects.length; i++) {
          const got = runIsolated(i, n, seed);
          const prev = results[i];
          if (!prev) {
            results.push(got);
            continue;
          }
          for (const [w, ops] of got.opsPerSec)
            prev.opsPerSec.set(w, Math.max(prev.opsPerSec.get(w) ?? 0, ops));
          prev.bytesPerInterval = Math.min(prev.bytesPerInterval, got.bytesPerInterval);
          prev.queriedBytesPerInterval = Math.min(prev.queriedBytesPerInterval, got.queriedBytesPerInterval);
          for (const [key, v] of got.checks) {
            if (prev.checks.get(key) !== v)
              throw new Error(`N=${n}: ${subjects[i]!.name} ${key} changed between runs`);
          }
        }
      }
    }
    // Equal work: every structure must have returned the same counts.
    const ref = results[0]!.checks;
    for (let i = 1; i < results.length; i++) {
      for (const [key, v] of ref) {
        const other = results[i]!.checks.get(key);
        if (other !== v) throw new Error(`N=${n}: ${subjects[i]!.name} ${key} = ${other}, mmun gives ${v}`);
      }
    }
    const columns = [
      "workload (ops/s)",
      ...subjects.map((s) => s.name),
      "mmun / fastest peer",
      "mmun / kernel RB",
    ];
    const rows: string[][] = [];
    for (const w of WORKLOADS) {
      const peerW = baseWorkload(w);
      const mine = results[0]!.opsPerSec.get(w)!;
      const rb = results[1]!.opsPerSec.get(peerW)!;
      const peers = results.slice(PEERS).map((r) => r.opsPerSec.get(peerW)!);
      const best = Math.max(...peers);
      rows.push([
        w,
        fmt(mine),
        peerW === w ? fmt(rb) : `(${fmt(rb)})`,
        ...peers.map((p) => (peerW === w ? fmt(p) : `(${fmt(p)})`)),
        fmtRatio(mine / best),
        fmtRatio(mine / rb),
      ]);
      summary.push([fmt(n), w, fmtRatio(mine / best), mine / best >= 10 ? "ok" : "BELOW 10x", ""]);
    }
    const memRow = (label: string, mem: number[]) => {
      const bestPeerMem = Math.min(...mem.slice(PEERS));
      rows.push([
        label,
        ...mem.map((b) => fmt(b, 1)),
        `${fmtRatio(bestPeerMem / mem[0]!)} less`,
        `${fmtRatio(mem[1]! / mem[0]!)} less`,
      ]);
    };
    memRow(
      "bytes / interval",
      results.map((r) => r.bytesPerInterval),
    );
    memRow(
      "bytes / interval, queried",
      results.map((r) => r.queriedBytesPerInterval),
    );
    // The target holds for the larger of the two: the tree as built, and with its key directory.
    const ourMem = Math.max(results[0]!.bytesPerInterval, results[0]!.queriedBytesPerInterval);
    summary.push([
      fmt(n),
      "bytes / interval",
      fmt(ourMem, 1),
      ourMem <= 80 || n < 1e6 ? "ok" : "OVER 80",
      "",
    ]);
    const stabAvg = ref.get("stab results")! / CHECK_QUERIES;
    const rangeAvg = ref.get("range results")! / CHECK_QUERIES;
    printTable(
      `interval tree, N = ${fmt(n)}: keys < 2^48, stab avg ${stabAvg.toFixed(1)} results, ` +
        `range avg ${rangeAvg.toFixed(1)}; peers' (cells) repeat their query numbers`,
      columns,
      rows,
    );
    const floor = await staticFloor(generate(n, seed));
    if (floor.stabCount !== ref.get("stab results") || floor.rangeCount !== ref.get("range results"))
      throw new Error(`N=${n}: the static floor's result counts differ from the trees'`);
    const peerNs = (w: Workload) => 1e9 / Math.max(...results.slice(PEERS).map((r) => r.opsPerSec.get(w)!));
    for (const w of ["stab", "range"] as const) {
      console.log(
        `floor, ${w}: a static sorted array (no insert, no remove) takes ${fmt(floor[w], 1)} ns; ` +
          `mmun's search() ${fmt(1e9 / results[0]!.opsPerSec.get(w)!, 1)} ns; ` +
          `10x the fastest peer leaves ${fmt(peerNs(w) / 10, 1)} ns.`,
      );
      // The ratio the static array scores; a tree that can change does more work than it.
      const row = summary.find((r) => r[0] === fmt(n) && r[1] === w);
      if (row) row[4] = fmtRatio(peerNs(w) / floor[w]);
    }
  }
  printTable(
    "targets: >= 10x the fastest peer on every workload, <= 80 B/interval at N = 10^6; " +
      "static array: the ratio the floor's static sorted array scores on stab and range",
    ["N", "workload", "mmun", "target", "static array"],
    summary,
  );
}
