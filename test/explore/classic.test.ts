import { describe, expect, it } from "vitest";
import { explore, type StrategyName } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { abba, ordered } from "../../src/scenarios/classic/abba.js";
import { fenceChain, fenceCycle, fenceUnderLock } from "../../src/scenarios/classic/fenceCycle.js";
import { wrongLock } from "../../src/scenarios/classic/lockMismatch.js";
import { lockedUpdate, lostUpdate } from "../../src/scenarios/classic/lostUpdate.js";
import { lostWakeup, waitEventFlag } from "../../src/scenarios/classic/lostWakeup.js";
import { orderedWindow, orderViolation } from "../../src/scenarios/classic/orderViolation.js";
import { reorder10, reorder20 } from "../../src/scenarios/classic/reorder.js";
import { rwsemRecursion, rwsemSingleRead } from "../../src/scenarios/classic/rwsemRecursion.js";
import { builtinScenarios } from "../../src/scenarios/index.js";

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

describe("delay-bounded DFS finds every broken built-in and exhausts every correct one within its bound", () => {
  const broken = builtinScenarios.filter((s) => s.expect !== "pass");
  const correct = builtinScenarios.filter((s) => s.expect === "pass");
  for (const scenario of broken) {
    it(`${scenario.name}: delay bound 2 and iterative bounding find ${scenario.expect}`, async () => {
      const bounded = await explore(scenario, { strategy: "dfs", delayBound: 2 });
      expect(bounded.failures[0]?.kind).toBe(scenario.expect);
      const iterative = await explore(scenario, { strategy: "dfs", executions: 10_000 });
      expect(iterative.failures[0]?.kind).toBe(scenario.expect);
      expect(iterative.stats.boundReached).toBeLessThanOrEqual(2);
    });
  }
  for (const scenario of correct) {
    it(`${scenario.name}: delay bound 2 enumerates every schedule within it, none fails`, async () => {
      const r = await explore(scenario, { strategy: "dfs", delayBound: 2 });
      expect(r.failures).toEqual([]);
      expect(r.stats.exhausted).toBe(true);
      expect(r.executions).toBe(r.distinctSchedules);
    });
  }
});

describe("many tasks: delay bounding finds in a few hundred executions what preemption bounding misses", () => {
  it("reorder-20: delay bound 2 finds it within 1,000 executions, iterative bounding at bound 1", async () => {
    const bounded = await explore(reorder20, { strategy: "dfs", delayBound: 2 });
    expect(bounded.failures[0]?.execution).toBeLessThan(1000);
    const iterative = await explore(reorder20, { strategy: "dfs", executions: 1000 });
    expect(iterative.failures[0]?.kind).toBe("check");
    expect(iterative.stats.boundReached).toBe(1);
  });

  it("reorder-10, reorder-20 and wrong-lock: preemption bound 2 misses them in 2,000 executions (orders of whole tasks)", async () => {
    for (const scenario of [reorder10, reorder20, wrongLock]) {
      const r = await explore(scenario, { strategy: "dfs", preemptionBound: 2, executions: 2000 });
      expect(r.failures, scenario.name).toEqual([]);
    }
  });

  it("wrong-lock: preemption bound 0 alone has 8! schedules (none fails), delay bound 0 one", async () => {
    const pb0 = await explore(wrongLock, { strategy: "dfs", preemptionBound: 0, executions: 1_000_000 });
    expect(pb0.failures).toEqual([]);
    expect(pb0.stats.exhausted).toBe(true);
    expect(pb0.executions).toBe(40_320);
    const db0 = await explore(wrongLock, { strategy: "dfs", delayBound: 0 });
    expect(db0.executions).toBe(1);
  }, 60_000);

  it("with the checker spawned last, reorder needs a delay per setter: delay bound 2 misses it, PCT does not care", async () => {
    const last = defineScenario({
      ...reorder10,
      name: "reorder-10-checker-last",
      tasks: Object.fromEntries(
        [...reorder10.taskNames.filter((n) => n !== "check"), "check"].map((n) => [n, reorder10.tasks[n]]),
      ) as typeof reorder10.tasks,
    });
    expect((await explore(last, { strategy: "dfs", delayBound: 2 })).failures).toEqual([]);
    expect((await explore(last, { strategy: "pct" })).failures[0]?.kind).toBe("check");
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
