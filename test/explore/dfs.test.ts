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

  for (const [what, options] of [
    ["delay bound 2", { delayBound: 2 }],
    ["iterative bounding", { executions: 1_000_000 }],
  ] as const) {
    it(`under ${what}, shards 0/3, 1/3 and 2/3 together are exactly the sequential search`, async () => {
      const sc = independent(3, 3, 2);
      const whole = await explore(sc, { strategy: "dfs", ...options });
      let total = 0;
      for (let i = 0; i < 3; i++) {
        const part = await explore(sc, { strategy: "dfs", ...options, shard: `${i}/3` });
        expect(part.stats.exhausted).toBe(true);
        total += part.executions;
      }
      expect(total).toBe(whole.executions);
      expect(whole.stats.exhausted).toBe(true);
    });
  }

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

/**
 * The brute-force model of delay bounding: every interleaving of tasks of the given step counts
 * (as the sequence of tasks that run each step), with its delays from a round robin in id order.
 * A step ends at a scheduling point; the running task goes on by default, and when it ends the next
 * one after it (by id, wrapping around) runs; choosing the i-th runnable task in that order costs i.
 */
function delaysOfEveryInterleaving(steps: readonly number[]): number[] {
  const out: number[] = [];
  const left = [...steps];
  const walk = (current: number | null, last: number | null, delays: number) => {
    const runnable = left.flatMap((n, id) => (n > 0 ? [id] : []));
    if (runnable.length === 0) {
      out.push(delays);
      return;
    }
    const start = current !== null && left[current] !== 0 ? current : last === null ? 0 : last + 1;
    const order = [...runnable.filter((id) => id >= start), ...runnable.filter((id) => id < start)];
    order.forEach((id, i) => {
      left[id] = (left[id] as number) - 1;
      walk(id, id, delays + (runnable.length > 1 ? i : 0));
      left[id] = (left[id] as number) + 1;
    });
  };
  walk(null, null, 0);
  return out;
}

describe("delay bounding enumerates the schedules within d delays of a round robin", () => {
  it("delay bound 0 is one schedule whatever the number of tasks, where preemption bound 0 has n!", async () => {
    const sc = independent(2, 2, 2, 2, 2);
    expect((await explore(sc, { strategy: "dfs", delayBound: 0 })).executions).toBe(1);
    expect((await explore(sc, { strategy: "dfs", preemptionBound: 0 })).executions).toBe(120);
  });

  it("n tasks of one step: delay bound d gives the permutations of n with at most d inversions (Mahonian numbers)", async () => {
    // Permutations of 5 by inversions: 1, 4, 9, 15, 20, 22, 20, 15, 9, 4, 1.
    const cumulative = [1, 5, 14, 29, 49, 71, 91, 106, 115, 119, 120];
    const sc = independent(1, 1, 1, 1, 1);
    for (let d = 0; d < cumulative.length; d++) {
      const r = await explore(sc, { strategy: "dfs", delayBound: d });
      expect(r.executions, `bound ${d}`).toBe(cumulative[d]);
      expect(r.stats.exhausted).toBe(true);
    }
  });

  for (const [n, m] of [
    [2, 5],
    [3, 3],
    [5, 2],
  ] as const) {
    it(`${n} tasks of ${m} steps with delay bound 1 give 1 + (n-1)m = ${1 + (n - 1) * m} schedules`, async () => {
      const r = await explore(independent(...new Array<number>(n).fill(m)), {
        strategy: "dfs",
        delayBound: 1,
      });
      expect(r.executions).toBe(1 + (n - 1) * m);
    });
  }

  for (const steps of [
    [2, 3],
    [2, 2, 2],
    [3, 1, 2],
    [1, 2, 1, 2],
  ]) {
    it(`tasks of ${steps.join(", ")} steps: each bound gives exactly the interleavings of the brute-force model within it`, async () => {
      const delays = delaysOfEveryInterleaving(steps);
      expect(delays.length).toBe(multinomial(...steps));
      for (let d = 0; d <= Math.max(...delays); d++) {
        const r = await explore(independent(...steps), { strategy: "dfs", delayBound: d });
        expect(r.executions, `bound ${d}`).toBe(delays.filter((x) => x <= d).length);
        expect(r.distinctSchedules).toBe(r.executions);
      }
    });
  }

  it("preemptionBound and delayBound together are refused", async () => {
    await expect(
      explore(independent(1, 1), { strategy: "dfs", preemptionBound: 1, delayBound: 1 }),
    ).rejects.toMatchObject({ code: "EINVAL" });
  });
});

describe("iterative bounding (dfs with a budget and no bound) runs bound 0, 1, 2, …", () => {
  it("counts each schedule once, in the iteration of its delays, and says the space was exhausted at the largest delay count", async () => {
    const steps = [3, 2, 2];
    const delays = delaysOfEveryInterleaving(steps);
    const r = await explore(independent(...steps), { strategy: "dfs", executions: 1_000_000 });
    expect(r.executions).toBe(multinomial(...steps));
    expect(r.distinctSchedules).toBe(r.executions);
    expect(r.stats.exhausted).toBe(true);
    expect(r.stats.boundReached).toBe(Math.max(...delays));
  });

  it("stopped by its budget, it has run every schedule with fewer delays than the bound it reached", async () => {
    const steps = [3, 3, 2];
    const delays = delaysOfEveryInterleaving(steps);
    for (const budget of [1, 10, 100, 500]) {
      const r = await explore(independent(...steps), { strategy: "dfs", executions: budget });
      const b = r.stats.boundReached as number;
      expect(r.executions).toBe(budget);
      expect(r.stats.exhausted).toBe(false);
      expect(delays.filter((x) => x < b).length).toBeLessThan(budget);
      expect(delays.filter((x) => x <= b).length).toBeGreaterThanOrEqual(budget);
    }
  });

  it("finds a bug at the smallest number of delays that shows it (the lost update: bound 1)", async () => {
    const race = defineScenario({
      name: "race",
      description: "a read-modify-write split by a point",
      setup: () => ({ n: 0 }),
      tasks: Object.fromEntries(
        ["a", "b", "c"].map((t) => [
          t,
          async (w: { n: number }, k: SyncKernel) => {
            const v = w.n;
            await k.point();
            w.n = v + 1;
          },
        ]),
      ),
      check: (w) => w.n === 3,
    });
    const r = await explore(race, { strategy: "dfs", executions: 1000 });
    expect(r.failures[0]?.kind).toBe("check");
    expect(r.stats.boundReached).toBe(1);
    expect(r.stats.exhausted).toBe(false);
  });

  it("iterative: false keeps plain depth-first order under a budget; iterative: true needs no budget and no bound", async () => {
    const sc = independent(3, 3, 2);
    const plain = await explore(sc, { strategy: "dfs", executions: 50, iterative: false });
    const all = await explore(sc, { strategy: "dfs" });
    expect(plain.stats.boundReached).toBeUndefined();
    expect(plain.failures).toEqual([]);
    expect(plain.executions).toBe(50);
    const forced = await explore(sc, { strategy: "dfs", iterative: true });
    expect(forced.executions).toBe(all.executions);
    expect(forced.stats.boundReached).toBeGreaterThan(0);
    await expect(explore(sc, { strategy: "dfs", iterative: true, delayBound: 1 })).rejects.toMatchObject({
      code: "EINVAL",
    });
  });

  it("is not used when a bound is given, or without a budget: boundReached is undefined", async () => {
    const sc = independent(2, 2);
    expect((await explore(sc, { strategy: "dfs" })).stats.boundReached).toBeUndefined();
    expect(
      (await explore(sc, { strategy: "dfs", delayBound: 1, executions: 9 })).stats.boundReached,
    ).toBeUndefined();
    expect((await explore(sc, { strategy: "random", executions: 9 })).stats.boundReached).toBeUndefined();
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
