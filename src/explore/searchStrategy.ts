// The interface every search strategy implements (random, PCT, DFS, replay: one file each).

import type { Strategy } from "../sync/controlledScheduler.js";

/** How one execution went, as a search strategy needs to know it. */
export interface ExecutionSummary {
  /** Task ids chosen at each decision (a point with two or more runnable tasks). */
  choices: readonly number[];
  /** Scheduling points passed. */
  points: number;
  /** True when the execution was cut short on purpose (see {@link SearchStrategy.next}). */
  pruned: boolean;
}

/**
 * Drives a search: hands out one scheduler strategy per execution and learns from how it went.
 * The runtime never knows which search runs.
 */
export interface SearchStrategy {
  readonly name: string;
  /**
   * The strategy for the next execution, or null when the search space is exhausted. `prune` may
   * be called by the returned strategy to cut the execution short (DFS sharding).
   */
  next(): Strategy | null;
  /** Called after every execution. */
  finished(summary: ExecutionSummary): void;
  /** True once every schedule was enumerated (DFS only). */
  readonly exhausted: boolean;
  /** A number that orders this execution in the search's own (sequential) order. */
  readonly orderKey: number;
  /** True when the last execution was pruned by the strategy (it does not count). */
  readonly pruned: boolean;
}

/** Mixes a seed and an execution index into an independent 31-bit seed. */
export function deriveSeed(seed: number, index: number): number {
  let h = Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.floor(seed / 0x100000000);
  h = Math.imul(h ^ (index | 0), 0xc2b2ae35) ^ Math.floor(index / 0x100000000);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 1;
}
