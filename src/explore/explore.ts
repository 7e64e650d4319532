// explore(): the façade of the explorer. It validates the options, then runs the search on this
// thread (shardRunner.ts) or on worker threads (parallel.ts), and merges the outcome (merge.ts).

import type { Kernel } from "../mm/kernel.js";
import { finalize } from "./merge.js";
import { type ExploreOptions, resolveOptions } from "./options.js";
import type { ExploreResult } from "./result.js";
import type { Scenario } from "./scenario.js";
import { parseShard } from "./shard.js";
import { exploreShard } from "./shardRunner.js";

export {
  DEFAULT_MAX_STEPS,
  type ExploreOptions,
  type ExploreProgress,
  type StrategyName,
} from "./options.js";
export { type ReplayResult, replay } from "./replay.js";

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
