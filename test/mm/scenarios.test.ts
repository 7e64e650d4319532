// The built-in mm scenarios under the explorer: the correct ones exhaust bounded DFS without a
// failure, the broken device is caught as a stale mapping, and its token replays.

import { describe, expect, it } from "vitest";
import { explore, replay } from "../../src/explore/explore.js";
import { builtinScenario } from "../../src/scenarios/index.js";
import { forkVsWrite } from "../../src/scenarios/mm/forkVsWrite.js";
import { mirrorVsMunmap, mirrorZapsOnlyUnmap } from "../../src/scenarios/mm/mirrorVsUnmap.js";
import { munmapVsWriteFault } from "../../src/scenarios/mm/munmapVsFault.js";

describe("mm scenarios under the explorer", () => {
  for (const scenario of [munmapVsWriteFault, forkVsWrite, mirrorVsMunmap]) {
    it(`${scenario.name} exhausts DFS with at most 2 preemptions without a failure`, async () => {
      const r = await explore(scenario, { strategy: "dfs", preemptionBound: 2 });
      expect(r.failures.map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
      expect(r.stats.exhausted).toBe(true);
      expect(r.executions).toBeGreaterThan(10);
      expect(scenario.expect).toBe("pass");
      expect(builtinScenario(scenario.name)).toBe(scenario);
    });
  }

  // Not in the built-in registry yet: once the execution is aborted at the report (raised under the
  // page-table spinlock), the sync layer still reports the mm's next might-sleep call as
  // sleep-in-atomic, which the registry's attribution test rejects as a second report.
  it("mm/mirror-zaps-only-unmap is caught by DFS as a stale mapping at mprotect's PTE change, and replays", async () => {
    const r = await explore(mirrorZapsOnlyUnmap, { strategy: "dfs", preemptionBound: 2 });
    const f = r.failures[0];
    expect(f?.kind).toBe("stale-mapping");
    expect(f?.message).toMatch(
      /device "gpu" still maps mm 0x[0-9a-f]+ to frame \d+ writable .*event PROTECTION_VMA.*read-only/,
    );
    const again = await replay(mirrorZapsOnlyUnmap, f?.token as string);
    expect(again.reproduced).toBe(true);
    expect(again.failure?.message).toBe(f?.message);
  });
});
