import { describe, expect, it } from "vitest";
import { explore, type StrategyName } from "../../src/explore/explore.js";
import { abba, ordered } from "../../src/scenarios/classic/abba.js";
import { fenceChain, fenceCycle, fenceUnderLock } from "../../src/scenarios/classic/fenceCycle.js";
import { lockedUpdate, lostUpdate } from "../../src/scenarios/classic/lostUpdate.js";
import { lostWakeup, waitEventFlag } from "../../src/scenarios/classic/lostWakeup.js";
import { orderedWindow, orderViolation } from "../../src/scenarios/classic/orderViolation.js";
import { rwsemRecursion, rwsemSingleRead } from "../../src/scenarios/classic/rwsemRecursion.js";

const strategies: StrategyName[] = ["random", "pct", "dfs"];

describe("the classic concurrency bugs are caught with the default budget (seed 0)", () => {
  const broken = [
    [lostUpdate, "check"],
    [abba, "lock-order"],
    [lostWakeup, "deadlock"],
    [rwsemRecursion, "lock-order"],
    [fenceCycle, "deadlock"],
    [fenceUnderLock, "lock-order"],
  ] as const;
  for (const [scenario, kind] of broken) {
    for (const strategy of strategies) {
      it(`${scenario.name} fails with ${kind} under ${strategy}`, async () => {
        const r = await explore(scenario, { strategy });
        expect(r.failures).toHaveLength(1);
        expect(r.failures[0]?.kind).toBe(kind);
        expect(scenario.expect).toBe(kind);
      });
    }
  }

  it("abba without lockdep deadlocks, and the report names both tasks and both locks (random, seed 0)", async () => {
    const r = await explore(abba, { strategy: "random", lockdep: false });
    const f = r.failures[0];
    expect(f?.kind).toBe("deadlock");
    expect(f?.message).toMatch(/wait-for cycle/);
    expect(f?.message).toContain('task "t1" waits on mutex "lock_b"');
    expect(f?.message).toContain('task "t2" waits on mutex "lock_a"');
    expect(f?.message).toMatch(/held by task "t[12]"/);
  });

  it("rwsem recursion without lockdep deadlocks in some schedule found by DFS", async () => {
    const r = await explore(rwsemRecursion, { strategy: "dfs", lockdep: false });
    expect(r.failures[0]?.kind).toBe("deadlock");
    expect(r.failures[0]?.message).toContain("writers queued");
  });

  it("the abba inversion is reported in an execution that did not deadlock (lockdep, dfs)", async () => {
    const r = await explore(abba, { strategy: "dfs" });
    const f = r.failures[0];
    expect(f?.kind).toBe("lock-order");
    // The first DFS schedule runs t1 to completion before t2 starts: no deadlock, yet the cycle is known.
    expect(f?.execution).toBe(0);
    expect(f?.message).toContain('task "t1" took "lock_b"');
    expect(f?.message).toContain('task "t2" took "lock_a"');
  });
});

describe("the correct version of each passes exhaustive DFS", () => {
  for (const scenario of [lockedUpdate, ordered, waitEventFlag, rwsemSingleRead, fenceChain, orderedWindow]) {
    it(`${scenario.name}: every schedule enumerated, none fails`, async () => {
      const r = await explore(scenario, { strategy: "dfs", executions: 1_000_000 });
      expect(r.failures).toEqual([]);
      expect(r.stats.exhausted).toBe(true);
      expect(r.executions).toBe(r.distinctSchedules);
      expect(scenario.expect).toBe("pass");
    });
  }
});

describe("the order violation needs two preemptions", () => {
  it("PCT with depth 3 finds it within the default budget for seeds 0..4", async () => {
    for (let seed = 0; seed < 5; seed++) {
      const r = await explore(orderViolation, { strategy: "pct", pctDepth: 3, seed });
      expect(r.failures[0]?.kind, `seed ${seed}`).toBe("check");
    }
  });

  it("DFS with a preemption bound of 2 finds it, and with a bound of 1 exhausts its space without it", async () => {
    const two = await explore(orderViolation, { strategy: "dfs", preemptionBound: 2 });
    expect(two.failures[0]?.kind).toBe("check");
    const one = await explore(orderViolation, { strategy: "dfs", preemptionBound: 1 });
    expect(one.failures).toEqual([]);
    expect(one.stats.exhausted).toBe(true);
  });

  it("uniform random scheduling rarely finds it: at most 1 of seeds 0..4 within the default budget", async () => {
    let found = 0;
    for (let seed = 0; seed < 5; seed++) {
      const r = await explore(orderViolation, { strategy: "random", seed });
      if (r.failures.length > 0) found++;
    }
    expect(found).toBeLessThanOrEqual(1);
  });

  it("PCT with depth 1 (no priority change) never finds it (seeds 0..2)", async () => {
    for (let seed = 0; seed < 3; seed++) {
      const r = await explore(orderViolation, { strategy: "pct", pctDepth: 1, seed, executions: 300 });
      expect(r.failures).toEqual([]);
    }
  });
});
