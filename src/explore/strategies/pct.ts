// PCT: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010).
//
// Each execution gives every task a random priority above d, picks d-1 change points uniformly
// among the first k decisions, and always runs the highest-priority runnable task; at the i-th
// change point the running task's priority drops to i (below every initial priority). For a
// program with n tasks and k decisions, a bug of depth d (one that needs d specific ordering
// constraints) is found by one execution with probability at least 1 / (n * k^(d-1)), so
// repeated executions find it with high probability where uniform random scheduling, whose
// chance shrinks exponentially with the number of preemptions the bug needs, rarely does.

import { Rng } from "../../lib/rng.js";
import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";
import { SeededSearch } from "../search.js";

/** One PCT execution. */
export class PctChooser implements Chooser {
  private readonly priority = new Map<number, number>();
  private readonly changeAt: number[];
  private decision = 0;
  private lastChosen: Task | null = null;

  constructor(
    private readonly rng: Rng,
    private readonly depth: number,
    k: number,
  ) {
    this.changeAt = [];
    for (let i = 1; i < depth; i++) this.changeAt.push(1 + rng.int(Math.max(1, k)));
  }

  private prio(t: Task): number {
    let p = this.priority.get(t.id);
    if (p === undefined) {
      // A fresh task gets a random priority above every change-point priority (which are < depth).
      p = this.depth + this.rng.next() * 1e6;
      this.priority.set(t.id, p);
    }
    return p;
  }

  choose(enabled: readonly Task[], current: Task | null): number {
    this.decision++;
    const running = current ?? this.lastChosen;
    for (let i = 0; i < this.changeAt.length; i++) {
      if (this.changeAt[i] === this.decision && running !== null) {
        this.prio(running);
        this.priority.set(running.id, this.depth - 1 - i);
      }
    }
    let best = 0;
    let bestP = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < enabled.length; i++) {
      const p = this.prio(enabled[i] as Task);
      if (p > bestP) {
        bestP = p;
        best = i;
      }
    }
    this.lastChosen = enabled[best] as Task;
    return best;
  }
}

/** PCT search: execution i uses a generator seeded from (seed, i). */
export class PctSearch extends SeededSearch {
  readonly name = "pct";

  /**
   * @param depth the bug depth d to target (d-1 priority change points per execution)
   * @param k the number of decisions of one execution (change points are drawn from 1..k)
   */
  constructor(
    seed: number,
    private readonly depth: number,
    private readonly k: number,
    stride = 1,
    first = 0,
  ) {
    super(seed, stride, first);
  }

  protected make(seed: number): Chooser {
    return new PctChooser(new Rng(seed), this.depth, this.k);
  }
}
