// Runs a search on worker threads: shard i of n on worker i, merged as one sequential search.
// Node only (worker_threads); loaded on demand by explore() when `workers > 1`.

import { Worker } from "node:worker_threads";
import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import type { ExecutionOptions } from "./execution.js";
import { finalize } from "./merge.js";
import type { ExploreProgress, ResolvedOptions } from "./options.js";
import type { ExploreResult } from "./result.js";
import type { Scenario } from "./scenario.js";
import { shardLabel, subShard } from "./shard.js";
import type { ShardOutcome } from "./shardRunner.js";

/** What the main thread sends a worker. */
export interface WorkerJob {
  module: string;
  scenario: string;
  opts: ResolvedOptions;
  shard: { index: number; count: number };
}

/** What a worker sends back. */
export type WorkerMessage =
  | { type: "progress"; progress: ExploreProgress }
  | { type: "done"; outcome: ShardOutcome }
  | { type: "error"; message: string };

/**
 * Splits the search into `opts.workers` shards (of the caller's shard, if any) and runs each on a
 * worker thread. The scenario must name its module (`defineScenario({ module: import.meta.url })`).
 */
export async function exploreParallel(
  scenario: Scenario<unknown, Kernel>,
  opts: ResolvedOptions,
  outer: { index: number; count: number },
  onProgress?: (p: ExploreProgress) => void,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<ExploreResult> {
  if (scenario.module === undefined) {
    throw new MmunError(
      "EINVAL",
      `scenario "${scenario.name}" cannot run on workers: give defineScenario a module (module: import.meta.url)`,
    );
  }
  if (createKernel !== undefined) {
    throw new MmunError("EINVAL", "createKernel cannot cross to worker threads; use workers: 1");
  }
  const n = opts.workers;
  const self = import.meta.url;
  const fromSource = self.endsWith(".ts");
  // From the TypeScript sources a small bootstrap registers the tsx loader first.
  const workerUrl = new URL(fromSource ? "./worker.ts" : "./worker.js", self);
  const entryUrl = fromSource ? new URL("./sourceWorker.mjs", self) : workerUrl;
  const progress: ExploreProgress[] = [];
  const runs: Promise<ShardOutcome>[] = [];
  for (let i = 0; i < n; i++) {
    const shard = subShard(outer, n, i);
    const job: WorkerJob = { module: scenario.module, scenario: scenario.name, opts, shard };
    runs.push(
      new Promise<ShardOutcome>((resolve, reject) => {
        const w = new Worker(entryUrl, { workerData: { ...job, workerUrl: workerUrl.href } });
        w.on("message", (m: WorkerMessage) => {
          if (m.type === "progress") {
            progress[i] = m.progress;
            if (onProgress !== undefined) {
              onProgress({
                executions: progress.reduce((s, p) => s + (p?.executions ?? 0), 0),
                failures: progress.reduce((s, p) => s + (p?.failures ?? 0), 0),
                points: progress.reduce((s, p) => s + (p?.points ?? 0), 0),
              });
            }
          } else if (m.type === "done") {
            resolve(m.outcome);
            void w.terminate();
          } else {
            reject(new MmunError("EINVAL", `worker ${i}: ${m.message}`));
            void w.terminate();
          }
        });
        w.on("error", (e) => reject(e));
        w.on("exit", (code) => {
          if (code !== 0) reject(new MmunError("EINVAL", `worker ${i} exited with code ${code}`));
        });
      }),
    );
  }
  const outcomes = await Promise.all(runs);
  return finalize(scenario, opts, outcomes, shardLabel(outer), undefined, onProgress);
}
