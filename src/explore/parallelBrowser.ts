// The browser's stand-in for parallel.ts. package.json's "browser" field maps one onto the other, so
// bundlers (esbuild, webpack, Vite) never see node:worker_threads. A browser has no worker threads
// that could load a scenario module and run it, so shard i of n runs here, on the calling thread,
// one shard after another. The merge is the same as with threads, so the result is the same too.

import type { Kernel } from "../mm/kernel.js";
import type { ExecutionOptions } from "./execution.js";
import { finalize } from "./merge.js";
import type { ExploreProgress, ResolvedOptions } from "./options.js";
import type { ExploreResult } from "./result.js";
import type { Scenario } from "./scenario.js";
import { shardLabel, subShard } from "./shard.js";
import { exploreShard, type ShardOutcome } from "./shardRunner.js";

/**
 * Splits the search into `opts.workers` shards (of the caller's shard, if any), as parallel.ts does,
 * and runs them in turn on this thread. It needs no scenario module and accepts `createKernel`:
 * nothing crosses a thread boundary.
 */
export async function exploreParallel(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  outer: { index: number; count: number },
  onProgress?: (p: ExploreProgress) => void,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<ExploreResult> {
  const n = opts.workers;
  const outcomes: ShardOutcome[] = [];
  // Progress adds the shards done so far to the running one's.
  const done: ExploreProgress = { executions: 0, failures: 0, points: 0 };
  for (let i = 0; i < n; i++) {
    const shard = subShard(outer, n, i);
    const hooks: Parameters<typeof exploreShard>[3] = {};
    if (createKernel !== undefined) hooks.createKernel = createKernel;
    if (onProgress !== undefined) {
      hooks.onProgress = (p) =>
        onProgress({
          executions: done.executions + p.executions,
          failures: done.failures + p.failures,
          points: done.points + p.points,
        });
    }
    const outcome = await exploreShard(scenario, opts, shard, hooks);
    outcomes.push(outcome);
    done.executions += outcome.keys.length;
    done.failures += outcome.failures.length;
    done.points += outcome.points.reduce((s, p) => s + p, 0);
  }
  return finalize(scenario, opts, outcomes, shardLabel(outer), createKernel, onProgress);
}
