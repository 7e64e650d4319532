// The notifier under the controlled scheduler: the scenarios of src/scenarios/notifier/ over many
// fixed seeds of the random strategy, each run's world inspected (explored.test.ts enumerates them
// with DFS).

import { describe, expect, it } from "vitest";
import { insertRemoveVsInvalidations } from "../../src/scenarios/notifier/insertRemove.js";
import {
  brokenReaderNoRetry,
  readerVsInvalidations,
} from "../../src/scenarios/notifier/readerVsInvalidations.js";
import { runScenario } from "./helpers.js";

const SEEDS = 300;

describe("interleavings (controlled scheduler, random strategy)", () => {
  it("interleavings: the canonical reader never publishes a stale page (controlled, seeds 0-299)", async () => {
    let published = 0;
    let schedules = new Set<string>();
    for (let seed = 0; seed < SEEDS; seed++) {
      const run = await runScenario(readerVsInvalidations, seed);
      expect(run.failures, `seed ${seed}`).toEqual([]);
      expect(run.world.published, `seed ${seed}: both faults publish`).toBe(2);
      published += run.world.published;
      schedules.add(JSON.stringify((run.kernel.sched as unknown as { choices: number[] }).choices));
    }
    expect(published).toBe(2 * SEEDS);
    // The seeds really explore different interleavings.
    expect(schedules.size).toBeGreaterThan(SEEDS / 2);
    schedules = new Set();
  });

  it("interleavings: a reader without readRetry is caught publishing a stale page (controlled, seeds 0-299)", async () => {
    const failing: number[] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      const run = await runScenario(brokenReaderNoRetry, seed);
      if (run.failures.length > 0) {
        failing.push(seed);
        expect(run.failures.join("\n")).toMatch(/stale|still mapped|maps v/);
      }
    }
    expect(failing.length).toBeGreaterThan(0);
  });

  it("interleavings: insert, readBegin and remove racing with invalidations never lose or double-deliver a callback (controlled, seeds 0-299)", async () => {
    let deferredInserts = 0;
    let waitingRemoves = 0;
    let mustSee = 0;
    for (let seed = 0; seed < SEEDS; seed++) {
      const run = await runScenario(insertRemoveVsInvalidations, seed);
      expect(run.failures, `seed ${seed}`).toEqual([]);
      const w = run.world;
      expect(w.removeReturned, `seed ${seed}: remove returned`).toBeGreaterThan(0);
      expect(w.calls.filter(([s]) => s === "X")).toHaveLength(4);
      const trace = run.kernel.reports;
      expect(trace).toEqual([]);
      if (w.invalidations.some((i) => w.yLinked < i.startCalled && w.removeCalled > i.startReturned))
        mustSee++;
      // Classify the run: did the insert land in an exclusive period, did the remove wait?
      const overlaps = w.invalidations.some(
        (i) => i.startCalled < w.insertCalled && w.insertReturned < i.startReturned,
      );
      if (overlaps) deferredInserts++;
      if (w.invalidations.some((i) => i.startCalled < w.removeCalled && w.removeCalled < i.startReturned))
        waitingRemoves++;
    }
    // The seeds cover the interesting cases, not just the sequential ones.
    expect(deferredInserts).toBeGreaterThan(0);
    expect(waitingRemoves).toBeGreaterThan(0);
    expect(mustSee).toBeGreaterThan(0);
  });
});
