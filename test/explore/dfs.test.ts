import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import type { SyncKernel } from "../../src/sync/syncKernel.js";

/** A task of `steps` steps: the first runs from its start, each later one from a scheduling point. */
const stepsTask = (steps: number) => async (_w: unknown, k: SyncKernel) => {
  for (let i = 1; i < steps; i++) await k.point();
};

const independent = (...steps: number[]) =>
  defineScenario({
    name: `independent-${steps.join("-")}`,
    description: "tasks of independent steps",
    setup: () => ({}),
    tasks: Object.fromEntries(steps.map((n, i) => [`t${i}`, stepsTask(n)])),
  });

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}
function multinomial(...ks: number[]): number {
  return factorial(ks.reduce((a, b) => a + b, 0)) / ks.reduce((p, k) => p * factorial(k), 1);
}

describe("DFS enumerates exactly the interleavings", () => {
  for (const [n, m] of [
    [1, 1],
    [2, 3],
    [4, 4],
    [5, 7],
  ] as const) {
    it(`two tasks of ${n} and ${m} independent steps give C(${n + m}, ${n}) = ${multinomial(n, m)} schedules`, async () => {
      const r = await explore(independent(n, m), { strategy: "dfs" });
      expect(r.executions).toBe(multinomial(n, m));
      expect(r.distinctSchedules).toBe(r.executions);
      expect(r.stats.exhausted).toBe(true);
    });
  }

  it("three tasks of 2, 3 and 2 steps give the multinomial 7!/(2!3!2!) = 210 schedules", async () => {
    const r = await explore(independent(2, 3, 2), { strategy: "dfs" });
    expect(r.executions).toBe(210);
    expect(r.stats.exhausted).toBe(true);
  });

  it("a preemption bound of 0 leaves only the orders in which whole tasks run (3! for three tasks)", async () => {
    const r = await explore(independent(3, 3, 3), { strategy: "dfs", preemptionBound: 0 });
    expect(r.executions).toBe(6);
    expect(r.stats.exhausted).toBe(true);
  });

  it("schedule counts grow with the preemption bound up to the unbounded count", async () => {
    const counts: number[] = [];
    for (const bound of [0, 1, 2, 3, 4, 5, 6]) {
      counts.push((await explore(independent(4, 3), { strategy: "dfs", preemptionBound: bound })).executions);
    }
    const all = (await explore(independent(4, 3), { strategy: "dfs" })).executions;
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1] as number);
    expect(counts[counts.length - 1]).toBe(all);
    expect(counts[0]).toBe(2);
  });

  it("stops at the execution budget and says the space was not exhausted", async () => {
    const r = await explore(independent(5, 5), { strategy: "dfs", executions: 10 });
    expect(r.executions).toBe(10);
    expect(r.stats.exhausted).toBe(false);
  });

  it("reports a scenario that is not deterministic instead of exploring nonsense", async () => {
    let n = 0;
    const flaky = defineScenario({
      name: "flaky",
      description: "a task whose step count changes between executions",
      setup: () => ({}),
      tasks: {
        a: async (_w, k) => {
          n++;
          for (let i = 0; i < (n % 3) + 1; i++) await k.point();
        },
        b: stepsTask(2),
      },
    });
    await expect(explore(flaky, { strategy: "dfs" })).rejects.toThrow(/not deterministic/);
  });
});

describe("sharding splits the DFS tree without changing it", () => {
  it("shards 0/3, 1/3 and 2/3 together are exactly the sequential search (tasks of 4, 3 and 2 steps)", async () => {
    const sc = independent(4, 3, 2);
    const whole = await explore(sc, { strategy: "dfs" });
    let total = 0;
    for (let i = 0; i < 3; i++) {
      const part = await explore(sc, { strategy: "dfs", shard: `${i}/3` });
      expect(part.stats.exhausted).toBe(true);
      expect(part.executions).toBeGreaterThan(0);
      total += part.executions;
    }
    expect(total).toBe(whole.executions);
    expect(whole.executions).toBe(multinomial(4, 3, 2));
  });

  it("random shards partition the execution indices", async () => {
    const sc = independent(3, 3);
    const whole = await explore(sc, { strategy: "random", executions: 90 });
    const parts = await Promise.all(
      [0, 1, 2].map((i) => explore(sc, { strategy: "random", executions: 90, shard: `${i}/3` })),
    );
    expect(parts.map((p) => p.executions)).toEqual([30, 30, 30]);
    expect(whole.executions).toBe(90);
  });

  it("rejects a malformed shard", async () => {
    await expect(explore(independent(1, 1), { shard: "3/3" })).rejects.toMatchObject({ code: "EINVAL" });
    await expect(explore(independent(1, 1), { shard: "x" })).rejects.toMatchObject({ code: "EINVAL" });
  });
});

describe("a scenario's own preemption bound (what mmun demo explores it with)", () => {
  const spec = {
    name: "bounded",
    description: "one task",
    setup: () => ({}),
    tasks: { t: () => undefined },
  };

  it("is kept by defineScenario, and must be a non-negative integer (EINVAL otherwise)", () => {
    expect(defineScenario({ ...spec, preemptionBound: 0 }).preemptionBound).toBe(0);
    expect(defineScenario({ ...spec, preemptionBound: 2 }).preemptionBound).toBe(2);
    for (const bad of [-1, 1.5, Number.NaN, "2"]) {
      expect(() => defineScenario({ ...spec, preemptionBound: bad as number }), String(bad)).toThrow(
        expect.objectContaining({ code: "EINVAL" }),
      );
    }
  });
});
