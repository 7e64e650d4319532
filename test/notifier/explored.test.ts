// The notifier's interleaving scenarios under the explorer: exhaustive DFS where the space allows.

import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import type { Kernel } from "../../src/mm/kernel.js";
import { mmuNotifierRangeInit } from "../../src/notifier/range.js";
import {
  brokenReaderNoRetry,
  insertRemoveVsInvalidations,
  type MirrorWorld,
  readerVsInvalidations,
} from "./scenarios.js";

const fault = readerVsInvalidations.tasks.fault;
if (fault === undefined) throw new Error("scenario tasks moved");

/** One invalidation of pages 0 and 1 that changes both PTEs, checking the device first (the oracle). */
async function munmap(w: MirrorWorld, k: Kernel): Promise<void> {
  const range = mmuNotifierRangeInit(0, w.mm, 0, 2 * 0x1000);
  const s = w.mm.notifiers.invalidateRangeStart(range);
  if (s) await s;
  for (let p = 0; p < 2; p++) {
    if (w.dev[p] !== null) w.violations.push(`page ${p} still mapped by the device when its PTE changes`);
    w.pte[p] = (w.pte[p] as number) + 1;
    await k.point("pte changed");
  }
  const e = w.mm.notifiers.invalidateRangeEnd(range);
  if (e) await e;
}

/** One device fault (the canonical loop) against one invalidation changing two PTEs: 2 tasks. */
const readerVsOneWriter = defineScenario({
  name: "notifier/reader-vs-one-writer",
  description:
    "The canonical device-fault loop against one invalidation that changes two PTEs inside start/end.",
  setup: readerVsInvalidations.setup,
  tasks: { fault, munmap },
  check: (w, k) => readerVsInvalidations.check?.(w, k) ?? true,
});

const brokenReader = defineScenario({
  name: "notifier/broken-reader-no-retry",
  description: brokenReaderNoRetry.description,
  setup: brokenReaderNoRetry.setup,
  tasks: brokenReaderNoRetry.tasks,
  check: (w, k) => brokenReaderNoRetry.check?.(w, k) ?? true,
});

const insertRemove = defineScenario({
  name: "notifier/insert-remove-vs-invalidations",
  description: insertRemoveVsInvalidations.description,
  setup: insertRemoveVsInvalidations.setup,
  tasks: insertRemoveVsInvalidations.tasks,
  check: (w, k) => insertRemoveVsInvalidations.check?.(w, k) ?? true,
});

describe("the collision-retry protocol under exhaustive interleaving search", () => {
  it("a reader running the canonical loop never publishes a page whose PTE changed (2 tasks, every schedule)", async () => {
    const r = await explore(readerVsOneWriter, { strategy: "dfs", executions: 2_000_000 });
    expect(r.failures).toEqual([]);
    expect(r.stats.exhausted).toBe(true);
    expect(r.executions).toBeGreaterThan(100);
  }, 120_000);

  it("the same reader without readRetry publishes a stale page in some schedule, found by DFS", async () => {
    const r = await explore(brokenReader, { strategy: "dfs" });
    expect(r.failures[0]?.kind).toBe("check");
  });

  it("insert and remove racing with invalidations never lose or double-deliver a callback (DFS, 2 preemptions)", async () => {
    const r = await explore(insertRemove, { strategy: "dfs", preemptionBound: 2, executions: 2_000_000 });
    expect(r.failures).toEqual([]);
    expect(r.stats.exhausted).toBe(true);
  }, 120_000);

  it("the four-task reader scenario passes 2000 PCT executions (seed 3)", async () => {
    const four = defineScenario({
      name: "notifier/reader-vs-invalidations",
      description: readerVsInvalidations.description,
      setup: readerVsInvalidations.setup,
      tasks: readerVsInvalidations.tasks,
      check: (w, k) => readerVsInvalidations.check?.(w, k) ?? true,
    });
    const r = await explore(four, { strategy: "pct", seed: 3, executions: 2000 });
    expect(r.failures).toEqual([]);
  }, 120_000);
});
