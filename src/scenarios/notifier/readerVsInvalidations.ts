// The collision-retry protocol itself (the header of src/notifier/intervalNotifier.ts): a device
// mirroring 4 pages faults them in with readBegin -> fault -> driver lock -> readRetry -> publish,
// while tasks change the CPU PTEs inside invalidateRangeStart/End. Two oracles: the device never
// maps a page at the moment its PTE changes (the callbacks zapped it first), and it never publishes
// a page whose PTE changed since it was read (readRetry caught the collision).

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";

const PAGE = 0x1000;
const PAGES = 4;
/** A fault gives up after this many collisions (each retry follows a real invalidation). */
const MAX_ATTEMPTS = 20;

/** A mirror of 4 pages: CPU PTE versions, the device's copy, and the driver lock. */
export interface MirrorWorld {
  mm: Mm;
  sub: MmuIntervalNotifier<Mm>;
  driver: Mutex;
  /** CPU PTE of each page: a version number that changes at every invalidation of the page. */
  pte: number[];
  /** What the device maps for each page (a PTE version), or null. */
  dev: (number | null)[];
  /** Faults that published their pages. */
  published: number;
  /** What the oracles saw going wrong. */
  violations: string[];
}

async function setup(kernel: Kernel): Promise<MirrorWorld> {
  const mm = kernel.createMm({ name: "mm" });
  const driver = kernel.mutex("driver_lock");
  const w: MirrorWorld = {
    mm,
    sub: undefined as unknown as MmuIntervalNotifier<Mm>,
    driver,
    pte: Array.from({ length: PAGES }, () => 1),
    dev: Array.from({ length: PAGES }, () => null),
    published: 0,
    violations: [],
  };
  w.sub = await MmuIntervalNotifier.insert(mm, 0, PAGES * PAGE, {
    name: "mirror",
    async invalidate(sub, range, cur) {
      // A blockable driver: take the lock unconditionally, record the sequence, zap the device.
      await driver.lock();
      sub.setSeq(cur);
      for (let p = range.start / PAGE; p < range.end / PAGE && p < PAGES; p++) w.dev[p] = null;
      driver.unlock();
      return true;
    },
  });
  return w;
}

/**
 * The mm side: `rounds` times, changes the PTEs of pages [first, first + pages) inside
 * invalidateRangeStart/End, checking first that the device no longer maps them.
 */
const cpuWriter =
  (first: number, pages: number, rounds: number) =>
  async (w: MirrorWorld, k: Kernel): Promise<void> => {
    for (let i = 0; i < rounds; i++) {
      const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, w.mm, first * PAGE, (first + pages) * PAGE);
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
  };

/**
 * The device fault: readBegin -> read the PTEs (hmm_range_fault) -> driver lock -> readRetry ->
 * publish -> unlock, retrying on a collision. `useRetry` false is the broken driver.
 */
const deviceFault =
  (useRetry: boolean) =>
  async (w: MirrorWorld, k: Kernel): Promise<void> => {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const seq = await w.sub.readBegin();
      const got: number[] = [];
      for (let p = 0; p < PAGES; p++) {
        got.push(w.pte[p] as number);
        await k.point("fault a page");
      }
      await w.driver.lock();
      if (useRetry && w.sub.readRetry(seq)) {
        w.driver.unlock();
        continue;
      }
      for (let p = 0; p < PAGES; p++) {
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
  };

/** Final oracle: whatever the device maps is current. Lists every violation seen (throws). */
function check(w: MirrorWorld): boolean {
  for (let p = 0; p < PAGES; p++) {
    const d = w.dev[p];
    if (d !== null && d !== w.pte[p])
      w.violations.push(`at the end page ${p} maps v${d}, the PTE is v${w.pte[p]}`);
  }
  if (w.violations.length !== 0) throw new Error(w.violations.join("\n"));
  return true;
}

/** Correct, small enough for exhaustive DFS: one fault against one invalidation of two pages. */
export const readerVsOneWriter = defineScenario({
  name: "notifier/reader-vs-one-writer",
  description:
    "The canonical device fault (readBegin -> fault -> driver lock -> readRetry -> publish) against one " +
    "invalidation that changes two PTEs inside start/end: in every schedule the device never publishes a " +
    "stale page and never maps a page while its PTE changes.",
  setup,
  tasks: { fault: deviceFault(true), munmap: cpuWriter(0, 2, 1) },
  check,
  expect: "pass",
  module: import.meta.url,
});

/** Correct: two faults against two tasks invalidating overlapping ranges. */
export const readerVsInvalidations = defineScenario({
  name: "notifier/reader-vs-invalidations",
  description:
    "Two device faults running the canonical loop against two tasks that change PTEs of overlapping ranges " +
    "inside invalidate start/end: the device never publishes a page whose PTE changed, and never maps a page " +
    "at the moment its PTE changes.",
  setup,
  tasks: {
    fault: deviceFault(true),
    fault2: deviceFault(true),
    munmap: cpuWriter(0, 2, 2),
    cow: cpuWriter(1, 3, 1),
  },
  check,
  expect: "pass",
  // DFS: every schedule with at most 2 preemptions can be enumerated in seconds; all of them cannot.
  preemptionBound: 2,
  module: import.meta.url,
});

/** Broken: the driver publishes without readRetry; some interleaving publishes a stale page. */
export const brokenReaderNoRetry = defineScenario({
  name: "notifier/broken-reader-no-retry",
  description:
    "A device fault that publishes what it read without calling readRetry under the driver lock: when an " +
    "invalidation runs between its reads and its publish, it maps a page whose PTE changed (stale).",
  setup,
  tasks: { fault: deviceFault(false), munmap: cpuWriter(0, 2, 2) },
  check,
  expect: "check",
  module: import.meta.url,
});
