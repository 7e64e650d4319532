// Exhaustive depth-first enumeration of schedules (stateless model checking by re-execution).
//
// Every execution records, at each decision (a point with two or more runnable tasks), the
// runnable tasks in preference order (index 0 is the default schedule's choice) and the index
// taken. The next execution replays the longest prefix that still has an untried alternative,
// takes that alternative, and continues with index 0 at every new decision. When no decision has
// an alternative left the space is exhausted.
//
// Bounds (bounds.ts): each alternative has a cost, preemptions or delays, and with a bound the
// alternatives that would take an execution's total cost past it are skipped. Most concurrency bugs
// need very few preemptions or delays, and the bounded space is polynomial instead of
// exponential. Iterative bounding runs bound 0, then 1, 2, … until the budget or the whole space
// is used up; the walk of bound b re-executes the schedules of fewer delays on its way (their
// subtrees hold the new ones) without counting them, so each schedule counts once, in the
// iteration of its own cost, and the search stops when an iteration skipped no alternative.
//
// Without a bound this enumerates every interleaving of the tasks' steps: two tasks of n and m
// steps (a step runs from one scheduling point to the next, the first from the task's start) give
// C(n+m, n) schedules.
//
// Sharding: the tree is cut at a fixed decision depth; the prefixes (subtrees) are numbered in
// DFS order and shard i of n explores the prefixes whose number is i modulo n (under iterative
// bounding, whose iterations walk a prefix more than once: the prefixes whose choices hash to i
// modulo n), pruning the others as soon as it reaches them. Every shard walks the same tree, so
// the union of the shards is exactly the sequential search, in the same order (see `orderKey`).

import { MmunError } from "../../lib/errno.js";
import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";
import type { ExecutionSummary, Search } from "../search.js";
import { delayBound, preemptionBound, type ScheduleBound } from "./bounds.js";

interface Decision {
  /** Runnable task ids in preference order: index 0 is the default schedule's choice. */
  ids: number[];
  /** The alternative taken in the current execution. */
  index: number;
  /** True when the running task was runnable here (for the preemption cost). */
  curRunnable: boolean;
  /** Cost (preemptions or delays) of the choices before this decision in the current execution. */
  preBefore: number;
}

export interface DfsOptions {
  /** At most this many preemptions per execution (default: unbounded). */
  preemptionBound?: number;
  /** At most this many delays from a round robin per execution (default: unbounded). */
  delayBound?: number;
  /** Iterative delay bounding: bounds 0, 1, 2, … in turn, each schedule once (no other bound). */
  iterative?: boolean;
  /** This search explores shard `index` of `count` (default 0 of 1). */
  shard?: { index: number; count: number };
}

/** The sharding cut: deep enough that there are several prefixes per shard. */
function splitDepth(count: number): number {
  return count <= 1 ? Number.POSITIVE_INFINITY : Math.ceil(Math.log2(count)) + 3;
}

const LOCAL_BITS = 2 ** 26;

function nonNegative(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(v >= 0)) throw new MmunError("EINVAL", `${name} must be >= 0, got ${v}`);
  return v;
}

/** Depth-first search over schedules; also the chooser of each of its executions. */
export class DfsSearch implements Search, Chooser {
  readonly name = "dfs";
  exhausted = false;
  pruned = false;
  /** Iterative bounding: the order key at which the walk of each bound (0, 1, …) starts. */
  readonly boundStarts: number[] = [];
  private readonly stack: Decision[] = [];
  private depth = 0;
  private pre = 0;
  private started = false;
  private readonly measure: ScheduleBound;
  private bound: number;
  private readonly iterative: boolean;
  /** True when the walk skipped an alternative for the bound (under iterative bounding: in this iteration). */
  private cut = false;
  private readonly shardIndex: number;
  private readonly shardCount: number;
  private readonly split: number;
  /** Depth of the decision changed by the last backtrack (0 before the first execution). */
  private changedDepth = 0;
  private prefixPending = true;
  private ordinal = -1;
  private local = 0;

  constructor(options: DfsOptions = {}) {
    const pb = nonNegative("preemptionBound", options.preemptionBound);
    const db = nonNegative("delayBound", options.delayBound);
    this.iterative = options.iterative === true;
    if ((pb !== undefined ? 1 : 0) + (db !== undefined ? 1 : 0) + (this.iterative ? 1 : 0) > 1) {
      throw new MmunError(
        "EINVAL",
        "give DFS one bound: preemptionBound, delayBound or iterative (iterative delay bounding)",
      );
    }
    this.measure = db !== undefined || this.iterative ? delayBound : preemptionBound;
    this.bound = this.iterative ? 0 : (pb ?? db ?? Number.POSITIVE_INFINITY);
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

  /** Iterative bounding: the bound of the iteration under way (or last run); undefined otherwise. */
  get boundReached(): number | undefined {
    return this.iterative ? this.bound : undefined;
  }

  next(): Chooser | null {
    if (this.exhausted) return null;
    if (!this.started) this.boundStarts.push(0);
    else if (!this.backtrack()) {
      if (!(this.iterative && this.cut)) {
        this.exhausted = true;
        return null;
      }
      // The next iteration: one more delay, from the root again.
      this.bound++;
      this.cut = false;
      this.changedDepth = 0;
      this.boundStarts.push((this.ordinal + 1) * LOCAL_BITS);
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
      if (!this.owns(this.stack.length)) this.pruned = true;
    }
    if (this.depth < this.stack.length && !this.pruned) {
      throw new MmunError(
        "EINVAL",
        `DFS replay ended after ${this.depth} of ${this.stack.length} recorded decisions: the scenario is not deterministic`,
      );
    }
    // An iteration re-walks the schedules of earlier ones: they counted there.
    if (this.iterative && this.pre < this.bound) this.pruned = true;
  }

  private enterPrefix(): void {
    this.prefixPending = false;
    this.ordinal++;
    this.local = 0;
  }

  /** True when the prefix of the first `depth` decisions belongs to this shard. */
  private owns(depth: number): boolean {
    if (this.shardCount === 1) return true;
    if (!this.iterative) return this.ordinal % this.shardCount === this.shardIndex;
    // Iterations walk a prefix again with other numbers: own it by its choices, the same each time.
    let h = 0x811c9dc5;
    for (let i = 0; i < depth; i++) {
      const d = this.stack[i] as Decision;
      h = Math.imul(h ^ (d.ids[d.index] as number), 0x01000193);
    }
    return (h >>> 0) % this.shardCount === this.shardIndex;
  }

  private backtrack(): boolean {
    const stack = this.stack;
    while (stack.length > 0) {
      const d = stack[stack.length - 1] as Decision;
      const next = d.index + 1;
      if (next < d.ids.length) {
        // Costs grow with the index: when this alternative is over the bound, so are the later ones.
        if (d.preBefore + this.measure.cost(next, d.curRunnable) <= this.bound) {
          d.index = next;
          this.changedDepth = stack.length - 1;
          if (this.changedDepth >= this.split) this.local++;
          return true;
        }
        this.cut = true;
      }
      stack.pop();
    }
    return false;
  }

  choose(enabled: readonly Task[], current: Task | null, _step: number, last: Task | null): number {
    const depth = this.depth;
    if (depth === this.split && this.prefixPending) {
      this.enterPrefix();
      if (!this.owns(depth)) {
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
      d = { ids: this.measure.order(enabled, current, last), index: 0, curRunnable, preBefore: this.pre };
      this.stack.push(d);
    } else if (d.ids.length !== enabled.length || !enabled.every((t) => d?.ids.includes(t.id))) {
      throw new MmunError(
        "EINVAL",
        `DFS replay diverged at decision ${depth}: runnable tasks ${enabled.map((t) => t.id).join(",")} ` +
          `instead of ${d.ids.join(",")}; the scenario is not deterministic`,
      );
    }
    this.pre += this.measure.cost(d.index, d.curRunnable);
    const id = d.ids[d.index];
    return enabled.findIndex((t) => t.id === id);
  }
}
