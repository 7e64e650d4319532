// What plans a search: hands out one Chooser per execution and learns from how it went. The search
// strategies (random, PCT, DFS) implement it, one file each under strategies/ (replay is a Chooser only).

import type { Chooser } from "../sync/controlledScheduler.js";

/** How one execution went, as a search needs to know it. */
export interface ExecutionSummary {
  /** Task ids chosen at each decision (a point with two or more runnable tasks). */
  choices: readonly number[];
  /** Scheduling points passed. */
  points: number;
  /** True when the execution was cut short on purpose (see {@link Search.next}). */
  pruned: boolean;
}

/**
 * Drives a search: hands out one chooser per execution and learns from how it went.
 * The runtime never knows which search runs.
 */
export interface Search {
  readonly name: string;
  /**
   * The chooser for the next execution, or null when the search space is exhausted. `prune` may
   * be called by the returned chooser to cut the execution short (DFS sharding).
   */
  next(): Chooser | null;
  /** Called after every execution. */
  finished(summary: ExecutionSummary): void;
  /** True once every schedule was enumerated (DFS only). */
  readonly exhausted: boolean;
  /** A number that orders this execution in the search's own (sequential) order. */
  readonly orderKey: number;
  /**
   * True when the last execution does not count: the chooser pruned it (DFS sharding), or it
   * repeats a schedule an earlier iteration counted (iterative bounding).
   */
  readonly pruned: boolean;
  /** Iterative bounding: the bound of the iteration under way. */
  readonly boundReached?: number | undefined;
  /** Iterative bounding: the order key at which each bound's iteration (0, 1, …) starts. */
  readonly boundStarts?: readonly number[];
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

/**
 * A search whose execution i depends only on (seed, i): random and PCT. Shard k of n takes the
 * indices k, k+n, k+2n…, so any split of the search is deterministic.
 */
export abstract class SeededSearch implements Search {
  abstract readonly name: string;
  readonly exhausted = false;
  readonly pruned = false;
  private index: number;

  constructor(
    private readonly seed: number,
    private readonly stride = 1,
    first = 0,
  ) {
    this.index = first - stride;
  }

  /** The chooser of one execution, from that execution's own seed. */
  protected abstract make(seed: number): Chooser;

  get orderKey(): number {
    return this.index;
  }

  next(): Chooser {
    this.index += this.stride;
    return this.make(deriveSeed(this.seed, this.index));
  }

  finished(): void {}
}
