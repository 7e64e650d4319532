// The ptlock pattern (nouveau, test_hmm): one driver mutex shared by every range's notifier, trylock on a
// non-blockable range; against every workload of scenarios/patterns/workloads.ts, every schedule
// within 2 preemptions and 10,000 PCT executions find no stale mapping, deadlock, lock-order problem or
// outcome Linux forbids.

import { describe, expect, it } from "vitest";
import { ptlockRangesVsMunmap, ptlockVs, ptlockVsStream } from "../../src/scenarios/patterns/ptlock.js";
import { passesCatalogue } from "./patternHelpers.js";

const scenarios = [...ptlockVs, ptlockRangesVsMunmap, ptlockVsStream];

describe("ptlock: the correct pattern passes every scenario", () => {
  it("covers every workload", () => {
    expect(scenarios.map((s) => s.name)).toContain("ptlock/vs-munmap");
    expect(scenarios.length).toBeGreaterThanOrEqual(7);
  });
  it.each(scenarios.map((s) => [s.name, s] as const))(
    "%s: DFS within 2 preemptions (all schedules) and 10,000 PCT executions (seed 7) find nothing",
    async (_name, scenario) => passesCatalogue(scenario),
    300_000,
  );
});
