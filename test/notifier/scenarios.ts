// Interleaving scenarios of the notifier core, each a plain object building its world and tasks
// (the shape of DESIGN.md §3.7's defineScenario), so the same scenario runs under the random
// strategy here and under exhaustive DFS once the explorer lands. `check` returns false (and lists
// the violations in world.violations) when an oracle failed.

import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { type MmuNotifierRange, mmuNotifierRangeInit } from "../../src/notifier/range.js";
import type { Mutex } from "../../src/sync/mutex.js";
import { controlledKernel } from "./helpers.js";

const PAGE = 0x1000;

/** A scenario: a world, named tasks acting on it, and a final check. */
export interface NotifierScenario<W extends { violations: string[] }> {
  name: string;
  description: string;
  setup(kernel: Kernel): W | Promise<W>;
  tasks: Record<string, (world: W, kernel: Kernel) => Promise<void>>;
  check?(world: W, kernel: Kernel): boolean;
}

async function lock(m: Mutex): Promise<void> {
  const p = m.lock();
  if (p) await p;
}

// ---- The canonical reader against concurrent invalidations ----

/** A mirror of 4 pages: CPU PTE versions, the device's copy, and the driver lock. */
export interface MirrorWorld {
  mm: Mm;
  sub: MmuIntervalNotifier<Mm>;
  driver: Mutex;
  /** CPU PTE of each page: a version number that changes at every invalidation of the page. */
  pte: number[];
  /** What the device maps for each page (a PTE version), or null. */
  dev: (number | null)[];
  published: number;
  violations: string[];
}

const MIRROR_PAGES = 4;

async function mirrorSetup(kernel: Kernel): Promise<MirrorWorld> {
  const mm = kernel.createMm({ name: "mm" });
  const driver = kernel.mutex("driver_lock");
  const w: MirrorWorld = {
    mm,
    sub: undefined as unknown as MmuIntervalNotifier<Mm>,
    driver,
    pte: Array.from({ length: MIRROR_PAGES }, () => 1),
    dev: Array.from({ length: MIRROR_PAGES }, () => null),
    published: 0,
    violations: [],
  };
  w.sub = await MmuIntervalNotifier.insert(mm, 0, MIRROR_PAGES * PAGE, {
    name: "mirror",
    async invalidate(sub, range, cur) {
      // A blockable driver: take the lock unconditionally, record the sequence, zap the device.
      await lock(driver);
      sub.setSeq(cur);
      for (let p = range.start / PAGE; p < range.end / PAGE && p < MIRROR_PAGES; p++) w.dev[p] = null;
      driver.unlock();
      return true;
    },
  });
  return w;
}

/** The mm side: changes PTEs inside start/end, checking the device no longer maps them. */
async function cpuWriter(
  w: MirrorWorld,
  k: Kernel,
  first: number,
  pages: number,
  rounds: number,
): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const range: MmuNotifierRange = mmuNotifierRangeInit(1, w.mm, first * PAGE, (first + pages) * PAGE);
    const s = w.mm.notifiers.invalidateRangeStart(range);
    if (s) await s;
    for (let p = first; p < first + pages; p++) {
      // Coherence oracle: after the callbacks returned, the device must not map the old page.
      if (w.dev[p] !== null)
        w.violations.push(`page ${p} still mapped by the device (v${w.dev[p]}) when its PTE changes`);
      w.pte[p] = (w.pte[p] as number) + 1;
      await k.point("pte changed");
    }
    const e = w.mm.notifiers.invalidateRangeEnd(range);
    if (e) await e;
  }
}

/** The canonical device fault: readBegin -> fault -> driver lock -> readRetry -> publish -> unlock. */
async function deviceFault(w: MirrorWorld, k: Kernel, useRetry: boolean): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const seq = await w.sub.readBegin();
    // "hmm_range_fault": read the CPU PTEs, one page at a time, while other tasks may run.
    const got: number[] = [];
    for (let p = 0; p < MIRROR_PAGES; p++) {
      got.push(w.pte[p] as number);
      await k.point("fault a page");
    }
    await lock(w.driver);
    if (useRetry && w.sub.readRetry(seq)) {
      w.driver.unlock();
      continue;
    }
    for (let p = 0; p < MIRROR_PAGES; p++) {
      if (got[p] !== w.pte[p]) {
        w.violations.push(
          `published page ${p} v${got[p]} under seq ${seq} but the PTE is v${w.pte[p]} (stale)`,
        );
      }
      w.dev[p] = got[p] as number;
    }
    w.published++;
    w.driver.unlock();
    return;
  }
}

function mirrorCheck(w: MirrorWorld): boolean {
  for (let p = 0; p < MIRROR_PAGES; p++) {
    const d = w.dev[p];
    if (d !== null && d !== w.pte[p])
      w.violations.push(`at the end page ${p} maps v${d}, the PTE is v${w.pte[p]}`);
  }
  return w.violations.length === 0;
}

/** A reader running the canonical loop against two tasks invalidating overlapping ranges. */
export const readerVsInvalidations: NotifierScenario<MirrorWorld> = {
  name: "notifier/reader-vs-invalidations",
  description:
    "A device fault running readBegin -> fault -> lock -> readRetry -> publish against two tasks that change " +
    "PTEs inside invalidate start/end: the device never publishes a page whose PTE changed, and never maps " +
    "a page at the moment its PTE changes.",
  setup: mirrorSetup,
  tasks: {
    fault: (w, k) => deviceFault(w, k, true),
    fault2: (w, k) => deviceFault(w, k, true),
    munmap: (w, k) => cpuWriter(w, k, 0, 2, 2),
    cow: (w, k) => cpuWriter(w, k, 1, 3, 1),
  },
  check: mirrorCheck,
};

/** The same with a broken driver that never calls readRetry: the oracle must catch it. */
export const brokenReaderNoRetry: NotifierScenario<MirrorWorld> = {
  name: "notifier/broken-reader-no-retry",
  description: "The reader publishes without readRetry: some interleaving publishes a stale page.",
  setup: mirrorSetup,
  tasks: {
    fault: (w, k) => deviceFault(w, k, false),
    munmap: (w, k) => cpuWriter(w, k, 0, 2, 2),
  },
  check: mirrorCheck,
};

// ---- Insert and remove racing with invalidations ----

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

const RACE_PAGES = 16;

function invalidationOf(w: RaceWorld, range: MmuNotifierRange): number {
  return w.invalidations.findIndex((i) => i.range === range);
}

async function raceSetup(kernel: Kernel): Promise<RaceWorld> {
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
  w.base = await MmuIntervalNotifier.insert(mm, 0, RACE_PAGES * PAGE, {
    name: "X",
    async invalidate(sub, range, cur) {
      await lock(driver);
      sub.setSeq(cur);
      w.calls.push(["X", invalidationOf(w, range)]);
      driver.unlock();
      return true;
    },
  });
  return w;
}

async function invalidator(w: RaceWorld, k: Kernel, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const range = mmuNotifierRangeInit(0, w.mm, 4 * PAGE, 12 * PAGE);
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
}

async function inserterRemover(w: RaceWorld, k: Kernel): Promise<void> {
  w.insertCalled = w.t++;
  const y = await MmuIntervalNotifier.insert(w.mm, 6 * PAGE, 2 * PAGE, {
    name: "Y",
    async invalidate(sub, range, cur) {
      if (w.yRemoved) w.violations.push("Y's callback ran after Y.remove() returned");
      w.yInCallback++;
      await lock(w.driver);
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

function raceCheck(w: RaceWorld): boolean {
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
  return w.violations.length === 0;
}

/** Insert, readBegin and remove of one notifier racing with two invalidating tasks. */
export const insertRemoveVsInvalidations: NotifierScenario<RaceWorld> = {
  name: "notifier/insert-remove-vs-invalidations",
  description:
    "A notifier inserted, read and removed while two tasks invalidate a range covering it: no callback is " +
    "lost or delivered twice, none runs after remove returned, and a fresh notifier is in the tree once its " +
    "readBegin returned.",
  setup: raceSetup,
  tasks: {
    driver: inserterRemover,
    munmap: (w, k) => invalidator(w, k, 2),
    reclaim: (w, k) => invalidator(w, k, 2),
  },
  check: raceCheck,
};

/** Result of one run of a scenario. */
export interface ScenarioRun<W> {
  world: W;
  kernel: Kernel;
  /** Non-warning reports and oracle violations. */
  failures: string[];
}

/** Runs `scenario` once on a controlled kernel driven by the random strategy with `seed`. */
export async function runScenario<W extends { violations: string[] }>(
  scenario: NotifierScenario<W>,
  seed: number,
): Promise<ScenarioRun<W>> {
  const kernel = controlledKernel(seed);
  const world = await scenario.setup(kernel);
  for (const [name, fn] of Object.entries(scenario.tasks)) kernel.spawn(name, () => fn(world, kernel));
  await kernel.run().catch(() => undefined);
  const failures = kernel.reports.filter((r) => r.kind !== "warn").map((r) => `[${r.kind}] ${r.message}`);
  if (scenario.check !== undefined && !scenario.check(world, kernel)) failures.push(...world.violations);
  else failures.push(...world.violations);
  return { world, kernel, failures: [...new Set(failures)] };
}
