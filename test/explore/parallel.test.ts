import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { lostUpdate } from "../../src/scenarios/classic/lostUpdate.js";
import { orderedWindow, orderViolation } from "../../src/scenarios/classic/orderViolation.js";
import { reorder10 } from "../../src/scenarios/classic/reorder.js";

const strip = (r: Awaited<ReturnType<typeof explore>>) => ({
  executions: r.executions,
  distinct: r.distinctSchedules,
  failures: r.failures.map((f) => [f.kind, f.token, f.execution, f.message]),
  exhausted: r.stats.exhausted,
  boundReached: r.stats.boundReached,
});

describe("worker threads give the same results as one worker", () => {
  it("DFS over the ordered window: 1 and 2 workers enumerate the same schedules", async () => {
    const one = await explore(orderedWindow, { strategy: "dfs" });
    const two = await explore(orderedWindow, { strategy: "dfs", workers: 2 });
    expect(strip(two)).toEqual(strip(one));
    expect(two.stats.workers).toBe(2);
  }, 60_000);

  it("iterative delay bounding: 1 and 2 workers run the same executions, cut by the budget, to the end, or to a failure", async () => {
    for (const [scenario, executions] of [
      [orderedWindow, 3000],
      [orderedWindow, 100_000],
      [reorder10, 1000],
    ] as const) {
      const one = await explore(scenario, { strategy: "dfs", executions });
      const two = await explore(scenario, { strategy: "dfs", executions, workers: 2 });
      expect(strip(two)).toEqual(strip(one));
      expect(one.stats.exhausted || one.failures.length > 0 || one.executions === executions).toBe(true);
    }
    expect((await explore(reorder10, { strategy: "dfs", executions: 1000 })).failures).toHaveLength(1);
  }, 60_000);

  it("PCT on the order violation: the first failure and its execution index match (seed 4)", async () => {
    const one = await explore(orderViolation, { strategy: "pct", seed: 4 });
    const two = await explore(orderViolation, { strategy: "pct", seed: 4, workers: 2 });
    expect(one.failures).toHaveLength(1);
    expect(strip(two)).toEqual(strip(one));
  }, 60_000);

  it("random search over the lost update with every failure collected (seed 5)", async () => {
    const one = await explore(lostUpdate, { strategy: "random", seed: 5, failures: "all", executions: 400 });
    const two = await explore(lostUpdate, {
      strategy: "random",
      seed: 5,
      failures: "all",
      executions: 400,
      workers: 2,
    });
    expect(strip(two)).toEqual(strip(one));
  }, 60_000);

  it("a scenario without a module cannot go to workers (EINVAL)", async () => {
    const local = defineScenario({
      name: "local",
      description: "",
      setup: () => ({}),
      tasks: { a: async () => {} },
    });
    await expect(explore(local, { workers: 2 })).rejects.toMatchObject({ code: "EINVAL" });
  });
});
