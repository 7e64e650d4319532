// Insert and remove racing with invalidations (kernel-spec §3.3): a notifier Y inserted, read and
// removed by a driver while two tasks invalidate a range covering it, beside a notifier X that stays
// in the tree. An insert during an exclusive period is deferred to the period's end, a remove then
// waits for it; the oracles check that no callback is lost or delivered twice, that none runs after
// remove returned, and that a fresh notifier is in the tree once its readBegin returned.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { MmuNotifierEvent, type MmuNotifierRange, mmuNotifierRangeInit } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";

const PAGE = 0x1000;

/** What happened when, on one logical clock shared by the tasks. */
export interface RaceWorld {
  mm: Mm;
  driver: Mutex;
  base: MmuIntervalNotifier<Mm>;
  t: number;
  insertCalled: number;
  insertReturned: number;
  removeCalled: number;
  removeReturned: number;
  /** A clock value at which Y was certainly linked in the tree (-1: not known yet). */
  yLinked: number;
  y: MmuIntervalNotifier<Mm> | null;
  /** One entry per invalidation: the clock around its start call. */
  invalidations: { range: MmuNotifierRange; startCalled: number; startReturned: number }[];
  /** (sub name, invalidation index) for every callback. */
  calls: [string, number][];
  yInCallback: number;
  yRemoved: boolean;
  violations: string[];
}

const PAGES = 16;

function invalidationOf(w: RaceWorld, range: MmuNotifierRange): number {
  return w.invalidations.findIndex((i) => i.range === range);
}

async function setup(kernel: Kernel): Promise<RaceWorld> {
  const mm = kernel.createMm({ name: "mm" });
  const driver = kernel.mutex("driver_lock");
  const w: RaceWorld = {
    mm,
    driver,
    base: undefined as unknown as MmuIntervalNotifier<Mm>,
    t: 0,
    insertCalled: -1,
    insertReturned: -1,
    removeCalled: -1,
    removeReturned: -1,
    yLinked: -1,
    y: null,
    invalidations: [],
    calls: [],
    yInCallback: 0,
    yRemoved: false,
    violations: [],
  };
  w.base = await MmuIntervalNotifier.insert(mm, 0, PAGES * PAGE, {
    name: "X",
    async invalidate(sub, range, cur) {
      await driver.lock();
      sub.setSeq(cur);
      w.calls.push(["X", invalidationOf(w, range)]);
      driver.unlock();
      return true;
    },
  });
  return w;
}

/** An mm task invalidating pages [4, 12) `rounds` times. */
const invalidator =
  (rounds: number) =>
  async (w: RaceWorld, k: Kernel): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, w.mm, 4 * PAGE, 12 * PAGE);
      const rec = { range, startCalled: w.t++, startReturned: -1 };
      w.invalidations.push(rec);
      const s = w.mm.notifiers.invalidateRangeStart(range);
      if (s) await s;
      rec.startReturned = w.t++;
      await k.point("ptes changing");
      const e = w.mm.notifiers.invalidateRangeEnd(range);
      if (e) await e;
      // A deferred insert is linked by the end of its period: record an upper bound of when.
      if (w.y !== null && w.yLinked < 0 && w.y.membership === "in-tree") w.yLinked = w.t++;
    }
  };

async function inserterRemover(w: RaceWorld, k: Kernel): Promise<void> {
  w.insertCalled = w.t++;
  const y = await MmuIntervalNotifier.insert(w.mm, 6 * PAGE, 2 * PAGE, {
    name: "Y",
    async invalidate(sub, range, cur) {
      if (w.yRemoved) w.violations.push("Y's callback ran after Y.remove() returned");
      w.yInCallback++;
      await w.driver.lock();
      sub.setSeq(cur);
      w.calls.push(["Y", invalidationOf(w, range)]);
      w.driver.unlock();
      await k.point("Y callback tail");
      w.yInCallback--;
      return true;
    },
  });
  w.insertReturned = w.t++;
  w.y = y;
  if (y.membership === "in-tree") w.yLinked = w.insertReturned;
  // After a reader of a fresh notifier leaves readBegin, the notifier is in the tree (§3.3).
  await y.readBegin();
  if (y.membership !== "in-tree") w.violations.push(`Y is ${y.membership} after its readBegin returned`);
  if (w.yLinked < 0) w.yLinked = w.t++;
  await k.point("use Y");
  w.removeCalled = w.t++;
  await y.remove();
  w.removeReturned = w.t++;
  if (w.yInCallback !== 0) w.violations.push("Y.remove() returned while Y's callback was running");
  w.yRemoved = true;
}

/**
 * Final oracle: each invalidation called X once, and called Y exactly when Y's lifetime says it must
 * (linked before the start, removed after the walk) and never when it cannot (inserted after the
 * walk, or removed before the start). Lists every violation seen (throws).
 */
function check(w: RaceWorld): boolean {
  const seen = new Set<string>();
  for (const [sub, inv] of w.calls) {
    const key = `${sub}@${inv}`;
    if (inv < 0) w.violations.push(`${sub} called for an unknown invalidation`);
    if (seen.has(key)) w.violations.push(`${sub} called twice by invalidation ${inv}`);
    seen.add(key);
  }
  w.invalidations.forEach((inv, i) => {
    if (!seen.has(`X@${i}`)) w.violations.push(`X (always in the tree) missed invalidation ${i}`);
    const y = seen.has(`Y@${i}`);
    // Y must be called when it was certainly linked before the start and removed after the walk.
    const mustSee = w.yLinked >= 0 && w.yLinked < inv.startCalled && w.removeCalled > inv.startReturned;
    const cannotSee =
      (w.insertCalled > inv.startReturned && inv.startReturned >= 0) ||
      (w.removeReturned >= 0 && w.removeReturned < inv.startCalled);
    if (mustSee && !y)
      w.violations.push(`Y was linked before invalidation ${i} started and removed after: missed`);
    if (cannotSee && y) w.violations.push(`Y got invalidation ${i}, which ran entirely outside its lifetime`);
  });
  if (w.violations.length !== 0) throw new Error(w.violations.join("\n"));
  return true;
}

/** Correct: insert, readBegin and remove of one notifier racing with two invalidating tasks. */
export const insertRemoveVsInvalidations = defineScenario({
  name: "notifier/insert-remove-vs-invalidations",
  description:
    "A notifier inserted, read and removed while two tasks invalidate a range covering it: no callback is " +
    "lost or delivered twice, none runs after remove returned, and a fresh notifier is in the tree once its " +
    "readBegin returned.",
  setup,
  tasks: {
    driver: inserterRemover,
    munmap: invalidator(2),
    reclaim: invalidator(2),
  },
  check,
  expect: "pass",
  // DFS: every schedule with at most 3 preemptions can be enumerated in seconds; all of them cannot.
  preemptionBound: 3,
  module: import.meta.url,
});
