// Exhaustive depth-first enumeration of schedules (stateless model checking by re-execution).
//
// Every execution records, at each decision (a point with two or more runnable tasks), the
// runnable tasks in preference order (the running task first, so index 0 never preempts) and the
// index taken. The next execution replays the longest prefix that still has an untried
// alternative, takes that alternative, and continues with index 0 at every new decision. When no
// decision has an alternative left the space is exhausted. With a preemption bound, alternatives
// that would switch away from a still-runnable running task more than `bound` times in one
// execution are skipped (iterative context bounding, as in CHESS): most concurrency bugs need
// very few preemptions, and the bounded space is polynomial instead of exponential.
//
// Without a bound this enumerates every interleaving of the tasks' steps: two tasks of n and m
// steps (a step runs from one scheduling point to the next, the first from the task's start) give
// C(n+m, n) schedules.
//
// Sharding: the tree is cut at a fixed decision depth; the prefixes (subtrees) are numbered in
// DFS order and shard i of n explores the prefixes whose number is i modulo n, pruning the others
// as soon as it reaches them. Every shard walks the same tree, so the union of the shards is
// exactly the sequential search, in the same order (see `orderKey`).

import { MmunError } from "../../lib/errno.js";
import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";
import type { ExecutionSummary, Search } from "../search.js";

interface Decision {
  /** Runnable task ids in preference order: the running task first (if runnable), then by id. */
  ids: number[];
  /** The alternative taken in the current execution. */
  index: number;
  /** True when the running task was runnable here (choosing index > 0 is a preemption). */
  curRunnable: boolean;
  /** Preemptions taken before this decision in the current execution. */
  preBefore: number;
}

export interface DfsOptions {
  /** At most this many preemptions per execution (default: unbounded). */
  preemptionBound?: number;
  /** This search explores shard `index` of `count` (default 0 of 1). */
  shard?: { index: number; count: number };
}

/** The sharding cut: deep enough that there are several prefixes per shard. */
function splitDepth(count: number): number {
  return count <= 1 ? Number.POSITIVE_INFINITY : Math.ceil(Math.log2(count)) + 3;
}

const LOCAL_BITS = 2 ** 26;

/** Depth-first search over schedules; also the chooser of each of its executions. */
export class DfsSearch implements Search, Chooser {
  readonly name = "dfs";
  exhausted = false;
  pruned = false;
  private readonly stack: Decision[] = [];
  private depth = 0;
  private pre = 0;
  private started = false;
  private readonly bound: number;
  private readonly shardIndex: number;
  private readonly shardCount: number;
  private readonly split: number;
  /** Depth of the decision changed by the last backtrack (0 before the first execution). */
  private changedDepth = 0;
  private prefixPending = true;
  private ordinal = -1;
  private local = 0;

  constructor(options: DfsOptions = {}) {
    const bound = options.preemptionBound ?? Number.POSITIVE_INFINITY;
    if (!(bound >= 0)) throw new MmunError("EINVAL", `preemptionBound must be >= 0, got ${bound}`);
    this.bound = bound;
    const shard = options.shard ?? { index: 0, count: 1 };
    if (
      !(Number.isInteger(shard.count) && shard.count >= 1 && shard.index >= 0 && shard.index < shard.count)
    ) {
      throw new MmunError("EINVAL", `bad shard ${shard.index}/${shard.count}`);
    }
    this.shardIndex = shard.index;
    this.shardCount = shard.count;
    this.split = splitDepth(shard.count);
  }

  get orderKey(): number {
    return this.ordinal * LOCAL_BITS + this.local;
  }

  next(): Chooser | null {
    if (this.exhausted) return null;
    if (this.started && !this.backtrack()) {
      this.exhausted = true;
      return null;
    }
    this.started = true;
    this.depth = 0;
    this.pre = 0;
    this.pruned = false;
    if (this.changedDepth < this.split) this.prefixPending = true;
    return this;
  }

  finished(summary: ExecutionSummary): void {
    if (this.prefixPending && !summary.pruned) {
      // The execution ended above the cut: it is a prefix of its own.
      this.enterPrefix();
      if (!this.owns()) this.pruned = true;
    }
    if (this.depth < this.stack.length && !this.pruned) {
      throw new MmunError(
        "EINVAL",
        `DFS replay ended after ${this.depth} of ${this.stack.length} recorded decisions: the scenario is not deterministic`,
      );
    }
  }

  private enterPrefix(): void {
    this.prefixPending = false;
    this.ordinal++;
    this.local = 0;
  }

  private owns(): boolean {
    return this.ordinal % this.shardCount === this.shardIndex;
  }

  private backtrack(): boolean {
    const stack = this.stack;
    while (stack.length > 0) {
      const d = stack[stack.length - 1] as Decision;
      // Every alternative after index 0 preempts when the running task was runnable.
      const allowed = !(d.curRunnable && d.preBefore + 1 > this.bound);
      if (allowed && d.index + 1 < d.ids.length) {
        d.index++;
        this.changedDepth = stack.length - 1;
        if (this.changedDepth >= this.split) this.local++;
        return true;
      }
      stack.pop();
    }
    return false;
  }

  choose(enabled: readonly Task[], current: Task | null): number {
    const depth = this.depth;
    if (depth === this.split && this.prefixPending) {
      this.enterPrefix();
      if (!this.owns()) {
        // Not this shard's subtree: skip all of it.
        this.stack.length = depth;
        this.pruned = true;
        return -1;
      }
    }
    this.depth++;
    let d = this.stack[depth];
    if (d === undefined) {
      const curRunnable = current !== null && enabled.includes(current);
      const ids: number[] = curRunnable ? [(current as Task).id] : [];
      for (const t of enabled) if (t !== current || !curRunnable) ids.push(t.id);
      d = { ids, index: 0, curRunnable, preBefore: this.pre };
      this.stack.push(d);
    } else if (d.ids.length !== enabled.length || !enabled.every((t) => d?.ids.includes(t.id))) {
      throw new MmunError(
        "EINVAL",
        `DFS replay diverged at decision ${depth}: runnable tasks ${enabled.map((t) => t.id).join(",")} ` +
          `instead of ${d.ids.join(",")}; the scenario is not deterministic`,
      );
    }
    if (d.curRunnable && d.index !== 0) this.pre++;
    const id = d.ids[d.index];
    return enabled.findIndex((t) => t.id === id);
  }
}
