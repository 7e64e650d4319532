// Merges the outcomes of a search's shards into one result, as one sequential search would give it,
// and builds each failure (its token, its trace by replay, its replay commands).

import type { Kernel } from "../mm/kernel.js";
import { scheduleOf } from "../trace/schedule.js";
import type { ExecutionOptions } from "./execution.js";
import { DEFAULT_MAX_STEPS, type ExploreProgress, type ResolvedOptions } from "./options.js";
import { emptyTrace, replayCommands, replayDecoded } from "./replay.js";
import type { ExploreResult, ExploreStats, Failure } from "./result.js";
import type { Scenario } from "./scenario.js";
import { failureSignature, type ShardFailure, type ShardOutcome } from "./shardRunner.js";
import { decodeToken, encodeToken } from "./token.js";

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
      const s = failureSignature(f.kind, f.message);
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
  const exhausted =
    opts.strategy === "dfs" &&
    outcomes.every((o) => o.exhausted) &&
    cut === rows.length &&
    built.length === 0;
  const stats: ExploreStats = {
    strategy: opts.strategy,
    seed: opts.seed,
    exhausted,
    boundReached: boundReached(outcomes, exhausted, keepKey),
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

/**
 * Iterative bounding: the bound of the iteration that holds the last execution kept (every shard
 * numbers the iterations' starts alike), or the last bound walked when the search was exhausted.
 */
function boundReached(
  outcomes: readonly ShardOutcome[],
  exhausted: boolean,
  lastKey: number,
): number | undefined {
  let reached: number | undefined;
  let starts: readonly number[] = [];
  for (const o of outcomes) {
    if (o.boundReached === undefined) continue;
    if (reached === undefined || o.boundReached > reached) reached = o.boundReached;
    if (o.boundStarts.length > starts.length) starts = o.boundStarts;
  }
  if (reached === undefined || exhausted) return reached;
  let b = 0;
  while (b + 1 < starts.length && (starts[b + 1] as number) <= lastKey) b++;
  return b;
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
    { lockdep: opts.lockdep, fair: opts.fair },
  );
  const { raw: again } = await replayDecoded(scenario, decodeToken(token), true, createKernel);
  const trace = again.trace ?? emptyTrace();
  return {
    kind: f.kind,
    message: f.message,
    token,
    trace,
    schedule: scheduleOf(trace),
    task: f.task,
    step: f.step,
    execution,
    replay: replayCommands(opts.scenarioRef, token),
  };
}
