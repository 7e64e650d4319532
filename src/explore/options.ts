// The options of explore(): what they mean, their defaults, and their validation.

import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import type { ExecutionOptions } from "./execution.js";
import { type Scenario, scenarioRefOf } from "./scenario.js";

/** The search strategies `explore` offers. */
export type StrategyName = "random" | "pct" | "dfs";

/** Options of {@link explore}; every bound is explicit. */
export interface ExploreOptions {
  /** `"random"` (default), `"pct"` or `"dfs"`. */
  strategy?: StrategyName;
  /** Seed of random and PCT searches (default 0). */
  seed?: number;
  /**
   * Execution budget (default 1000 for random and PCT, 100000 for DFS). DFS given a budget and no
   * bound runs iterative delay bounding (see `iterative`).
   */
  executions?: number;
  /**
   * DFS: iterative delay bounding, bound 0, 1, 2, … until the budget or exhaustion (default: when
   * `executions` is given and neither bound is). False: every schedule in plain depth-first order.
   */
  iterative?: boolean;
  /** Scheduling points allowed per execution before it fails as unbounded (default 10000). */
  maxSteps?: number;
  /** DFS: at most this many preemptions per execution (default: unbounded). */
  preemptionBound?: number;
  /** DFS: at most this many delays from a round-robin schedule per execution (default: unbounded). */
  delayBound?: number;
  /**
   * Fair scheduling of spinning tasks (`cpuRelax`, `condResched`; default true): a task that spun is
   * not chosen again until each task runnable then has run a step. Tokens record false.
   */
  fair?: boolean;
  /** PCT: the bug depth d targeted (default 3). */
  pctDepth?: number;
  /** PCT: decisions per execution to draw change points from (default: the scheduling points of one non-preemptive run). */
  pctSteps?: number;
  /** Run on this many worker threads (default 1); results are the same as with one. */
  workers?: number;
  /** Explore only shard "i/n" of the search (to spread it over processes or machines). */
  shard?: string;
  /** Stop at the `"first"` failure (default) or collect `"all"` distinct failures. */
  failures?: "first" | "all";
  /** Check lock order across executions with one lockdep graph (default true). Tokens record false. */
  lockdep?: boolean;
  /**
   * How replay commands name the scenario on the command line (default: {@link scenarioRefOf}: a
   * built-in's name, or a user module's path#name; none for a scenario without `module`).
   */
  scenarioRef?: string;
  /** Called every 256 executions and at the end. */
  onProgress?: (progress: ExploreProgress) => void;
  /** Builds each execution's kernel (default: the package's `Kernel`). */
  createKernel?: ExecutionOptions["createKernel"];
}

/** Progress of a running search. */
export interface ExploreProgress {
  executions: number;
  failures: number;
  points: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  strategy: StrategyName;
  seed: number;
  executions: number;
  maxSteps: number;
  preemptionBound: number | undefined;
  delayBound: number | undefined;
  /** DFS given a budget and no bound: iterative delay bounding. */
  iterative: boolean;
  fair: boolean;
  pctDepth: number;
  pctSteps: number | undefined;
  workers: number;
  failures: "first" | "all";
  lockdep: boolean;
  scenarioRef: string | undefined;
}

/** The default step bound (a token records any other). */
export const DEFAULT_MAX_STEPS = 10_000;

function positiveInt(name: string, v: unknown, allowZero = false): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new MmunError(
      "EINVAL",
      `${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${String(v)}`,
    );
  }
  return v;
}

/** Validates options and fills in defaults. */
export function resolveOptions(
  scenario: Scenario<unknown, Kernel>,
  options: ExploreOptions,
): ResolvedOptions {
  const strategy = options.strategy ?? "random";
  if (strategy !== "random" && strategy !== "pct" && strategy !== "dfs") {
    throw new MmunError("EINVAL", `unknown strategy "${String(strategy)}" (random, pct or dfs)`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new MmunError("EINVAL", `seed must be a safe integer, got ${seed}`);
  const failures = options.failures ?? "first";
  if (failures !== "first" && failures !== "all") {
    throw new MmunError("EINVAL", `failures must be "first" or "all", got ${String(failures)}`);
  }
  const preemptionBound =
    options.preemptionBound === undefined
      ? undefined
      : positiveInt("preemptionBound", options.preemptionBound, true);
  const delayBound =
    options.delayBound === undefined ? undefined : positiveInt("delayBound", options.delayBound, true);
  if (preemptionBound !== undefined && delayBound !== undefined) {
    throw new MmunError("EINVAL", "give preemptionBound or delayBound, not both");
  }
  if (options.iterative === true && (preemptionBound !== undefined || delayBound !== undefined)) {
    throw new MmunError("EINVAL", "iterative bounding raises the delay bound itself: give it no bound");
  }
  const fair = options.fair ?? true;
  if (typeof fair !== "boolean") throw new MmunError("EINVAL", `fair must be a boolean, got ${String(fair)}`);
  return {
    strategy,
    seed,
    executions: positiveInt("executions", options.executions ?? (strategy === "dfs" ? 100_000 : 1000)),
    maxSteps: positiveInt("maxSteps", options.maxSteps ?? DEFAULT_MAX_STEPS),
    preemptionBound,
    delayBound,
    iterative:
      strategy === "dfs" &&
      preemptionBound === undefined &&
      delayBound === undefined &&
      (options.iterative ?? options.executions !== undefined),
    fair,
    pctDepth: positiveInt("pctDepth", options.pctDepth ?? 3),
    pctSteps: options.pctSteps === undefined ? undefined : positiveInt("pctSteps", options.pctSteps),
    workers: positiveInt("workers", options.workers ?? 1),
    failures,
    lockdep: options.lockdep ?? true,
    scenarioRef: options.scenarioRef ?? scenarioRefOf(scenario),
  };
}
