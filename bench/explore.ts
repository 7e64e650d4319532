// npm run bench -- explore: executions per second of the explorer, and time to first failure on
// the order violation, against fast-check's scheduler (fc.scheduler) running the same logic; then,
// per search (random, PCT, DFS with preemption bound 2, DFS with delay bound 2, iterative delay
// bounding), executions to the first failure on every broken built-in and schedules to exhaust
// every correct one.

import fc from "fast-check";
import { type ExploreOptions, explore, type StrategyName } from "../src/explore/explore.js";
import { orderViolation } from "../src/scenarios/classic/orderViolation.js";
import { builtinScenarios } from "../src/scenarios/index.js";
import { fmt, fmtRatio, gc, printTable } from "./harness.js";
import { lockPairs2, lockPairs3 } from "./referenceScenarios.js";

/** fast-check: n tasks x 10 lock/unlock pairs on a promise mutex, every acquisition a scheduled point. */
async function fastCheckLockPairs(tasks: number, runs: number, seed: number): Promise<number> {
  const t0 = performance.now();
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), async (s) => {
      let locked = false;
      const waiters: (() => void)[] = [];
      const lock = async () => {
        await s.schedule(Promise.resolve(), "lock");
        while (locked) await new Promise<void>((r) => waiters.push(r));
        locked = true;
      };
      const unlock = () => {
        locked = false;
        waiters.shift()?.();
      };
      const body = async () => {
        for (let j = 0; j < 10; j++) {
          await lock();
          unlock();
        }
      };
      const all = Promise.all(Array.from({ length: tasks }, body));
      await s.waitIdle();
      await all;
    }),
    { numRuns: runs, seed },
  );
  return runs / ((performance.now() - t0) / 1000);
}

/** fast-check: the order violation; returns executions and seconds until its first failure. */
async function fastCheckOrderViolation(
  seed: number,
  budget: number,
): Promise<{ runs: number; secs: number; found: boolean }> {
  let runs = 0;
  const t0 = performance.now();
  const out = await fc.check(
    fc.asyncProperty(fc.scheduler(), async (s) => {
      runs++;
      const w = { phase: "idle" as "idle" | "open" | "closed", run: 0, torn: false };
      const producer = async () => {
        for (let i = 1; i <= 3; i++) {
          await s.schedule(Promise.resolve());
          if (i === 2) w.phase = "open";
          else if (i === 3) w.phase = "closed";
        }
      };
      const consumer = async () => {
        for (let i = 1; i <= 18; i++) {
          await s.schedule(Promise.resolve());
          if (w.phase === "open") w.run++;
          else {
            if (w.phase === "closed" && w.run >= 14) w.torn = true;
            w.run = 0;
          }
        }
      };
      const all = Promise.all([producer(), consumer()]);
      await s.waitIdle();
      await all;
      return !w.torn;
    }),
    { numRuns: budget, seed, endOnFailure: true },
  );
  return { runs, secs: (performance.now() - t0) / 1000, found: out.failed };
}

/** Executions/s over the whole run, and in steady state (from the first progress report on). */
async function rate(
  scenario: typeof lockPairs2,
  strategy: StrategyName,
  workers: number,
  executions: number,
) {
  // DFS in plain depth-first order, as in a search without a budget (a budget alone would make it
  // iterative bounding).
  const plain = strategy === "dfs" ? { iterative: false } : {};
  await explore(scenario, { strategy, executions: Math.min(5000, executions), ...plain });
  gc();
  let firstAt = 0;
  let firstCount = 0;
  const t0 = performance.now();
  const r = await explore(scenario, {
    strategy,
    executions,
    workers,
    seed: 1,
    ...plain,
    onProgress: (p) => {
      if (firstAt === 0 && p.executions > 0) {
        firstAt = performance.now();
        firstCount = p.executions;
      }
    },
  });
  const t1 = performance.now();
  const whole = r.executions / ((t1 - t0) / 1000);
  const steady = firstAt > 0 && t1 > firstAt ? (r.executions - firstCount) / ((t1 - firstAt) / 1000) : whole;
  return { whole, steady, executions: r.executions };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function main(args: string[]): Promise<void> {
  const quick = args.includes("--quick");
  const execs = quick ? 20_000 : 100_000;
  const fcRuns = quick ? 2_000 : 10_000;
  // 1. Executions per second on the reference scenarios.
  const rows: string[][] = [];
  for (const [label, scenario, tasks] of [
    ["2 tasks x 10 lock/unlock", lockPairs2, 2],
    ["3 tasks x 10 lock/unlock", lockPairs3, 3],
  ] as const) {
    const mine: string[][] = [];
    const single = new Map<string, number>();
    for (const strategy of ["random", "pct", "dfs"] as const) {
      for (const workers of [1, 2]) {
        // DFS over 2 tasks enumerates the whole space (a budget-capped parallel DFS makes every
        // shard cover the budget in its own part, so it is measured where it matters: exhaustive).
        const exhaustive = strategy === "dfs" && tasks === 2 && !quick;
        const budget = exhaustive ? 10_000_000 : workers === 1 ? execs : execs * 4;
        const r = await rate(scenario, strategy, workers, budget);
        if (workers === 1) single.set(strategy, r.steady);
        if (exhaustive && workers === 1)
          console.log(`(dfs over ${label}: ${fmt(r.executions)} schedules in all)`);
        mine.push([
          label,
          `mmun ${strategy}${exhaustive ? " (all schedules)" : ""}`,
          String(workers),
          fmt(r.whole),
          fmt(r.steady),
          workers === 1 ? "" : fmtRatio(r.steady / (single.get(strategy) ?? r.steady)),
        ]);
      }
    }
    gc();
    const fcRate = await fastCheckLockPairs(tasks, fcRuns, 1);
    rows.push([label, "fast-check fc.scheduler", "1", fmt(fcRate), fmt(fcRate), "", "1.0x"]);
    for (const m of mine) rows.push([...m, fmtRatio(Number((m[4] as string).replace(/,/g, "")) / fcRate)]);
  }
  printTable(
    "Explorer throughput (executions/s: whole run incl. worker start-up, and steady state)",
    ["scenario", "explorer", "workers", "whole run", "steady", "vs 1 worker", "vs fast-check"],
    rows,
  );
  // 2. Time to first failure on the order violation (median over seeds).
  const seeds = quick ? [0, 1, 2] : [0, 1, 2, 3, 4, 5, 6];
  const budget = quick ? 20_000 : 50_000;
  const ttf: string[][] = [];
  const fcTimes: number[] = [];
  const fcRunsFound: number[] = [];
  let fcMissed = 0;
  for (const seed of seeds) {
    const r = await fastCheckOrderViolation(seed, budget);
    fcTimes.push(r.secs);
    fcRunsFound.push(r.found ? r.runs : Number.POSITIVE_INFINITY);
    if (!r.found) fcMissed++;
  }
  const fcMedian = median(fcTimes);
  ttf.push([
    "fast-check fc.scheduler",
    fcMissed === seeds.length ? `none in ${budget}` : fmt(median(fcRunsFound)),
    `${fcMissed}/${seeds.length}`,
    `${(fcMedian * 1000).toFixed(1)}${fcMissed > seeds.length / 2 ? "+" : ""}`,
    "1.0x",
  ]);
  for (const [strategy, extra] of [
    ["random", {}],
    ["pct", { pctDepth: 3 }],
    ["dfs", { preemptionBound: 2 }],
  ] as const) {
    const times: number[] = [];
    const found: number[] = [];
    let missed = 0;
    for (const seed of seeds) {
      const t0 = performance.now();
      const r = await explore(orderViolation, { strategy, seed, executions: budget, ...extra });
      times.push((performance.now() - t0) / 1000);
      const f = r.failures[0];
      if (f === undefined) missed++;
      found.push(f === undefined ? Number.POSITIVE_INFINITY : f.execution + 1);
    }
    const m = median(times);
    ttf.push([
      `mmun ${strategy}${strategy === "pct" ? " (d=3)" : strategy === "dfs" ? " (bound 2)" : ""}`,
      missed === seeds.length ? `none in ${budget}` : fmt(median(found)),
      `${missed}/${seeds.length}`,
      `${(m * 1000).toFixed(1)}${missed > seeds.length / 2 ? "+" : ""}`,
      fmtRatio(fcMedian / m),
    ]);
  }
  printTable(
    `Time to first failure, order violation (median over seeds ${seeds.join(",")}; budget ${budget}; "+" = most seeds hit the budget)`,
    ["explorer", "executions to failure", "missed", "ms", "speed-up vs fast-check"],
    ttf,
  );
  await searches(quick);
}

/** The searches compared on the built-ins. */
const SEARCHES: [string, ExploreOptions][] = [
  ["random", { strategy: "random" }],
  ["pct", { strategy: "pct" }],
  ["dfs pb 2", { strategy: "dfs", preemptionBound: 2 }],
  ["dfs db 2", { strategy: "dfs", delayBound: 2 }],
  // DFS given a budget and no bound: iterative delay bounding.
  ["iterative", { strategy: "dfs" }],
];

/**
 * 3. Executions to the first failure on each broken built-in (random and PCT: median over seeds), and
 * 4. schedules to exhaust each correct one (DFS; within the bound where there is one).
 */
async function searches(quick: boolean): Promise<void> {
  const budget = quick ? 2000 : 10_000;
  const seeds = quick ? [0, 1, 2] : [0, 1, 2, 3, 4];
  const found: string[][] = [];
  for (const scenario of builtinScenarios.filter((s) => s.expect !== "pass")) {
    const row = [scenario.name];
    for (const [, options] of SEARCHES) {
      const seeded = options.strategy !== "dfs";
      const counts: number[] = [];
      for (const seed of seeded ? seeds : [0]) {
        const r = await explore(scenario, { ...options, seed, executions: budget });
        const f = r.failures[0];
        counts.push(f === undefined ? Number.POSITIVE_INFINITY : f.execution + 1);
      }
      const m = median(counts);
      row.push(Number.isFinite(m) ? fmt(m) : `none in ${fmt(budget)}`);
    }
    found.push(row);
  }
  printTable(
    `Executions to the first failure (budget ${fmt(budget)}; random and pct: median over seeds ${seeds.join(",")})`,
    ["scenario", ...SEARCHES.map(([label]) => label)],
    found,
  );
  const cap = quick ? 5000 : 20_000;
  const dfs = SEARCHES.filter(([, o]) => o.strategy === "dfs");
  const exhaust: string[][] = [];
  for (const scenario of builtinScenarios.filter((s) => s.expect === "pass")) {
    const row = [scenario.name];
    for (const [, options] of dfs) {
      const r = await explore(scenario, { ...options, executions: cap });
      const bound = r.stats.boundReached === undefined ? "" : ` (delays < ${r.stats.boundReached})`;
      row.push(r.stats.exhausted ? fmt(r.executions) : `> ${fmt(cap)}${bound}`);
    }
    exhaust.push(row);
  }
  printTable(
    `Schedules to exhaust the correct built-ins (dfs pb/db 2: within the bound; iterative: all; budget ${fmt(cap)})`,
    ["scenario", ...dfs.map(([label]) => label)],
    exhaust,
  );
}
