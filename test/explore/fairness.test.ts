import { describe, expect, it } from "vitest";
import { type ExploreOptions, explore, replay } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import type { Mutex } from "../../src/sync/mutex.js";
import type { SyncKernel } from "../../src/sync/syncKernel.js";

/** A waiter spins on a flag (`while (!READ_ONCE(flag)) cpu_relax();`) that a setter raises after its data. */
interface Flag {
  flag: boolean;
  data: number;
  seen: number;
}
const spinOnFlag = defineScenario({
  name: "spin-on-flag",
  description: "a waiter spins on a flag the setter raises after writing the data",
  setup: (): Flag => ({ flag: false, data: 0, seen: -1 }),
  tasks: {
    waiter: async (w: Flag, k: SyncKernel) => {
      while (!w.flag) await k.cpuRelax();
      w.seen = w.data;
    },
    setter: async (w: Flag, k: SyncKernel) => {
      await k.point();
      w.data = 42;
      await k.point();
      w.flag = true;
    },
  },
  check: (w) => w.seen === 42,
});

/** Three tasks take a mutex by trylock and retry (`while (!trylock) cpu_relax();`), then increment. */
const trylockRetry = defineScenario({
  name: "trylock-retry",
  description: "three tasks trylock a mutex and retry until they get it",
  setup: (k: SyncKernel) => ({ m: k.mutex("retry_lock"), n: 0 }),
  tasks: Object.fromEntries(
    ["a", "b", "c"].map((name) => [
      name,
      async (w: { m: Mutex; n: number }, k: SyncKernel) => {
        while (!w.m.trylock()) await k.cpuRelax();
        const v = w.n;
        await k.point();
        w.n = v + 1;
        w.m.unlock();
      },
    ]),
  ),
  check: (w) => w.n === 3,
});

/** Each task spins until the other has gone first: neither ever does. */
const livelock = defineScenario({
  name: "livelock",
  description: "two tasks each spin until the other has finished",
  setup: () => ({ a: false, b: false }),
  tasks: {
    a: async (w: { a: boolean; b: boolean }, k: SyncKernel) => {
      while (!w.b) await k.cpuRelax();
      w.a = true;
    },
    b: async (w: { a: boolean; b: boolean }, k: SyncKernel) => {
      while (!w.a) await k.condResched();
      w.b = true;
    },
  },
});

const searches: [string, ExploreOptions][] = [
  ["random", { strategy: "random", executions: 300 }],
  ["pct", { strategy: "pct", executions: 300 }],
  ["dfs", { strategy: "dfs" }],
  ["dfs, preemption bound 2", { strategy: "dfs", preemptionBound: 2 }],
  ["dfs, delay bound 2", { strategy: "dfs", delayBound: 2 }],
  ["dfs, iterative", { strategy: "dfs", executions: 10_000 }],
];

describe("spin loops end under every strategy (fair scheduling of cpuRelax and condResched)", () => {
  for (const scenario of [spinOnFlag, trylockRetry]) {
    for (const [what, options] of searches) {
      it(`${scenario.name} under ${what}: no failure, no execution near the step bound`, async () => {
        const r = await explore(scenario, { ...options, maxSteps: 200 });
        expect(r.failures).toEqual([]);
        expect(r.stats.bounded).toBe(0);
        expect(r.stats.maxPoints).toBeLessThan(30);
        if (options.strategy === "dfs") expect(r.stats.exhausted).toBe(true);
      });
    }
  }

  it("without fairness the first DFS schedule spins into the step bound, and its token says fair: false", async () => {
    const r = await explore(spinOnFlag, { strategy: "dfs", fair: false, maxSteps: 200 });
    const f = r.failures[0];
    expect(f?.kind).toBe("error");
    expect(f?.message).toMatch(/exceeded the bound of 200 scheduling points/);
    expect(f?.message).toMatch(/spinning lately: "waiter"/);
    expect(f?.token).toMatch(/!200\+u\./);
    expect((await replay(spinOnFlag, f?.token as string)).reproduced).toBe(true);
  });

  it("a spinning task re-checks its flag between any two steps of the other: one DFS schedule checks after each", async () => {
    // Fair is not "last": the waiter is held back for one step of the setter, not until it is done.
    const observed: string[] = [];
    interface Probe {
      flag: boolean;
      steps: number;
      checks: number[];
    }
    const probe = defineScenario({
      name: "probe",
      description: "a waiter that records the setter's progress at each check",
      setup: (): Probe => ({ flag: false, steps: 0, checks: [] }),
      tasks: {
        waiter: async (w: Probe, k: SyncKernel) => {
          for (;;) {
            w.checks.push(w.steps);
            if (w.flag) break;
            await k.cpuRelax();
          }
        },
        setter: async (w: Probe, k: SyncKernel) => {
          w.steps++;
          await k.point();
          w.steps++;
          await k.point();
          w.steps++;
          w.flag = true;
        },
      },
      check: (w) => {
        observed.push(w.checks.join(","));
        return true;
      },
    });
    const r = await explore(probe, { strategy: "dfs" });
    expect(r.stats.exhausted).toBe(true);
    expect(observed).toContain("0,1,2,3");
    // Never two checks without a step of the setter between them.
    for (const o of observed)
      expect(o.split(",").map(Number)).toEqual([...new Set(o.split(",").map(Number))]);
  });
});

describe("a livelock (every task only spins) is still reported", () => {
  for (const [what, options] of searches) {
    it(`under ${what}: an error at the step bound naming every spinning task, whose token replays`, async () => {
      const r = await explore(livelock, { ...options, maxSteps: 300 });
      const f = r.failures[0];
      expect(f?.kind).toBe("error");
      expect(f?.message).toMatch(/a livelock: every live task \("a", "b"\) keeps spinning/);
      expect(r.stats.bounded).toBe(1);
      const again = await replay(livelock, f?.token as string);
      expect(again.reproduced).toBe(true);
      expect(again.failure?.message).toBe(f?.message);
    });
  }

  it("the fair schedule alternates the two tasks: each spin lets the other run once", async () => {
    const r = await explore(livelock, { strategy: "dfs", maxSteps: 40 });
    const runs = (r.failures[0]?.schedule.rows ?? []).map((row) => row.task);
    expect(runs.length).toBeGreaterThan(10);
    for (let i = 2; i < runs.length - 1; i++) expect(runs[i]).not.toBe(runs[i - 1]);
  });
});
