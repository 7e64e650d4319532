// explore() and replay(): run a scenario under many schedules; reproduce a failure from its token.

import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import { Lockdep } from "../sync/lockdep.js";
import type { Report } from "../sync/report.js";
import { type ExecutionOptions, type RawExecution, runExecution } from "./execution.js";
import type { ExecutionResult, ExploreResult, ExploreStats, Failure, FailureKind } from "./result.js";
import type { Scenario } from "./scenario.js";
import type { Search } from "./search.js";
import { DfsSearch } from "./strategies/dfs.js";
import { PctSearch } from "./strategies/pct.js";
import { RandomSearch } from "./strategies/random.js";
import { ReplayChooser } from "./strategies/replay.js";
import { decodeToken, encodeToken } from "./token.js";

/** The search strategies `explore` offers. */
export type StrategyName = "random" | "pct" | "dfs";

/** Options of {@link explore}; every bound is explicit. */
export interface ExploreOptions {
  /** `"random"` (default), `"pct"` or `"dfs"`. */
  strategy?: StrategyName;
  /** Seed of random and PCT searches (default 0). */
  seed?: number;
  /** Execution budget (default 1000 for random and PCT, 100000 for DFS). */
  executions?: number;
  /** Scheduling points allowed per execution before it fails as unbounded (default 10000). */
  maxSteps?: number;
  /** DFS: at most this many preemptions per execution (default: unbounded). */
  preemptionBound?: number;
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
  /** Check lock order across executions with one lockdep graph (default true). */
  lockdep?: boolean;
  /** How the CLI or a caller names the scenario in replay commands (default: its name). */
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
  pctDepth: number;
  pctSteps: number | undefined;
  workers: number;
  failures: "first" | "all";
  lockdep: boolean;
  scenarioRef: string;
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
  return {
    strategy,
    seed,
    executions: positiveInt("executions", options.executions ?? (strategy === "dfs" ? 100_000 : 1000)),
    maxSteps: positiveInt("maxSteps", options.maxSteps ?? DEFAULT_MAX_STEPS),
    preemptionBound:
      options.preemptionBound === undefined
        ? undefined
        : positiveInt("preemptionBound", options.preemptionBound, true),
    pctDepth: positiveInt("pctDepth", options.pctDepth ?? 3),
    pctSteps: options.pctSteps === undefined ? undefined : positiveInt("pctSteps", options.pctSteps),
    workers: positiveInt("workers", options.workers ?? 1),
    failures,
    lockdep: options.lockdep ?? true,
    scenarioRef: options.scenarioRef ?? scenario.name,
  };
}

/**
 * Part `i` of `outer` split `n` ways: shard (outer.index + i * outer.count) of (outer.count * n). The
 * n parts together cover exactly `outer`; worker threads and the browser's in-thread runs both use it.
 */
export function subShard(
  outer: { index: number; count: number },
  n: number,
  i: number,
): { index: number; count: number } {
  return { index: outer.index + i * outer.count, count: outer.count * n };
}

/** The label results carry for shard `outer`: "i/n", or none for the whole search. */
export function shardLabel(outer: { index: number; count: number }): string | undefined {
  return outer.count > 1 ? `${outer.index}/${outer.count}` : undefined;
}

/** Parses "i/n" (0 <= i < n). */
export function parseShard(shard: string | undefined): { index: number; count: number } {
  if (shard === undefined) return { index: 0, count: 1 };
  const m = /^(\d+)\/(\d+)$/.exec(shard);
  const index = m === null ? Number.NaN : Number(m[1]);
  const count = m === null ? Number.NaN : Number(m[2]);
  if (!(count >= 1 && index >= 0 && index < count)) {
    throw new MmunError("EINVAL", `shard must be "i/n" with 0 <= i < n, got ${JSON.stringify(shard)}`);
  }
  return { index, count };
}

/** A failure as a shard found it, before it gets its trace. */
export interface ShardFailure {
  key: number;
  kind: FailureKind;
  message: string;
  task: string | null;
  step: number;
  /** The executions to replay, the failing one last (more than one for a cross-execution lockdep cycle). */
  segments: number[][];
}

/** What one shard of a search returns (plain data: it crosses worker boundaries). */
export interface ShardOutcome {
  /** Order key and schedule hash of every counted execution, in the shard's order. */
  keys: number[];
  hashes: number[];
  points: number[];
  failures: ShardFailure[];
  exhausted: boolean;
  decisions: number;
  bounded: number;
}

/** Hashes a choice list to 52 bits (two FNV-1a variants). */
export function scheduleHash(choices: readonly number[]): number {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < choices.length; i++) {
    const c = choices[i] as number;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ (c + i), 0x5bd1e995);
    b ^= b >>> 13;
  }
  a = Math.imul(a ^ choices.length, 0x01000193);
  return (a >>> 0) * 0x100000 + ((b >>> 12) & 0xfffff);
}

function makeSearch(opts: ResolvedOptions, shard: { index: number; count: number }, k: number): Search {
  switch (opts.strategy) {
    case "random":
      return new RandomSearch(opts.seed, shard.count, shard.index);
    case "pct":
      return new PctSearch(opts.seed, opts.pctDepth, k, shard.count, shard.index);
    case "dfs":
      return new DfsSearch({
        ...(opts.preemptionBound === undefined ? {} : { preemptionBound: opts.preemptionBound }),
        shard,
      });
  }
}

/** Runs one shard of a search (the whole search when the shard is 0/1). */
export async function exploreShard(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  shard: { index: number; count: number },
  hooks: { onProgress?: (p: ExploreProgress) => void; createKernel?: ExecutionOptions["createKernel"] } = {},
): Promise<ShardOutcome> {
  const lockdep = opts.lockdep ? new Lockdep() : null;
  const exec: ExecutionOptions = { maxSteps: opts.maxSteps, lockdep, trace: false };
  if (hooks.createKernel !== undefined) exec.createKernel = hooks.createKernel;
  let k = opts.pctSteps ?? 1;
  if (opts.strategy === "pct" && opts.pctSteps === undefined) {
    // Calibrate k with one non-preemptive run (not counted, its own lockdep graph).
    // Decisions never outnumber scheduling points, so the points of one run bound k.
    const probe = await runExecution(scenario, new ReplayChooser([]), { ...exec, lockdep: null });
    k = Math.max(1, probe.points);
  }
  const search = makeSearch(opts, shard, k);
  const out: ShardOutcome = {
    keys: [],
    hashes: [],
    points: [],
    failures: [],
    exhausted: false,
    decisions: 0,
    bounded: 0,
  };
  const edgeRuns = new Map<number, number[]>();
  const seen = new Set<string>();
  const sequential = opts.strategy !== "dfs";
  while (out.keys.length < opts.executions) {
    const strategy = search.next();
    if (strategy === null) break;
    if (sequential && search.orderKey >= opts.executions) break;
    const before = lockdep === null ? 0 : lockdep.dependencyCount;
    const r = await runExecution(scenario, strategy, exec);
    search.finished({ choices: r.choices, points: r.points, pruned: r.pruned || search.pruned });
    if (lockdep !== null && lockdep.dependencyCount > before) edgeRuns.set(lockdep.run, r.choices);
    // Pruned executions belong to another shard (the strategy may decide that only at the end).
    if (r.pruned || search.pruned) continue;
    out.keys.push(search.orderKey);
    out.hashes.push(scheduleHash(r.choices));
    out.points.push(r.points);
    out.decisions += r.choices.length;
    if (r.failure !== undefined) {
      if (r.failure.message.includes("exceeded the bound of")) out.bounded++;
      const f = shardFailure(r, search.orderKey, lockdep, edgeRuns);
      const signature = `${f.kind}\u0000${normalize(f.message)}`;
      if (!seen.has(signature)) {
        seen.add(signature);
        out.failures.push(f);
      }
      if (opts.failures === "first") break;
    }
    if (hooks.onProgress !== undefined && out.keys.length % 256 === 0) {
      hooks.onProgress({
        executions: out.keys.length,
        failures: out.failures.length,
        points: sum(out.points),
      });
    }
  }
  out.exhausted = search.exhausted;
  return out;
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** Failures that differ only in step numbers are the same failure. */
function normalize(message: string): string {
  return message.replace(/\bstep \d+/g, "step N").replace(/execution #\d+/g, "execution #N");
}

function shardFailure(
  r: RawExecution,
  key: number,
  lockdep: Lockdep | null,
  edgeRuns: Map<number, number[]>,
): ShardFailure {
  const rep = r.failure as Report;
  const segments: number[][] = [];
  if (rep.kind === "lock-order" && lockdep !== null) {
    for (const run of lockdep.lastCycleRuns) {
      if (run === lockdep.run) continue;
      const choices = edgeRuns.get(run);
      if (choices !== undefined) segments.push(choices);
    }
  }
  segments.push(r.choices);
  return { key, kind: rep.kind, message: rep.message, task: rep.task, step: rep.step, segments };
}

/**
 * Merges shard outcomes into the result of the whole search (the same as one sequential search) and
 * hands its totals to `onProgress`, as the last progress report.
 */
export async function finalize(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  outcomes: readonly ShardOutcome[],
  label: string | undefined,
  createKernel?: ExecutionOptions["createKernel"],
  onProgress?: (p: ExploreProgress) => void,
): Promise<ExploreResult> {
  const result = await merge(scenario, opts, outcomes, label, createKernel);
  // The last progress report is the result's totals.
  if (onProgress !== undefined) {
    onProgress({
      executions: result.executions,
      failures: result.failures.length,
      points: result.stats.points,
    });
  }
  return result;
}

async function merge(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  outcomes: readonly ShardOutcome[],
  label: string | undefined,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<ExploreResult> {
  const rows: { key: number; hash: number; points: number }[] = [];
  for (const o of outcomes) {
    for (let i = 0; i < o.keys.length; i++) {
      rows.push({ key: o.keys[i] as number, hash: o.hashes[i] as number, points: o.points[i] as number });
    }
  }
  // One shard is already in order; several interleave by key.
  if (outcomes.length > 1) rows.sort((a, b) => a.key - b.key);
  let failures = outcomes.flatMap((o) => o.failures).sort((a, b) => a.key - b.key);
  let cut = Math.min(rows.length, opts.executions);
  if (opts.failures === "first" && failures.length > 0) {
    const first = failures[0] as ShardFailure;
    failures = [first];
    const at = rows.findIndex((r) => r.key === first.key);
    cut = Math.min(cut, at + 1);
  } else {
    const seen = new Set<string>();
    failures = failures.filter((f) => {
      const s = `${f.kind}\u0000${normalize(f.message)}`;
      if (seen.has(s)) return false;
      seen.add(s);
      return true;
    });
  }
  const kept = rows.slice(0, cut);
  const keepKey =
    kept.length === 0 ? Number.NEGATIVE_INFINITY : (kept[kept.length - 1] as { key: number }).key;
  failures = failures.filter((f) => f.key <= keepKey);
  const hashes = new Set(kept.map((r) => r.hash));
  const built: Failure[] = [];
  for (const f of failures) {
    const index = kept.findIndex((r) => r.key === f.key);
    built.push(await buildFailure(scenario, opts, f, index, createKernel));
  }
  let maxPoints = 0;
  let points = 0;
  for (const r of kept) {
    points += r.points;
    if (r.points > maxPoints) maxPoints = r.points;
  }
  const stats: ExploreStats = {
    strategy: opts.strategy,
    seed: opts.seed,
    exhausted:
      opts.strategy === "dfs" &&
      outcomes.every((o) => o.exhausted) &&
      cut === rows.length &&
      built.length === 0,
    points,
    maxPoints,
    decisions: outcomes.reduce((s, o) => s + o.decisions, 0),
    bounded: outcomes.reduce((s, o) => s + o.bounded, 0),
    workers: opts.workers,
    shard: label,
  };
  return {
    scenario: scenario.name,
    executions: kept.length,
    distinctSchedules: hashes.size,
    failures: built,
    stats,
  };
}

async function buildFailure(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  f: ShardFailure,
  execution: number,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<Failure> {
  const token = encodeToken(
    f.kind,
    f.step,
    f.segments,
    opts.maxSteps === DEFAULT_MAX_STEPS ? undefined : opts.maxSteps,
  );
  const again = await replayDecoded(scenario, decodeToken(token), true, createKernel);
  return {
    kind: f.kind,
    message: f.message,
    token,
    trace: again.trace ?? emptyTrace(),
    task: f.task,
    step: f.step,
    execution,
    replay: replayCommands(opts.scenarioRef, token),
  };
}

function emptyTrace(): Failure["trace"] {
  return { version: 1, tasks: [], objects: [], events: [], meta: {} };
}

/** The CLI command and API call that replay `token`. */
export function replayCommands(scenarioRef: string, token: string): { cli: string; api: string } {
  const quoted = /^[A-Za-z0-9_./:-]+$/.test(scenarioRef) ? scenarioRef : JSON.stringify(scenarioRef);
  return {
    cli: `npx mmun replay ${quoted} ${token}`,
    api: `await replay(scenario, ${JSON.stringify(token)})`,
  };
}

/**
 * Explores the interleavings of `scenario` and returns what went wrong, each failure with a
 * token that replays it. Deterministic: the same options give the same result on any machine.
 */
export async function explore(
  scenario: Scenario<unknown, Kernel>,
  options: ExploreOptions = {},
): Promise<ExploreResult> {
  const sc = scenario;
  const opts = resolveOptions(sc, options);
  const shard = parseShard(options.shard);
  if (opts.workers > 1) {
    const { exploreParallel } = await import("./parallel.js");
    return exploreParallel(sc, opts, shard, options.onProgress, options.createKernel);
  }
  const hooks: Parameters<typeof exploreShard>[3] = {};
  if (options.onProgress !== undefined) hooks.onProgress = options.onProgress;
  if (options.createKernel !== undefined) hooks.createKernel = options.createKernel;
  const outcome = await exploreShard(sc, opts, shard, hooks);
  return finalize(sc, opts, [outcome], options.shard, options.createKernel, options.onProgress);
}

/** What `replay` returns: the execution, and whether it reproduced the token's failure. */
export interface ReplayResult extends ExecutionResult {
  /** True when the failure has the token's kind and step. */
  reproduced: boolean;
  expected: { kind: FailureKind; step: number };
}

/** Replays `token` on `scenario`: the same schedule, hence the same failure at the same step. */
export async function replay(
  scenario: Scenario<unknown, Kernel>,
  token: string,
  options: { trace?: boolean; scenarioRef?: string; createKernel?: ExecutionOptions["createKernel"] } = {},
): Promise<ReplayResult> {
  const sc = scenario;
  const decoded = decodeToken(token);
  const r = await replayDecoded(sc, decoded, options.trace ?? true, options.createKernel);
  const rep = r.failure;
  const failure: Failure | undefined =
    rep === undefined
      ? undefined
      : {
          kind: rep.kind,
          message: rep.message,
          token,
          trace: r.trace ?? emptyTrace(),
          task: rep.task,
          step: rep.step,
          execution: 0,
          replay: replayCommands(options.scenarioRef ?? sc.name, token),
        };
  return {
    failure,
    reports: r.reports,
    choices: r.choices,
    points: r.points,
    steps: r.steps,
    trace: r.trace,
    reproduced: rep !== undefined && rep.kind === decoded.kind && rep.step === decoded.step,
    expected: { kind: decoded.kind, step: decoded.step },
  };
}

async function replayDecoded(
  scenario: Scenario<unknown, Kernel>,
  decoded: ReturnType<typeof decodeToken>,
  trace: boolean,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<RawExecution> {
  const lockdep = new Lockdep();
  const maxSteps = decoded.maxSteps ?? DEFAULT_MAX_STEPS;
  let last: RawExecution | undefined;
  for (let i = 0; i < decoded.segments.length; i++) {
    const isLast = i === decoded.segments.length - 1;
    const exec: ExecutionOptions = { maxSteps, lockdep, trace: trace && isLast };
    if (createKernel !== undefined) exec.createKernel = createKernel;
    last = await runExecution(scenario, new ReplayChooser(decoded.segments[i] as number[]), exec);
  }
  return last as RawExecution;
}
