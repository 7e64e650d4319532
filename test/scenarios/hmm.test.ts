// The dmirror READ racing the mm (src/scenarios/hmm/): every schedule within 2 preemptions and a PCT
// search find no stale device mapping, no deadlock and no illegal outcome; a mirror with one classic
// mistake is caught. (The full runs, 10,000 PCT executions each, are quoted in docs/hmm.md.)

import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { EFAULT } from "../../src/lib/errno.js";
import {
  anonTeardown,
  type DmirrorReadWorld,
  dmirrorReadWorld,
  legal,
  read,
  readVsDontneed,
  readVsFork,
  readVsMprotect,
  readVsMunmap,
  readVsReclaim,
} from "../../src/scenarios/hmm/dmirrorRead.js";
import { builtinScenario } from "../../src/scenarios/index.js";

const scenarios = [readVsMunmap, readVsMprotect, readVsFork, readVsReclaim, readVsDontneed, anonTeardown];

describe("a dmirror READ racing the mm", () => {
  it.each(scenarios.map((s) => [s.name, s] as const))(
    "%s: every schedule with at most 2 preemptions, and 500 PCT executions, keep the device coherent",
    async (_name, scenario) => {
      expect(builtinScenario(scenario.name), "a built-in scenario (mmun list, check, demo)").toBe(scenario);
      const dfs = await explore(scenario, { strategy: "dfs", preemptionBound: 2 });
      expect(dfs.failures).toEqual([]);
      expect(dfs.stats.exhausted).toBe(true);
      expect(dfs.executions).toBeGreaterThan(40);
      const pct = await explore(scenario, { strategy: "pct", seed: 7, executions: 500 });
      expect(pct.failures).toEqual([]);
    },
    120_000,
  );
});

describe("a broken mirror is caught", () => {
  /** read-vs-munmap with the mirror's setup changed by `breakIt`. */
  const broken = (name: string, breakIt: (w: DmirrorReadWorld) => void) =>
    defineScenario({
      name: `test/${name}`,
      description: name,
      setup: async (k) => {
        const w = await dmirrorReadWorld(4, 2)(k);
        breakIt(w);
        return w;
      },
      tasks: { read, munmap: (w: DmirrorReadWorld) => w.mm.munmap(w.addr, w.size) },
      check: legal([1], [-EFAULT]),
    });

  it("an invalidate callback that erases nothing leaves a stale mapping, found by DFS", async () => {
    const s = broken("no-erase", (w) => {
      w.mirror.pt.unmapRange = () => 0;
    });
    const r = await explore(s, { strategy: "dfs", preemptionBound: 2 });
    expect(r.failures[0]?.kind).toBe("stale-mapping");
  });

  it("a fault path that ignores readRetry maps a page the munmap already zapped, found by DFS", async () => {
    const s = broken("no-read-retry", (w) => {
      w.mirror.notifier.readRetry = () => false;
    });
    const r = await explore(s, { strategy: "dfs", preemptionBound: 2 });
    expect(r.failures[0]?.kind).toMatch(/stale-mapping|use-after-free/);
  });
});
