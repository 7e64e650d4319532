// Runs one shard of a search (the whole search when the shard is 0/1): the loop of executions that
// explore() runs on the calling thread and each worker runs on its own. Returns plain data.

import type { Kernel } from "../mm/kernel.js";
import { Lockdep } from "../sync/lockdep.js";
import type { Report } from "../sync/report.js";
import { type ExecutionOptions, type RawExecution, runExecution } from "./execution.js";
import type { ExploreProgress, ResolvedOptions } from "./options.js";
import type { FailureKind } from "./result.js";
import type { Scenario } from "./scenario.js";
import type { Search } from "./search.js";
import { type DfsOptions, DfsSearch } from "./strategies/dfs.js";
import { PctSearch } from "./strategies/pct.js";
import { RandomSearch } from "./strategies/random.js";
import { ReplayChooser } from "./strategies/replay.js";

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
  /** Iterative bounding: the bound of the last iteration, and the order key where each began. */
  boundReached: number | undefined;
  boundStarts: number[];
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
    case "dfs": {
      const o: DfsOptions = { shard, iterative: opts.iterative };
      if (opts.preemptionBound !== undefined) o.preemptionBound = opts.preemptionBound;
      if (opts.delayBound !== undefined) o.delayBound = opts.delayBound;
      return new DfsSearch(o);
    }
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
  const exec: ExecutionOptions = { maxSteps: opts.maxSteps, fair: opts.fair, lockdep, trace: false };
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
    boundReached: undefined,
    boundStarts: [],
  };
  // The executions that changed the lockdep graph, by run number and in order (their choices).
  const edgeRuns = new Map<number, number[]>();
  const seen = new Set<string>();
  const sequential = opts.strategy !== "dfs";
  while (out.keys.length < opts.executions) {
    const strategy = search.next();
    if (strategy === null) break;
    if (sequential && search.orderKey >= opts.executions) break;
    const before = lockdep === null ? 0 : lockdep.changes;
    const reportedBefore = lockdep === null ? 0 : lockdep.reportCount;
    const r = await runExecution(scenario, strategy, exec);
    search.finished({ choices: r.choices, points: r.points, pruned: r.pruned || search.pruned });
    if (lockdep !== null && lockdep.changes > before) edgeRuns.set(lockdep.run, r.choices);
    // Pruned executions belong to another shard, or an earlier iteration of iterative bounding
    // counted them (the strategy may decide that only at the end).
    if (r.pruned || search.pruned) continue;
    out.keys.push(search.orderKey);
    out.hashes.push(scheduleHash(r.choices));
    out.points.push(r.points);
    out.decisions += r.choices.length;
    if (r.failure !== undefined) {
      if (r.failure.stepBound === true) out.bounded++;
      // After a lockdep report the graph stays silent about that problem: a later failure replays
      // only after every execution that shaped the graph (those changes are few).
      const f =
        lockdep !== null && reportedBefore > 0
          ? shardFailure(r, search.orderKey, null, edgeRuns, runsBefore(edgeRuns, lockdep.run))
          : shardFailure(r, search.orderKey, lockdep, edgeRuns);
      const signature = failureSignature(f.kind, f.message);
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
  out.boundReached = search.boundReached;
  out.boundStarts = search.boundStarts === undefined ? [] : [...search.boundStarts];
  return out;
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** What makes two failures the same: their kind and their message but for step numbers. */
export function failureSignature(kind: FailureKind, message: string): string {
  const normalized = message.replace(/\bstep \d+/g, "step N").replace(/execution #\d+/g, "execution #N");
  return `${kind}\u0000${normalized}`;
}

/** The choices of the executions in `edgeRuns` before run `run`, in order. */
function runsBefore(edgeRuns: Map<number, number[]>, run: number): number[][] {
  const out: number[][] = [];
  for (const [r, choices] of edgeRuns) if (r < run) out.push(choices);
  return out;
}

function shardFailure(
  r: RawExecution,
  key: number,
  lockdep: Lockdep | null,
  edgeRuns: Map<number, number[]>,
  earlier: number[][] = [],
): ShardFailure {
  const rep = r.failure as Report;
  const segments: number[][] = [...earlier];
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
