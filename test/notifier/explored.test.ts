// The notifier's interleaving scenarios (src/scenarios/notifier/) under the explorer: exhaustive DFS,
// within a preemption bound where the whole space is too large (tighter than the scenario's own,
// which `mmun demo` uses, to keep the suite quick).

import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import type { Scenario } from "../../src/explore/scenario.js";
import type { Kernel } from "../../src/mm/kernel.js";
import { builtinScenario } from "../../src/scenarios/index.js";
import { insertRemoveVsInvalidations } from "../../src/scenarios/notifier/insertRemove.js";
import {
  brokenReaderNoRetry,
  readerVsInvalidations,
  readerVsOneWriter,
} from "../../src/scenarios/notifier/readerVsInvalidations.js";

/** [claim, scenario, DFS preemption bound (none: every schedule), fewest executions a passing search runs]. */
const claims: [string, Scenario<unknown, Kernel>, number | undefined, number][] = [
  [
    "a reader running the canonical loop never publishes a page whose PTE changed (2 tasks, every schedule)",
    readerVsOneWriter,
    undefined,
    100,
  ],
  [
    "two readers against two invalidating tasks never publish a stale page (4 tasks, every schedule with at most 1 preemption)",
    readerVsInvalidations,
    1,
    1000,
  ],
  [
    "the same reader without readRetry publishes a stale page in some schedule, found by DFS",
    brokenReaderNoRetry,
    undefined,
    1,
  ],
  [
    "insert and remove racing with invalidations never lose or double-deliver a callback (DFS, every schedule with at most 2 preemptions)",
    insertRemoveVsInvalidations,
    2,
    1000,
  ],
];

describe("the collision-retry protocol under exhaustive interleaving search", () => {
  it.each(claims)(
    "%s",
    async (_claim, scenario, bound, fewest) => {
      expect(builtinScenario(scenario.name), "a built-in scenario (mmun list, check, demo)").toBe(scenario);
      const r = await explore(scenario, {
        strategy: "dfs",
        executions: 2_000_000,
        ...(bound === undefined ? {} : { preemptionBound: bound }),
      });
      if (scenario.expect === "pass") {
        expect(r.failures).toEqual([]);
        expect(r.stats.exhausted).toBe(true);
        expect(r.executions).toBeGreaterThan(fewest);
      } else {
        expect(r.failures[0]?.kind).toBe(scenario.expect);
        expect(r.failures[0]?.message).toMatch(/stale/);
      }
    },
    120_000,
  );

  it("the four-task reader scenario passes 2000 PCT executions (seed 3)", async () => {
    const r = await explore(readerVsInvalidations, { strategy: "pct", seed: 3, executions: 2000 });
    expect(r.failures).toEqual([]);
  }, 120_000);
});
