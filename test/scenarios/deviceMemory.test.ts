// Device memory racing the rest of the system (src/scenarios/hmm/deviceMemory.ts): every schedule
// within 2 preemptions and 10,000 PCT executions (seed 7) keep both devices coherent, free every page
// and show only Linux's legal outcomes; a driver with one classic mistake is caught.

import { describe, expect, it } from "vitest";
import type { Dmirror } from "../../src/drivers/dmirror/mirror.js";
import { explore } from "../../src/explore/explore.js";
import { defineScenario, type Scenario } from "../../src/explore/scenario.js";
import { MmuNotifierEvent } from "../../src/notifier/range.js";
import {
  type DeviceMemoryWorld,
  exclusiveVsFork,
  faultBackVsMunmap,
  migrateVsWriteAndRead,
} from "../../src/scenarios/hmm/deviceMemory.js";
import { builtinScenario } from "../../src/scenarios/index.js";

const scenarios = [migrateVsWriteAndRead, faultBackVsMunmap, exclusiveVsFork];

describe("device memory racing the mm", () => {
  it.each(scenarios.map((s) => [s.name, s] as const))(
    "%s: every schedule with at most 2 preemptions, and 10,000 PCT executions (seed 7), keep the devices coherent",
    async (_name, scenario) => {
      expect(builtinScenario(scenario.name), "a built-in scenario (mmun list, check, demo)").toBe(scenario);
      const dfs = await explore(scenario, { strategy: "dfs", preemptionBound: 2 });
      expect(dfs.failures).toEqual([]);
      expect(dfs.stats.exhausted).toBe(true);
      expect(dfs.executions).toBeGreaterThan(30);
      const pct = await explore(scenario, { strategy: "pct", seed: 7, executions: 10_000 });
      expect(pct.failures).toEqual([]);
      expect(pct.executions).toBe(10_000);
    },
    180_000,
  );
});

describe("a broken driver is caught", () => {
  /** `base` with `mirror`'s callback answering true, without erasing, for the events in `ignored`. */
  function ignoring(
    base: Scenario<DeviceMemoryWorld>,
    mirror: (w: DeviceMemoryWorld) => Dmirror,
    ignored: readonly MmuNotifierEvent[],
  ): Scenario<DeviceMemoryWorld> {
    return defineScenario<DeviceMemoryWorld>({
      ...base,
      name: `test/${base.name}-broken`,
      setup: async (k) => {
        const w = await base.setup(k);
        const ops = mirror(w).notifier.ops;
        const invalidate = ops.invalidate;
        ops.invalidate = (sub, range, seq) =>
          ignored.includes(range.event) ? true : invalidate(sub, range, seq);
        return w;
      },
    });
  }

  it("a mirror that takes every MIGRATE invalidation for its own keeps a translation of the migrated page", async () => {
    const s = ignoring(migrateVsWriteAndRead, (w) => w.m1, [MmuNotifierEvent.MIGRATE]);
    const r = await explore(s, { strategy: "dfs", preemptionBound: 1 });
    expect(r.failures[0]?.kind).toBe("stale-mapping");
  });

  it("a mirror that ignores the CPU's CLEAR and fork's PROTECTION_PAGE keeps an atomic translation of a restored page", async () => {
    const s = ignoring(exclusiveVsFork, (w) => w.m0, [
      MmuNotifierEvent.CLEAR,
      MmuNotifierEvent.PROTECTION_PAGE,
    ]);
    const r = await explore(s, { strategy: "dfs", preemptionBound: 1 });
    expect(r.failures[0]?.kind).toBe("stale-mapping");
    expect(r.failures[0]?.message).toContain("atomic");
  });
});
