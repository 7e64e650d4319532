// The controlled scheduler: at every scheduling point a chooser picks which runnable task goes next.

import { MmunError } from "../lib/errno.js";
import { never, Scheduler } from "./scheduler.js";
import type { Task } from "./task.js";

/**
 * Chooses the next task at a scheduling point (what a search hands each execution). The explorer's
 * choosers (random, PCT, DFS, replay)
 * implement it; the runtime never knows which one runs.
 */
export interface Chooser {
  /**
   * Picks one of `enabled` (runnable tasks in ascending id order, at least two) and returns its
   * index, or -1 to stop the execution here (it is aborted: no task runs again). `current` is the
   * task that reached the point, or null when the previous task blocked or ended. Each enabled
   * task's next operation is in `pendingObj` / `pendingOp`.
   */
  choose(enabled: readonly Task[], current: Task | null, step: number): number;
}

export interface ControlledOptions {
  /** Stop the execution when more than this many scheduling points were passed (default: no bound). */
  maxSteps?: number;
}

/**
 * The explorer's scheduler. Every operation that may wait is a scheduling point; with a fixed
 * chooser (and its seed) a run is bit-for-bit repeatable. The list of choices made at points with
 * more than one runnable task (as task ids) is kept in {@link ControlledScheduler.choices}: replaying
 * that list reproduces the run.
 */
export class ControlledScheduler extends Scheduler {
  readonly controlled = true;
  /** The task id chosen at each point where more than one task was runnable. */
  readonly choices: number[] = [];
  /** Scheduling points passed (including those with a single runnable task). */
  points = 0;
  readonly maxSteps: number;
  private readonly enabled: Task[] = [];

  constructor(
    readonly chooser: Chooser,
    options: ControlledOptions = {},
  ) {
    super();
    this.maxSteps = options.maxSteps ?? Number.POSITIVE_INFINITY;
  }

  point(task: Task, objId: number, op: string): Promise<void> | undefined {
    if (this.aborted) return never();
    if (++this.points > this.maxSteps) {
      this.host.onStepBound(task, this.maxSteps);
      // Stop the execution, so that run() settles instead of waiting on a task parked forever.
      this.abort();
      return never();
    }
    task.steps++;
    task.pendingObj = objId;
    task.pendingOp = op;
    // kernel.point() records its own event; an operation that may wait is recorded here.
    if (objId >= 0) {
      const tr = this.host.trace;
      if (tr !== null) tr.event(this.step, this.clock, task.id, "point", objId, undefined, op);
    }
    task.state = "runnable";
    const next = this.choose(task);
    if (next === null) return never();
    if (next === task) {
      task.state = "running";
      return undefined;
    }
    const p = task.park();
    this.switchTo(next as Task);
    return p;
  }

  yield(task: Task, label: string): Promise<void> | undefined {
    return this.point(task, -1, label);
  }

  protected enqueue(_task: Task): void {
    // The runnable set is the tasks in state "runnable"; nothing to queue.
  }

  protected pickNext(): Task | null {
    return this.choose(null);
  }

  private choose(current: Task | null): Task | null {
    const tasks = this.tasks;
    const enabled = this.enabled;
    let n = 0;
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i] as Task;
      if (t.state === "runnable") enabled[n++] = t;
    }
    if (n === 0) return null;
    if (n === 1) return enabled[0] as Task;
    if (enabled.length !== n) enabled.length = n;
    const i = this.chooser.choose(enabled, current, this.step);
    if (i === -1) {
      this.abort();
      return null;
    }
    const next = enabled[i];
    if (next === undefined) {
      throw new MmunError("EINVAL", `the chooser picked index ${i} of ${enabled.length} runnable tasks`);
    }
    this.choices.push(next.id);
    return next;
  }
}
