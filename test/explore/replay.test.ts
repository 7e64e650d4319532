import { describe, expect, it } from "vitest";
import { type ExploreOptions, explore, replay } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { decodeToken, encodeToken } from "../../src/explore/token.js";
import { builtinScenarios } from "../../src/scenarios/index.js";
import type { Mutex } from "../../src/sync/mutex.js";
import type { SyncKernel } from "../../src/sync/syncKernel.js";

/** Searches that leave a broken built-in unfound on purpose: that is what these scenarios show. */
const MISSES: Record<string, readonly string[]> = {
  // Uniform random search rarely gives the order violation its long uninterrupted run.
  random: ["classic/order-violation"],
  // Preemption-bounded DFS spends its budget reordering whole tasks (docs/explorer.md).
  "dfs, preemption bound 2": ["classic/reorder-10", "classic/reorder-20", "classic/wrong-lock"],
};

describe("explore -> fail -> replay gives the same failure at the same step with the same trace", () => {
  const searches: [string, ExploreOptions][] = [
    ["random", { strategy: "random" }],
    ["pct", { strategy: "pct" }],
    ["dfs, preemption bound 2", { strategy: "dfs", preemptionBound: 2, executions: 2000 }],
    ["dfs, delay bound 2", { strategy: "dfs", delayBound: 2 }],
    ["dfs, iterative", { strategy: "dfs", executions: 10_000 }],
  ];
  for (const scenario of builtinScenarios.filter((s) => s.expect !== "pass")) {
    for (const [what, options] of searches) {
      it(`${scenario.name} (${what}, seed 7)`, async () => {
        const r = await explore(scenario, { ...options, seed: 7 });
        const f = r.failures[0];
        if (f === undefined) {
          expect(MISSES[what] ?? []).toContain(scenario.name);
          return;
        }
        const again = await replay(scenario, f.token);
        expect(again.reproduced).toBe(true);
        expect(again.failure?.kind).toBe(f.kind);
        expect(again.failure?.step).toBe(f.step);
        expect(again.failure?.message).toBe(f.message);
        expect(again.trace).toEqual(f.trace);
        expect(f.trace.events.length).toBeGreaterThan(0);
        expect(f.replay.cli).toBe(`npx mmun replay ${scenario.name} ${f.token}`);
      });
    }
  }

  it("a token replays identically many times and on a fresh explorer", async () => {
    const sc = builtinScenarios.find((s) => s.name === "classic/lost-update");
    if (sc === undefined) throw new Error("missing scenario");
    const r = await explore(sc, { strategy: "random", seed: 3 });
    const token = r.failures[0]?.token as string;
    const a = await replay(sc, token);
    const b = await replay(sc, token);
    expect(a.choices).toEqual(b.choices);
    expect(a.trace).toEqual(b.trace);
  });

  it("replay says when a token does not reproduce (the scenario changed)", async () => {
    const sc = builtinScenarios.find((s) => s.name === "classic/lost-update");
    if (sc === undefined) throw new Error("missing scenario");
    const token = (await explore(sc)).failures[0]?.token as string;
    const changed = defineScenario({ ...sc, name: "changed", check: () => true });
    const r = await replay(changed, token);
    expect(r.reproduced).toBe(false);
    expect(r.failure).toBeUndefined();
  });

  it("replay rejects a malformed token with EINVAL", async () => {
    const sc = builtinScenarios[0];
    if (sc === undefined) throw new Error("missing scenario");
    await expect(replay(sc, "not a token")).rejects.toMatchObject({ code: "EINVAL" });
    await expect(replay(sc, "2z3.AAAA.AAAA")).rejects.toMatchObject({ code: "EINVAL" });
  });
});

describe("a token replays under every option that changes an execution (lockdep, fairness, step bound)", () => {
  it("abba explored by DFS without lockdep deadlocks, and its token replays the deadlock (not a lock-order report)", async () => {
    const { abba } = await import("../../src/scenarios/classic/abba.js");
    const f = (await explore(abba, { strategy: "dfs", lockdep: false })).failures[0];
    expect(f?.kind).toBe("deadlock");
    expect(f?.token).toMatch(/\+l\./);
    const again = await replay(abba, f?.token as string);
    expect(again).toMatchObject({ reproduced: true, diverged: undefined });
    expect(again.failure?.kind).toBe("deadlock");
    expect(again.reports.map((x) => x.kind)).toEqual(["deadlock"]);
  });

  const combos = [true, false].flatMap((lockdep) =>
    [true, false].flatMap((fair) => [undefined, 12].map((maxSteps) => ({ lockdep, fair, maxSteps }))),
  );
  for (const scenario of builtinScenarios) {
    it(`${scenario.name}: every failure of random and iterative DFS under ${combos.length} option combinations replays`, async () => {
      let replayed = 0;
      for (const { lockdep, fair, maxSteps } of combos) {
        for (const search of [
          { strategy: "random", executions: 100 },
          { strategy: "dfs", executions: 200 },
        ] as const) {
          const options: ExploreOptions = { ...search, lockdep, fair, failures: "all" };
          if (maxSteps !== undefined) options.maxSteps = maxSteps;
          const r = await explore(scenario, options);
          for (const f of r.failures) {
            const again = await replay(scenario, f.token, { trace: false });
            const what = `${JSON.stringify(options)}: ${f.kind} ${f.token}`;
            expect(again.reproduced, what).toBe(true);
            expect(again.failure?.message, what).toBe(f.message);
            replayed++;
          }
        }
      }
      if (scenario.expect !== "pass") expect(replayed).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe("failures of a bounded execution explain themselves", () => {
  const spinner = defineScenario({
    name: "spinner",
    description: "a task that retries forever while another never makes progress",
    setup: (k: SyncKernel) => ({ lock: k.mutex("m"), done: false }),
    tasks: {
      retry: async (w: { lock: Mutex; done: boolean }) => {
        while (!w.done) {
          await w.lock.lock();
          w.lock.unlock();
        }
      },
    },
  });

  it("exceeding maxSteps is an error naming a likely unbounded retry loop, and its token replays (maxSteps 50)", async () => {
    const r = await explore(spinner, { maxSteps: 50, executions: 3 });
    const f = r.failures[0];
    expect(f?.kind).toBe("error");
    expect(f?.message).toMatch(/unbounded retry loop or a livelock/);
    expect(f?.token).toMatch(/!50\.[A-Za-z0-9_-]{4}$/);
    const again = await replay(spinner, f?.token as string);
    expect(again.reproduced).toBe(true);
    expect(r.stats.bounded).toBe(1);
  });

  it("counts as bounded only executions the step bound stopped, not a failure whose message says so", async () => {
    const liar = defineScenario({
      name: "liar",
      description: "a check that fails with the step bound's wording",
      setup: () => ({}),
      tasks: { t: async () => {} },
      check: () => {
        throw new Error("t exceeded the bound of 50 scheduling points");
      },
    });
    const r = await explore(liar, { executions: 1 });
    expect(r.failures[0]?.kind).toBe("check");
    expect(r.stats.bounded).toBe(0);
  });
});

describe("a lock-order cycle formed across executions", () => {
  // Each execution takes the two locks in one order only; which order depends on the interleaving.
  const branchy = defineScenario({
    name: "branchy",
    description: "one task takes a->b or b->a depending on whether another task ran first",
    setup: (k: SyncKernel) => ({ a: k.mutex("branch_a"), b: k.mutex("branch_b"), flag: false }),
    tasks: {
      setter: async (w: { flag: boolean }) => {
        w.flag = true;
      },
      locker: async (w: { a: Mutex; b: Mutex; flag: boolean }, k: SyncKernel) => {
        await k.point();
        const [x, y] = w.flag ? [w.a, w.b] : [w.b, w.a];
        await x.lock();
        await y.lock();
        y.unlock();
        x.unlock();
      },
    },
  });

  it("is reported with a token of both executions that replays it (dfs)", async () => {
    const r = await explore(branchy, { strategy: "dfs" });
    const f = r.failures[0];
    expect(f?.kind).toBe("lock-order");
    expect(f?.message).toMatch(/in execution #\d+/);
    expect(f?.token).toContain("~");
    const again = await replay(branchy, f?.token as string);
    expect(again.reproduced).toBe(true);
    expect(again.failure?.message).toBe(f?.message);
  });
});

describe("a replay that leaves the recorded schedule says so", () => {
  const abbaFound = async () => {
    const { abba } = await import("../../src/scenarios/classic/abba.js");
    const r = await explore(abba, { strategy: "dfs" });
    return { abba, f: r.failures[0] as NonNullable<(typeof r.failures)[0]> };
  };

  it("the token as found reproduces, and follows its schedule to the end (dfs)", async () => {
    const { abba, f } = await abbaFound();
    const r = await replay(abba, f.token);
    expect(r).toMatchObject({ reproduced: true, diverged: undefined });
  });

  it("a recorded task that is not runnable, a choice too many and a choice too few are divergences", async () => {
    const { abba, f } = await abbaFound();
    const choices = decodeToken(f.token).segments[0] as number[];
    const variants: [string, number[], RegExp][] = [
      ["not runnable", [...choices.slice(0, -1), 7], /task #7 is not runnable/],
      ["one too many", [...choices, 0], /failed \(lock-order\) after \d+ of its \d+ recorded choices/],
      ["one too few", choices.slice(0, -1), /after all \d+ recorded choices the execution needs another/],
    ];
    for (const [what, list, why] of variants) {
      const token = encodeToken(f.kind, f.step, [list]);
      const r = await replay(abba, token);
      expect(r.reproduced, what).toBe(false);
      expect(r.diverged, what).toMatch(why);
    }
  });
});
