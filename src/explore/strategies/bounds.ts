// Schedule bounding for DFS: what a deviation from the default schedule costs, and which task is
// the default at each decision. Two measures, one object each; `DfsSearch` walks the tree of
// schedules and keeps those within a bound on the sum of the costs.
//
// Preemption bounding (iterative context bounding, Musuvathi and Qadeer, PLDI 2007, as in CHESS):
// the default keeps the running task running; switching away from it while it can still run costs
// 1, and any switch when it blocks, spins or ends is free. Bound 0 still has every order in which
// whole tasks can run (n! for n tasks).
//
// Delay bounding (Emmi, Qadeer and Rakamarić, POPL 2011): the default is a round robin over the
// tasks in spawn order. The running task keeps running while it can; when it blocks, spins or ends,
// the next runnable task after it (by id, wrapping around) runs. A delay skips the task the round
// robin would run, so taking the i-th runnable task in round-robin order costs i delays. Bound 0 is
// one schedule; for a fixed bound the number of schedules grows polynomially with the number of
// steps, whatever the number of tasks.

import type { Task } from "../../sync/task.js";

/** A way of bounding schedules: the default order of the runnable tasks and the cost of each. */
export interface ScheduleBound {
  readonly name: "preemption" | "delay";
  /**
   * The runnable tasks' ids in preference order: index 0 is the default schedule's choice.
   * `current` is the task that reached the point (null when it blocked, spun or ended), `last` the
   * task that ran the previous step.
   */
  order(enabled: readonly Task[], current: Task | null, last: Task | null): number[];
  /** What taking alternative `index` costs; `curRunnable` says the running task could go on. */
  cost(index: number, curRunnable: boolean): number;
}

/** Preemptions: switching away from a running task that could go on costs 1. */
export const preemptionBound: ScheduleBound = {
  name: "preemption",
  order(enabled, current) {
    const curRunnable = current !== null && enabled.includes(current);
    const ids: number[] = curRunnable ? [(current as Task).id] : [];
    for (const t of enabled) if (t !== current || !curRunnable) ids.push(t.id);
    return ids;
  },
  cost(index, curRunnable) {
    return curRunnable && index > 0 ? 1 : 0;
  },
};

/** Delays: the i-th runnable task in round-robin order costs i. */
export const delayBound: ScheduleBound = {
  name: "delay",
  order(enabled, current, last) {
    const curRunnable = current !== null && enabled.includes(current);
    // The round robin goes on from the running task, or from the one after the task that ran last.
    const start = curRunnable ? (current as Task).id : last === null ? 0 : last.id + 1;
    const ids: number[] = [];
    for (const t of enabled) if (t.id >= start) ids.push(t.id);
    for (const t of enabled) if (t.id < start) ids.push(t.id);
    return ids;
  },
  cost(index) {
    return index;
  },
};
