// kernel-spec §6.1: every core invariant of the notifier, one named test each (plus §6.5).

import { describe, expect, it, vi } from "vitest";
import { EAGAIN, EINVAL, MmunError } from "../../src/lib/errno.js";
import { checkIntervalTree } from "../../src/lib/intervalTreeCheck.js";
import { Rng } from "../../src/lib/rng.js";
import type { Mm } from "../../src/mm/mm.js";
import { MmuNotifier, type MmuNotifierOps } from "../../src/notifier/classicNotifier.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { ADDRESS_SPACE_END, MmuNotifierEvent, type MmuNotifierRange } from "../../src/notifier/range.js";
import {
  type Call,
  insertRecorded,
  range,
  recordingOps,
  rejection,
  reportsOf,
  settle,
  track,
  world,
} from "./helpers.js";

const PAGE = 0x1000;

/** gseq values in the order the trace recorded them, consecutive duplicates dropped. */
function gseqHistory(k: ReturnType<typeof world>["k"], mm: Mm): number[] {
  return (k.trace?.events ?? [])
    .filter((e) => e.obj === mm.notifiers.id && e.kind === "value" && e.detail === "invalidate_seq")
    .map((e) => e.value as number)
    .filter((v, i, a) => i === 0 || a[i - 1] !== v);
}

/** A classic notifier logging its calls under `name`. */
function classicOps(log: string[], name: string, extra: Partial<MmuNotifierOps> = {}): MmuNotifierOps {
  return {
    name,
    invalidateRangeStart(_sub, r) {
      log.push(`${name}.start ${r.blockable ? "b" : "nb"}`);
      return 0;
    },
    invalidateRangeEnd(_sub, r) {
      log.push(`${name}.end ${r.blockable ? "b" : "nb"}`);
    },
    ...extra,
  };
}

/** Random operations on one mm, checking §6.1-2 and -3 after each; returns the gseq history. */
async function randomWorkout(seed: number, steps: number): Promise<{ history: number[]; checked: number }> {
  const { k, mm } = world({ trace: true });
  const subs = mm.notifiers;
  const rng = new Rng(seed);
  const log: Call[] = [];
  const live: MmuIntervalNotifier<Mm>[] = [];
  const active: MmuNotifierRange[] = [];
  const pending: Promise<unknown>[] = [];
  let checked = 0;
  // Register the tree first: a start/end pair must not straddle the first registration.
  live.push(await insertRecorded(mm, log, "s0", 0, PAGE));
  for (let i = 0; i < steps; i++) {
    const op = rng.int(6);
    if (op === 0 && live.length < 40) {
      const p = MmuIntervalNotifier.insert(
        mm,
        rng.int(64) * PAGE,
        (1 + rng.int(4)) * PAGE,
        recordingOps(log, "s"),
      );
      live.push(p instanceof Promise ? await p : p);
    } else if (op === 1 && live.length > 0) {
      const s = live.splice(rng.int(live.length), 1)[0] as MmuIntervalNotifier<Mm>;
      const p = s.remove();
      if (p) pending.push(p);
    } else if ((op === 2 || op === 3) && active.length < 3) {
      const a = rng.int(64) * PAGE;
      const r = range(mm, a, a + (1 + rng.int(4)) * PAGE);
      subs.invalidateRangeStart(r);
      active.push(r);
    } else if ((op === 4 || op === 3 || op === 2) && active.length > 0) {
      const r = active.splice(rng.int(active.length), 1)[0] as MmuNotifierRange;
      subs.invalidateRangeEnd(r);
      await settle();
    } else if (op === 5 && live.length > 0) {
      const s = live[rng.int(live.length)] as MmuIntervalNotifier<Mm>;
      const v = s.readBegin();
      if (v instanceof Promise) pending.push(v);
    }
    const st = subs.state();
    // 6.1-3
    if (st.invalidateSeq % 2 === 1) expect(st.activeInvalidateRanges).toBeGreaterThan(0);
    if (st.activeInvalidateRanges === 0) {
      expect(st.invalidateSeq % 2).toBe(0);
      expect(st.deferred).toEqual([]);
    }
    checked++;
  }
  for (const r of active) subs.invalidateRangeEnd(r);
  await Promise.all(pending);
  expect(k.reports).toEqual([]);
  return { history: gseqHistory(k, mm), checked };
}

describe("kernel-spec §6.1 core invariants", () => {
  it("6.1-1: a new mm's notifier state has gseq 2, no active range, an empty tree and an empty deferred list", () => {
    const { mm } = world();
    const st = mm.notifiers.state();
    expect(st.invalidateSeq).toBe(2);
    expect(st.activeInvalidateRanges).toBe(0);
    expect(st.tree).toEqual([]);
    expect(st.deferred).toEqual([]);
    expect(st.present).toBe(false);
  });

  it("6.1-2: gseq never decreases and moves only even->odd (|1) or odd->even (+1) (seed 1, 3000 operations)", async () => {
    const { history } = await randomWorkout(1, 3000);
    expect(history.length).toBeGreaterThan(20);
    let prev = 2;
    for (const v of history) {
      expect(v).toBeGreaterThanOrEqual(prev);
      if (v !== prev) expect(v).toBe(prev + 1); // |1 on even is +1; odd -> even is +1
      prev = v;
    }
  });

  it("6.1-3: gseq odd implies active > 0, and active = 0 implies gseq even with an empty deferred list (seed 2)", async () => {
    const { checked } = await randomWorkout(2, 3000);
    expect(checked).toBe(3000);
  });

  it("6.1-4: gseq turns odd only when a start finds an intersecting sub or an insert lands in a partial period", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0x10000, PAGE);
    // Idle insert: stays even.
    expect(subs.invalidateSeq).toBe(2);
    // A start that finds nothing: partial, even.
    const miss = range(mm, 0x20000, 0x21000);
    subs.invalidateRangeStart(miss);
    expect(subs.invalidateSeq).toBe(2);
    // An insert during the partial period: odd.
    const b = await insertRecorded(mm, log, "B", 0x30000, PAGE);
    expect(subs.invalidateSeq).toBe(3);
    subs.invalidateRangeEnd(miss);
    expect(subs.invalidateSeq).toBe(4);
    // A start that finds A: odd.
    const hit = range(mm, 0x10000, 0x10001);
    subs.invalidateRangeStart(hit);
    expect(subs.invalidateSeq).toBe(5);
    subs.invalidateRangeEnd(hit);
    expect(subs.invalidateSeq).toBe(6);
    await a.remove();
    await b.remove();
    expect(subs.invalidateSeq).toBe(6);
  });

  it("6.1-5: gseq turns even only in the end that brings active from 1 to 0, which applies the deferred list before waking waiters", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const r1 = range(mm, 0, PAGE);
    const r2 = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r1);
    subs.invalidateRangeStart(r2);
    const late = await insertRecorded(mm, log, "late", 0x8000, PAGE);
    expect(late.membership).toBe("pending-insert");
    let seenInTree: string | undefined;
    const reader = k.spawn("reader", async () => {
      await late.readBegin();
      seenInTree = late.membership;
    });
    k.spawn("mm", async () => {
      for (let i = 0; reader.state !== "blocked" && i < 100; i++) await k.point();
      subs.invalidateRangeEnd(r1);
      expect(subs.invalidateSeq).toBe(3); // active 2 -> 1: nothing happens
      expect(late.membership).toBe("pending-insert");
      expect(reader.state).toBe("blocked");
      subs.invalidateRangeEnd(r2);
      expect(subs.invalidateSeq).toBe(4);
    });
    await k.run();
    // The reader woke with the deferred insert already applied.
    expect(seenInTree).toBe("in-tree");
    await a.remove();
    await late.remove();
  });

  it("6.1-6: the tree is never modified while gseq is odd", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const b = await insertRecorded(mm, log, "B", 2 * PAGE, PAGE);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    expect(subs.invalidateSeq % 2).toBe(1);
    const before = subs.itree.modCount;
    const c = await insertRecorded(mm, log, "C", PAGE, PAGE);
    const removing = track(b.remove());
    const d = await insertRecorded(mm, log, "D", 5 * PAGE, PAGE);
    await d.remove(); // cancels a pending insert: no tree change either
    expect(subs.itree.modCount).toBe(before);
    expect(subs.state().tree.map((e) => e.start)).toEqual([0, 2 * PAGE]);
    subs.invalidateRangeEnd(r);
    await settle();
    expect(removing.done).toBe(true);
    expect(subs.state().tree.map((e) => e.start)).toEqual([0, PAGE]);
    checkIntervalTree(subs.itree);
    await a.remove();
    await c.remove();
  });

  it("6.1-7: every sub's sseq is odd from insert until remove (idle, partial and exclusive inserts, after callbacks)", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const all: MmuIntervalNotifier<Mm>[] = [];
    all.push(await insertRecorded(mm, log, "idle", 0, PAGE));
    const miss = range(mm, 0x100000, 0x101000);
    subs.invalidateRangeStart(miss);
    all.push(await insertRecorded(mm, log, "partial", PAGE, PAGE));
    all.push(await insertRecorded(mm, log, "exclusive", 2 * PAGE, PAGE));
    for (const s of all) expect(s.invalidateSeq % 2).toBe(1);
    subs.invalidateRangeEnd(miss);
    for (let i = 0; i < 10; i++) {
      const r = range(mm, 0, 3 * PAGE);
      subs.invalidateRangeStart(r);
      for (const s of all) expect(s.invalidateSeq % 2).toBe(1);
      subs.invalidateRangeEnd(r);
    }
    for (const s of all) await s.remove();
  });

  it("6.1-8: all callbacks of one exclusive period get the same odd curSeq, and the next period a larger one", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const subsList = [
      await insertRecorded(mm, log, "A", 0, PAGE),
      await insertRecorded(mm, log, "B", PAGE, PAGE),
      await insertRecorded(mm, log, "C", 8 * PAGE, PAGE),
    ];
    const r1 = range(mm, 0, PAGE);
    const r2 = range(mm, PAGE, 2 * PAGE);
    const r3 = range(mm, 8 * PAGE, 9 * PAGE);
    subs.invalidateRangeStart(r1);
    subs.invalidateRangeStart(r2);
    subs.invalidateRangeEnd(r1);
    subs.invalidateRangeStart(r3); // still the same period: r2 is active
    subs.invalidateRangeEnd(r2);
    subs.invalidateRangeEnd(r3);
    const period1 = log.map((c) => c.cur);
    expect(period1).toEqual([3, 3, 3]);
    subs.invalidateRangeStart(r1);
    subs.invalidateRangeEnd(r1);
    expect(log[3]?.cur).toBe(5);
    for (const s of subsList) await s.remove();
  });

  it("6.1-9: an invalidation calls exactly the subs linked and intersecting at its start, once each, in start order with insertion order on ties (seed 9)", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const rng = new Rng(9);
    const log: Call[] = [];
    const intervals: { name: string; start: number; last: number; order: number }[] = [];
    for (let i = 0; i < 300; i++) {
      const start = rng.int(200) * 16; // many equal starts
      const length = 1 + rng.int(100);
      const name = `s${i}`;
      await insertRecorded(mm, log, name, start, length);
      intervals.push({ name, start, last: start + length - 1, order: i });
    }
    for (let q = 0; q < 300; q++) {
      const s = rng.int(3300);
      const e = s + 1 + rng.int(rng.int(2) === 0 ? 4 : 400);
      log.length = 0;
      const r = range(mm, s, e);
      subs.invalidateRangeStart(r);
      subs.invalidateRangeEnd(r);
      const expected = intervals
        .filter((iv) => iv.start <= e - 1 && s <= iv.last)
        .sort((x, y) => x.start - y.start || x.order - y.order)
        .map((iv) => iv.name);
      expect(log.map((c) => c.sub)).toEqual(expected);
    }
  });

  it("6.1-10: insert with length 0 or an end past 2^53-1 fails with EOVERFLOW and changes nothing", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    await (await insertRecorded(mm, log, "first", 0, PAGE)).remove();
    const before = subs.state();
    for (const [start, length] of [
      [0, 0],
      [PAGE, 0],
      [Number.MAX_SAFE_INTEGER, 2],
      [2, Number.MAX_SAFE_INTEGER],
      [1, Number.MAX_SAFE_INTEGER + 1],
      [Number.MAX_SAFE_INTEGER - 10, 12],
    ] as const) {
      const e = await rejection(() => MmuIntervalNotifier.insert(mm, start, length, recordingOps(log, "x")));
      expect(e).toBeInstanceOf(MmunError);
      expect((e as MmunError).code).toBe("EOVERFLOW");
    }
    expect(subs.state()).toEqual(before);
    expect(mm.count).toBe(1);
    // The largest interval that fits is accepted.
    const top = await insertRecorded(mm, log, "top", Number.MAX_SAFE_INTEGER, 1);
    expect(top.last).toBe(Number.MAX_SAFE_INTEGER);
    const all = await insertRecorded(mm, log, "all", 0, Number.MAX_SAFE_INTEGER + 1);
    expect(all.last).toBe(Number.MAX_SAFE_INTEGER);
    await top.remove();
    await all.remove();
  });

  it("6.1-11: insert when idle links at once, sets sseq = gseq - 1 and read_begin does not wait", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = MmuIntervalNotifier.insert(mm, 0, PAGE, recordingOps(log, "A"));
    // The first insert registers the tree (takes mmap_lock): it may return a promise.
    const A = a instanceof Promise ? await a : a;
    expect(A.membership).toBe("in-tree");
    expect(A.invalidateSeq).toBe(subs.invalidateSeq - 1);
    // Later idle inserts complete synchronously.
    const B = MmuIntervalNotifier.insert(mm, PAGE, PAGE, recordingOps(log, "B"));
    expect(B).toBeInstanceOf(MmuIntervalNotifier);
    const b = B as MmuIntervalNotifier<Mm>;
    expect(b.invalidateSeq).toBe(1);
    expect(b.readBegin()).toBe(1);
    await A.remove();
    await b.remove();
  });

  it("6.1-12: insert while active > 0 sets sseq = gseq (odd) and read_begin waits for every invalidation in flight at insert time", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const base = await insertRecorded(mm, log, "base", 0x100000, PAGE);
    const i1 = range(mm, 0, PAGE);
    const i2 = range(mm, 4 * PAGE, 5 * PAGE);
    subs.invalidateRangeStart(i1);
    subs.invalidateRangeStart(i2);
    expect(subs.invalidateSeq).toBe(2); // partial: nobody intersected
    const x = await insertRecorded(mm, log, "X", 8 * PAGE, PAGE);
    expect(subs.invalidateSeq).toBe(3);
    expect(x.invalidateSeq).toBe(3);
    const begun = track(x.readBegin());
    await settle();
    expect(begun.done).toBe(false);
    subs.invalidateRangeEnd(i1);
    await settle();
    expect(begun.done).toBe(false);
    subs.invalidateRangeEnd(i2);
    await settle();
    expect(begun.done).toBe(true);
    expect(begun.value).toBe(3);
    await x.remove();
    await base.remove();
  });

  it("6.1-13: a sub inserted while gseq is odd is not seen by invalidations until the period ends, then it is in the tree", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    const late = await insertRecorded(mm, log, "late", 0, PAGE);
    expect(late.membership).toBe("pending-insert");
    const r2 = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r2);
    expect(log.map((c) => c.sub)).toEqual(["A", "A"]);
    subs.invalidateRangeEnd(r2);
    subs.invalidateRangeEnd(r);
    expect(late.membership).toBe("in-tree");
    const r3 = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r3);
    subs.invalidateRangeEnd(r3);
    expect(log.map((c) => c.sub)).toEqual(["A", "A", "A", "late"]);
    await a.remove();
    await late.remove();
  });

  it("6.1-14: read_begin returns the sub's sseq, sleeping only while sseq equals gseq, until gseq changes", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const b = await insertRecorded(mm, log, "B", 8 * PAGE, PAGE);
    expect(a.readBegin()).toBe(1); // sseq 1 != gseq 2: at once
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    expect(b.readBegin()).toBe(1); // gseq odd, but B untouched: at once
    const begun = track(a.readBegin());
    await settle();
    expect(begun.done).toBe(false); // sseq 3 == gseq 3
    subs.invalidateRangeEnd(r);
    await settle();
    expect(begun.value).toBe(3);
    expect(a.readBegin()).toBe(3);
    await a.remove();
    await b.remove();
  });

  it("6.1-15: a set_seq between read_begin and read_retry makes read_retry true", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const s = a.readBegin() as number;
    expect(a.readRetry(s)).toBe(false);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    expect(a.readRetry(s)).toBe(true);
    subs.invalidateRangeEnd(r);
    expect(a.readRetry(s)).toBe(true);
    // Without a callback in between, no retry.
    const s2 = a.readBegin() as number;
    expect(a.readRetry(s2)).toBe(false);
    // An explicit setSeq (what a callback does) is what makes the difference.
    a.setSeq(s2 + 2);
    expect(a.readRetry(s2)).toBe(true);
    await a.remove();
  });

  it("6.1-16: once check_retry(s) is true every later read_retry(s) is true", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const s = a.readBegin() as number;
    expect(a.checkRetry(s)).toBe(false);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    expect(a.checkRetry(s)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const r2 = range(mm, 0, PAGE);
      if (i % 2 === 0) subs.invalidateRangeEnd(r);
      subs.invalidateRangeStart(r2);
      expect(a.readRetry(s)).toBe(true);
      subs.invalidateRangeEnd(r2);
      expect(a.readRetry(s)).toBe(true);
      if (i % 2 === 0) subs.invalidateRangeStart(r);
    }
    subs.invalidateRangeEnd(r);
    expect(a.readRetry(s)).toBe(true);
    await a.remove();
  });

  it("6.1-17: an invalidation that intersects no sub keeps gseq even, wakes nobody and delays no reader", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const wake = vi.spyOn(subs.wq, "wakeUpAll");
    const r = range(mm, 4 * PAGE, 8 * PAGE);
    subs.invalidateRangeStart(r);
    expect(subs.invalidateSeq).toBe(2);
    expect(subs.activeInvalidateRanges).toBe(1);
    expect(a.readBegin()).toBe(1);
    subs.invalidateRangeEnd(r);
    expect(subs.invalidateSeq).toBe(2);
    expect(wake).not.toHaveBeenCalled();
    expect(log).toEqual([]);
    expect(a.readRetry(1)).toBe(false);
    await a.remove();
  });

  it("6.1-18: remove returns at once when gseq is even or the sub only pends insertion, and sleeps until gseq changes when in the tree while odd", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    // Idle, gseq even.
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    expect(a.remove()).toBeUndefined();
    // Partial (even, active > 0).
    const b = await insertRecorded(mm, log, "B", 0, PAGE);
    const miss = range(mm, 0x100000, 0x101000);
    subs.invalidateRangeStart(miss);
    expect(b.remove()).toBeUndefined();
    subs.invalidateRangeEnd(miss);
    // Odd: pending insert is cancelled at once; an in-tree sub waits for the whole period, even
    // though the invalidation in flight does not touch it.
    const c = await insertRecorded(mm, log, "C", 0, PAGE);
    const far = await insertRecorded(mm, log, "far", 0x200000, PAGE);
    const hit = range(mm, 0, PAGE);
    subs.invalidateRangeStart(hit);
    const pend = await insertRecorded(mm, log, "pend", 0x300000, PAGE);
    expect(pend.membership).toBe("pending-insert");
    expect(pend.remove()).toBeUndefined();
    expect(subs.state().deferred).toEqual([]);
    const farRemoved = track(far.remove());
    await settle();
    expect(farRemoved.done).toBe(false);
    subs.invalidateRangeEnd(hit);
    await settle();
    expect(farRemoved.done).toBe(true);
    expect(subs.state().tree.map((e) => e.start)).toEqual([0]);
    await c.remove();
    expect(subs.state().tree).toEqual([]);
  });

  it("6.1-19: after remove returns the sub's callback is not running and is never invoked again", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const events: string[] = [];
    const gate = k.completion("gate");
    const sub = await MmuIntervalNotifier.insert(mm, 0, PAGE, {
      async invalidate(s, _r, cur) {
        events.push("callback begins");
        s.setSeq(cur);
        await gate.wait();
        events.push("callback returns");
        return true;
      },
    });
    k.spawn("munmap", async () => {
      const r = range(mm, 0, PAGE);
      await subs.invalidateRangeStart(r);
      events.push("start returned");
      await subs.invalidateRangeEnd(r);
      events.push("end returned");
    });
    k.spawn("driver-teardown", async () => {
      for (let i = 0; events.length === 0 && i < 100; i++) await k.point();
      const p = sub.remove();
      events.push(p === undefined ? "remove did not wait" : "remove waits");
      await p;
      events.push("remove returned");
    });
    k.spawn("device-irq", async () => {
      for (let i = 0; !events.includes("remove waits") && i < 100; i++) await k.point();
      gate.complete();
    });
    await k.run();
    expect(events).toEqual([
      "callback begins",
      "remove waits",
      "callback returns",
      "start returned",
      "end returned",
      "remove returned",
    ]);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    subs.invalidateRangeEnd(r);
    expect(events.filter((e) => e === "callback begins")).toHaveLength(1);
  });

  it("6.1-20: a non-blocking start whose callback returns false stops, runs no later callback nor classic start, ends the interval phase and returns -EAGAIN", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const classic: string[] = [];
    await subs.register(new MmuNotifier(classicOps(classic, "K")));
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const b = await insertRecorded(mm, log, "B", PAGE, PAGE, { result: false });
    const c = await insertRecorded(mm, log, "C", 2 * PAGE, PAGE);
    const r = range(mm, 0, 3 * PAGE);
    expect(subs.invalidateRangeStartNonblock(r)).toBe(-EAGAIN);
    expect(r.blockable).toBe(false);
    expect(log.map((x) => x.sub)).toEqual(["A", "B"]);
    expect(classic).toEqual([]);
    expect(subs.activeInvalidateRanges).toBe(0);
    expect(subs.invalidateSeq).toBe(4);
    expect(a.readRetry(1)).toBe(true); // A was invalidated although the PTEs did not change
    for (const s of [a, b, c]) await s.remove();
  });

  it("6.1-21: a blockable start whose callback returns false warns, calls the remaining callbacks and succeeds", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE, { result: false });
    const b = await insertRecorded(mm, log, "B", PAGE, PAGE);
    const r = range(mm, 0, 2 * PAGE);
    expect(subs.invalidateRangeStart(r)).toBeUndefined();
    expect(log.map((x) => x.sub)).toEqual(["A", "B"]);
    expect(reportsOf(k, "warn")).toEqual([expect.stringContaining("returned false for the blockable range")]);
    expect(subs.activeInvalidateRanges).toBe(1);
    subs.invalidateRangeEnd(r);
    await a.remove();
    await b.remove();
  });

  it("6.1-22: when a classic start fails every start still runs, then every classic end runs once, and the start returns -EAGAIN", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const log: string[] = [];
    await subs.register(new MmuNotifier(classicOps(log, "A")));
    await subs.register(
      new MmuNotifier({
        name: "FAIL",
        invalidateRangeStart(_s, r) {
          log.push(`FAIL.start ${r.blockable ? "b" : "nb"}`);
          return r.blockable ? 0 : -EAGAIN;
        },
      }),
    );
    await subs.register(new MmuNotifier(classicOps(log, "C")));
    const r = range(mm, 0, PAGE);
    expect(subs.invalidateRangeStartNonblock(r)).toBe(-EAGAIN);
    expect(log).toEqual(["C.start nb", "FAIL.start nb", "A.start nb", "C.end nb", "A.end nb"]);
    expect(k.reports).toEqual([]);
  });

  it("6.1-23: interval callbacks precede classic starts, and interval bookkeeping precedes classic ends", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const order: string[] = [];
    await subs.register(
      new MmuNotifier({
        invalidateRangeStart() {
          order.push(`classic start (gseq ${subs.invalidateSeq}, active ${subs.activeInvalidateRanges})`);
          return 0;
        },
        invalidateRangeEnd() {
          order.push(`classic end (gseq ${subs.invalidateSeq}, active ${subs.activeInvalidateRanges})`);
        },
      }),
    );
    const a = await MmuIntervalNotifier.insert(mm, 0, PAGE, {
      invalidate(s, _r, cur) {
        order.push(`interval ${cur}`);
        s.setSeq(cur);
        return true;
      },
    });
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    subs.invalidateRangeEnd(r);
    expect(order).toEqual([
      "interval 3",
      "classic start (gseq 3, active 1)",
      "classic end (gseq 4, active 0)",
    ]);
    await a.remove();
  });

  it("6.1-24: on an mm without subscriptions every hook is a no-op returning 0", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const r = range(mm, 0, PAGE);
    expect(subs.invalidateRangeStart(r)).toBeUndefined();
    expect(subs.invalidateRangeEnd(r)).toBeUndefined();
    expect(subs.invalidateRangeStartNonblock(r)).toBe(0);
    expect(subs.release()).toBeUndefined();
    expect(subs.clearFlushYoung(0, PAGE)).toBe(0);
    expect(subs.clearYoung(0, PAGE)).toBe(0);
    expect(subs.testYoung(0)).toBe(0);
    expect(subs.archInvalidateSecondaryTlbs(0, PAGE)).toBeUndefined();
    expect(subs.state()).toMatchObject({ invalidateSeq: 2, activeInvalidateRanges: 0, present: false });
    expect(k.reports).toEqual([]);
  });

  it("6.1-25: register rejects ops with both secondary-TLB and start/end hooks (EINVAL), and a registered notifier is called by every later hook", async () => {
    const { k, mm } = world();
    const subs = mm.notifiers;
    const bad = new MmuNotifier({ archInvalidateSecondaryTlbs() {}, invalidateRangeEnd() {} });
    const e = await rejection(() => subs.register(bad));
    expect((e as MmunError).code).toBe("EINVAL");
    expect((e as MmunError).errno).toBe(EINVAL);
    expect(reportsOf(k, "warn")).toHaveLength(1);
    expect(mm.count).toBe(1);
    const log: string[] = [];
    const tlb: string[] = [];
    await subs.register(new MmuNotifier(classicOps(log, "K")));
    await subs.register(
      new MmuNotifier({ archInvalidateSecondaryTlbs: (_s, _m, a, b) => void tlb.push(`${a}-${b}`) }),
    );
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    subs.invalidateRangeEnd(r);
    subs.archInvalidateSecondaryTlbs(0, PAGE);
    expect(log).toEqual(["K.start b", "K.end b"]);
    expect(tlb).toEqual([`0-${PAGE}`]);
  });

  it("6.1-26: classic notifiers are called newest-registered first", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: string[] = [];
    for (const name of ["first", "second", "third"])
      await subs.register(new MmuNotifier(classicOps(log, name)));
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    subs.invalidateRangeEnd(r);
    expect(log).toEqual([
      "third.start b",
      "second.start b",
      "first.start b",
      "third.end b",
      "second.end b",
      "first.end b",
    ]);
  });

  it("6.1-27: get twice returns one notifier with 2 users; two puts free it once after a grace period; a users overflow gives EOVERFLOW", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const freed: MmuNotifier[] = [];
    const ops: MmuNotifierOps = { name: "shared", freeNotifier: (s) => void freed.push(s) };
    const a = await subs.get(ops);
    const b = await subs.get(ops);
    expect(b).toBe(a);
    expect(a.users).toBe(2);
    expect(mm.count).toBe(2);
    subs.put(a);
    expect(a.users).toBe(1);
    expect(subs.state().classic).toBe(1);
    // A reader inside the SRCU read side delays the free.
    const idx = subs.srcu.readLock();
    subs.put(a);
    expect(subs.state().classic).toBe(0);
    expect(freed).toEqual([]);
    subs.srcu.readUnlock(idx);
    await subs.synchronize();
    expect(freed).toEqual([a]);
    expect(a.freed).toBe(true);
    expect(mm.count).toBe(1);
    // A second get after the free allocates a new one.
    const c = await subs.get(ops);
    expect(c).not.toBe(a);
    c.users = 0xffffffff;
    const e = await rejection(() => subs.get(ops));
    expect((e as MmunError).code).toBe("EOVERFLOW");
    expect(c.users).toBe(0xffffffff);
  });

  it("6.1-28: after unregister returns no method runs, and release ran at least once (by exit, unregister, or both)", async () => {
    // Unregister alone: it calls release.
    {
      const { mm } = world();
      const log: string[] = [];
      const n = new MmuNotifier(classicOps(log, "K", { release: () => void log.push("release") }));
      await mm.notifiers.register(n);
      await mm.notifiers.unregister(n);
      const r = range(mm, 0, PAGE);
      mm.notifiers.invalidateRangeStart(r);
      mm.notifiers.invalidateRangeEnd(r);
      expect(log).toEqual(["release"]);
      expect(mm.count).toBe(1);
    }
    // Exit first, then unregister: release ran once, by exit; unregister still drops its reference.
    {
      const { mm } = world();
      const log: string[] = [];
      const n = new MmuNotifier(classicOps(log, "K", { release: () => void log.push("release") }));
      await mm.notifiers.register(n);
      mm.mmget();
      await mm.mmput();
      await mm.mmput();
      expect(log).toEqual(["release"]);
      expect(mm.count).toBe(1);
      await mm.notifiers.unregister(n);
      expect(log).toEqual(["release"]);
      expect(mm.count).toBe(0);
    }
    // Exit and unregister at once: both call release; unregister returns only after exit's release.
    {
      const { k, mm } = world();
      const log: string[] = [];
      const gate = k.completion("gate");
      const n = new MmuNotifier({
        async release(_s, _m) {
          log.push("release begins");
          await gate.wait();
          log.push("release ends");
        },
      });
      await mm.notifiers.register(n);
      k.spawn("exit", async () => {
        await mm.mmput();
        log.push("exit done");
      });
      k.spawn("unregister", async () => {
        for (let i = 0; !log.includes("release begins") && i < 100; i++) await k.point();
        await mm.notifiers.unregister(n);
        log.push("unregister returned");
      });
      k.spawn("irq", async () => {
        for (let i = 0; log.filter((l) => l === "release begins").length < 2 && i < 100; i++) await k.point();
        gate.completeAll();
      });
      await k.run();
      expect(log.filter((l) => l === "release begins")).toHaveLength(2);
      expect(log.indexOf("unregister returned")).toBeGreaterThan(log.lastIndexOf("release ends"));
      expect(k.reports).toEqual([]);
    }
  });

  it("6.1-29: release at exit gives every interval sub one blockable RELEASE over the whole space; subs stay registered; classic subs are unlinked", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const log: Call[] = [];
    const classic: string[] = [];
    const classicNotifier = new MmuNotifier(
      classicOps(classic, "K", { release: () => void classic.push("release") }),
    );
    await subs.register(classicNotifier);
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const b = await insertRecorded(mm, log, "B", 0x7fff_0000_0000, PAGE);
    await mm.mmput();
    expect(log.map((c) => [c.sub, c.start, c.end, c.event, c.blockable])).toEqual([
      ["A", 0, ADDRESS_SPACE_END, MmuNotifierEvent.RELEASE, true],
      ["B", 0, ADDRESS_SPACE_END, MmuNotifierEvent.RELEASE, true],
    ]);
    expect(classic).toEqual(["release"]);
    expect(subs.state()).toMatchObject({ classic: 0, activeInvalidateRanges: 0, invalidateSeq: 4 });
    expect(subs.state().tree).toHaveLength(2);
    // The later UNMAP of exit still reaches them; they must still be removed.
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r);
    subs.invalidateRangeEnd(r);
    expect(log.map((c) => c.sub)).toEqual(["A", "B", "A"]);
    expect(classic).toEqual(["release"]);
    await a.remove();
    await b.remove();
    // The classic notifier still holds its mm reference until it is unregistered.
    expect(mm.count).toBe(1);
    await subs.unregister(classicNotifier);
    expect(mm.count).toBe(0);
  });

  it("6.1-30: clear_flush_young and clear_young return the OR of all results; test_young the first non-zero", async () => {
    const { mm } = world();
    const subs = mm.notifiers;
    const tested: string[] = [];
    const young = (name: string, v: number): MmuNotifierOps => ({
      name,
      clearFlushYoung: () => v,
      clearYoung: () => v,
      testYoung: () => {
        tested.push(name);
        return v;
      },
    });
    await subs.register(new MmuNotifier(young("a", 0)));
    await subs.register(new MmuNotifier(young("b", 2)));
    await subs.register(new MmuNotifier(young("c", 1)));
    await subs.register(new MmuNotifier(young("d", 0)));
    expect(subs.clearFlushYoung(0, PAGE)).toBe(3);
    expect(subs.clearYoung(0, PAGE)).toBe(3);
    expect(subs.testYoung(0)).toBe(1);
    expect(tested).toEqual(["d", "c"]);
  });
});

describe("kernel-spec §3.3 deferred insert and remove", () => {
  it("the deferred list is applied newest first", async () => {
    const { k, mm } = world({ trace: true });
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const r = range(mm, 0, PAGE);
    subs.invalidateRangeStart(r); // A intersects: an exclusive period, the tree frozen
    // Deferred in this order: P's insert, A's removal, Q's insert (P and Q watch the same interval).
    const p = await insertRecorded(mm, log, "P", 4 * PAGE, PAGE);
    const removingA = track(a.remove());
    const q = await insertRecorded(mm, log, "Q", 4 * PAGE, PAGE);
    const name = new Map([
      [a.id, "A"],
      [p.id, "P"],
      [q.id, "Q"],
    ]);
    expect(subs.state().deferred.map((e) => `${e.op} ${name.get(e.id)}`)).toEqual([
      "insert Q",
      "remove A",
      "insert P",
    ]);
    subs.invalidateRangeEnd(r);
    // The end of the period applies them newest first (the kernel's deferred hlist is LIFO) ...
    const applied = (k.trace?.events ?? [])
      .filter((e) => e.kind === "note" && /^deferred (insert|remove) applied$/.test(e.detail ?? ""))
      .map((e) => `${name.get(e.obj)}: ${e.detail}`);
    expect(applied).toEqual([
      "Q: deferred insert applied",
      "A: deferred remove applied",
      "P: deferred insert applied",
    ]);
    // ... so Q, linked first, precedes P in the tree (equal intervals keep insertion order), and an
    // invalidation calls Q first.
    expect(subs.state().tree.map((e) => name.get(e.id))).toEqual(["Q", "P"]);
    await settle();
    expect(removingA.done).toBe(true);
    log.length = 0;
    const r2 = range(mm, 4 * PAGE, 5 * PAGE);
    subs.invalidateRangeStart(r2);
    subs.invalidateRangeEnd(r2);
    expect(log.map((c) => c.sub)).toEqual(["Q", "P"]);
    await p.remove();
    await q.remove();
  });
});

describe("kernel-spec §6.5 non-blocking hazard", () => {
  async function hazardWorld(nonblockHazard: boolean) {
    const { k, mm } = world({}, { nonblockHazard });
    const subs = mm.notifiers;
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    await subs.register(
      new MmuNotifier({ name: "nouveau-like", invalidateRangeStart: (_s, r) => (r.blockable ? 0 : -EAGAIN) }),
    );
    const r = range(mm, 0, PAGE);
    expect(subs.invalidateRangeStartNonblock(r)).toBe(-EAGAIN);
    return { k, mm, subs, a, log };
  }

  it("6.5: by default a classic start failing after the interval phase ends the interval phase (fixed)", async () => {
    const { subs, a, log } = await hazardWorld(false);
    expect(log.map((c) => c.sub)).toEqual(["A"]);
    expect(subs.activeInvalidateRanges).toBe(0);
    expect(subs.invalidateSeq).toBe(4);
    expect(a.readBegin()).toBe(3);
    expect(a.remove()).toBeUndefined();
  });

  it("6.5: with nonblockHazard the interval phase stays begun, so read_begin and remove never return (Linux's behaviour)", async () => {
    const { subs, a } = await hazardWorld(true);
    expect(subs.activeInvalidateRanges).toBe(1);
    expect(subs.invalidateSeq).toBe(3);
    const begun = track(a.readBegin());
    const removed = track(a.remove());
    await settle();
    expect(begun.done).toBe(false);
    expect(removed.done).toBe(false);
  });
});
