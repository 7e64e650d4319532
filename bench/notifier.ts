// Notifier core benchmark: src/notifier against the pre-2019 design, and the read-side fast path.
//
// npm run bench -- notifier [--sizes 1e3,1e4,1e5,1e6] [--seed 1]
//
//   dispatch   invalidateRangeStart + invalidateRangeEnd of a 1..4-page range over N one-page interval
//              notifiers (1..4 callbacks per invalidation, each doing setSeq), against a flat list of the
//              same N subscriptions where every subscription's start and end callbacks are called and
//              filter the range themselves (what drivers did before the 2019 interval-tree consolidation).
//   fast path  readBegin + readRetry on an idle notifier, the internal way (no microtask when readBegin
//              returns a number) and with a plain `await`.
//   insert     MmuIntervalNotifier.insert + remove of a random one-page interval on an idle mm holding
//              N = 1e5 notifiers, synchronously (direct runtime, nothing waits) and with `await`.
//
// Direct runtime, code outside any task, trace off: the library-use configuration.

import { parseArgs } from "node:util";
import { Rng } from "../src/lib/rng.js";
import { Kernel } from "../src/mm/kernel.js";
import type { Mm } from "../src/mm/mm.js";
import { MmuIntervalNotifier, type MmuIntervalNotifierOps } from "../src/notifier/intervalNotifier.js";
import { type MmuNotifierRange, mmuNotifierRangeInit } from "../src/notifier/range.js";
import { fmt, fmtRatio, gc, measure, printTable } from "./harness.js";

const PAGE = 4096;
const RANGES = 1 << 12;

/** The minimal correct driver callback: record the sequence, nothing to zap. */
const OPS: MmuIntervalNotifierOps<Mm> = {
  name: "bench",
  invalidate(sub, _range, cur) {
    sub.setSeq(cur);
    return true;
  },
};

/** A subscription of the pre-2019 design: a whole-mm callback that intersects the range itself. */
interface FlatSub {
  start: number;
  last: number;
  seq: number;
  busy: number;
  ops: FlatOps;
}
interface FlatOps {
  invalidateRangeStart(sub: FlatSub, start: number, end: number, cur: number): void;
  invalidateRangeEnd(sub: FlatSub, start: number, end: number): void;
}
const FLAT_OPS: FlatOps = {
  invalidateRangeStart(sub, start, end, cur) {
    if (start <= sub.last && sub.start < end) {
      sub.seq = cur;
      sub.busy++;
    }
  },
  invalidateRangeEnd(sub, start, end) {
    if (start <= sub.last && sub.start < end) sub.busy--;
  },
};

/** The flat-list walk: every subscription is called at start and at end. */
function flatInvalidate(list: FlatSub[], start: number, end: number, cur: number): void {
  for (let i = 0; i < list.length; i++) {
    const s = list[i] as FlatSub;
    s.ops.invalidateRangeStart(s, start, end, cur);
  }
  for (let i = 0; i < list.length; i++) {
    const s = list[i] as FlatSub;
    s.ops.invalidateRangeEnd(s, start, end);
  }
}

async function buildMm(n: number): Promise<{ k: Kernel; mm: Mm; subs: MmuIntervalNotifier<Mm>[] }> {
  const k = new Kernel({ runtime: "direct", lockdep: false });
  const mm = k.createMm({ name: "bench" });
  const subs: MmuIntervalNotifier<Mm>[] = [];
  for (let i = 0; i < n; i++) {
    const r = MmuIntervalNotifier.insert(mm, i * PAGE, PAGE, OPS);
    subs.push(r instanceof Promise ? await r : r);
  }
  return { k, mm, subs };
}

function makeRanges(mm: Mm, n: number, rng: Rng): MmuNotifierRange[] {
  const out: MmuNotifierRange[] = [];
  for (let q = 0; q < RANGES; q++) {
    const pages = 1 + (q % 4);
    const first = rng.int(n - pages + 1);
    out.push(mmuNotifierRangeInit(0, mm, first * PAGE, (first + pages) * PAGE));
  }
  return out;
}

async function dispatch(sizes: number[], seed: number): Promise<string[][]> {
  const rows: string[][] = [];
  for (const n of sizes) {
    const { mm, subs } = await buildMm(n);
    const ranges = makeRanges(mm, n, new Rng(seed * 7919 + n));
    const hits = ranges.reduce((a, r) => a + (r.end - r.start) / PAGE, 0) / ranges.length;
    const notifiers = mm.notifiers;
    const batch = 256;
    let qi = 0;
    const ours = await measure(
      `dispatch itree n=${n}`,
      () => {
        for (let b = 0; b < batch; b++) {
          const r = ranges[qi++ & (RANGES - 1)] as MmuNotifierRange;
          notifiers.invalidateRangeStart(r);
          notifiers.invalidateRangeEnd(r);
        }
      },
      { opsPerCall: batch },
    );
    if (notifiers.activeInvalidateRanges !== 0) throw new Error("unbalanced invalidations");
    // The flat list holds the same intervals.
    const flat: FlatSub[] = subs.map((s) => ({
      start: s.start,
      last: s.last,
      seq: 1,
      busy: 0,
      ops: FLAT_OPS,
    }));
    const flatBatch = Math.max(1, Math.floor(2e6 / n));
    let fi = 0;
    let cur = 3;
    const base = await measure(
      `dispatch flat n=${n}`,
      () => {
        for (let b = 0; b < flatBatch; b++) {
          const r = ranges[fi++ & (RANGES - 1)] as MmuNotifierRange;
          flatInvalidate(flat, r.start, r.end, cur);
          cur += 2;
        }
      },
      { opsPerCall: flatBatch, iterations: 5 },
    );
    rows.push([
      fmt(n),
      hits.toFixed(1),
      fmt(ours.nsPerOp, 1),
      fmt(base.nsPerOp, 0),
      fmtRatio(base.nsPerOp / ours.nsPerOp),
      `±${ours.rme.toFixed(1)}%`,
    ]);
    subs.length = 0;
    flat.length = 0;
    gc();
  }
  return rows;
}

async function fastPath(): Promise<string[][]> {
  const { subs } = await buildMm(16);
  const sub = subs[3] as MmuIntervalNotifier<Mm>;
  const batch = 4096;
  let sink = 0;
  const internal = await measure(
    "readBegin+readRetry internal",
    () => {
      for (let i = 0; i < batch; i++) {
        const s = sub.readBegin();
        if (typeof s !== "number") throw new Error("readBegin waited");
        if (sub.readRetry(s)) sink++;
      }
    },
    { opsPerCall: batch },
  );
  const awaited = await measure(
    "readBegin+readRetry await",
    async () => {
      for (let i = 0; i < batch; i++) {
        const s = await sub.readBegin();
        if (sub.readRetry(s)) sink++;
      }
    },
    { opsPerCall: batch },
  );
  if (sink !== 0) throw new Error("unexpected retry");
  return [
    ['internal: const s = sub.readBegin(); if (typeof s !== "number") …', fmt(internal.nsPerOp, 1), "< 20"],
    ["plain: const s = await sub.readBegin()", fmt(awaited.nsPerOp, 1), "< 150"],
  ];
}

async function insertRemove(n: number, seed: number): Promise<string[][]> {
  const { mm } = await buildMm(n);
  const rng = new Rng(seed * 31 + n);
  const starts = new Float64Array(RANGES);
  for (let i = 0; i < RANGES; i++) starts[i] = rng.int(n) * PAGE + rng.int(PAGE);
  const batch = 256;
  let qi = 0;
  const sync = await measure(
    `insert+remove n=${n} sync`,
    () => {
      for (let b = 0; b < batch; b++) {
        const sub = MmuIntervalNotifier.insert(mm, starts[qi++ & (RANGES - 1)] as number, PAGE, OPS);
        if (sub instanceof Promise) throw new Error("insert waited");
        if (sub.remove() !== undefined) throw new Error("remove waited");
      }
    },
    { opsPerCall: batch },
  );
  const awaited = await measure(
    `insert+remove n=${n} await`,
    async () => {
      for (let b = 0; b < batch; b++) {
        const sub = await MmuIntervalNotifier.insert(mm, starts[qi++ & (RANGES - 1)] as number, PAGE, OPS);
        await sub.remove();
      }
    },
    { opsPerCall: batch },
  );
  if (mm.notifiers.itree.size !== n) throw new Error("tree size changed");
  return [
    [`internal (N = ${fmt(n)})`, fmt(sync.nsPerOp, 1), "< 1000"],
    [`plain await (N = ${fmt(n)})`, fmt(awaited.nsPerOp, 1), "-"],
  ];
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { sizes: { type: "string" }, seed: { type: "string" } },
    allowPositionals: false,
  });
  const sizes = (values.sizes ?? "1e3,1e4,1e5,1e6").split(",").map((s) => Math.round(Number(s)));
  const seed = Number(values.seed ?? 1);
  printTable(
    "notifier: invalidation dispatch, start+end per op (interval tree vs flat list of all subscriptions)",
    ["N", "hits/op", "itree ns/op", "flat ns/op", "speed-up", "itree rme"],
    await dispatch(sizes, seed),
  );
  printTable(
    "notifier: read-side fast path (readBegin + readRetry, idle notifier)",
    ["way", "ns/pair", "target"],
    await fastPath(),
  );
  printTable(
    "notifier: insert + remove when idle",
    ["way", "ns/pair", "target"],
    await insertRemove(100_000, seed),
  );
}
