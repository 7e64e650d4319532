// The controlled scheduler: at every scheduling point a chooser picks which runnable task goes next.
//
// Fair scheduling (Musuvathi and Qadeer, "Fair stateless model checking", PLDI 2008): a task that
// spins (`cpuRelax`, `condResched`) says it waits for another task to make progress. Until every
// task that was runnable at the spin has run a step (or stopped being runnable), the spinning task
// is not offered to the chooser, so a spin-wait ends under every strategy instead of spinning into
// the step bound, while the task still re-checks its condition between any two steps of the others.
// Tasks that only spin (a livelock) still run until the step bound, which reports them.

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
   * task that reached the point, or null when the previous task blocked or ended (or spun, under
   * fair scheduling, and is not offered). `last` is the task that ran the previous step (null
   * before the first). Each enabled task's next operation is in `pendingObj` / `pendingOp`.
   */
  choose(enabled: readonly Task[], current: Task | null, step: number, last: Task | null): number;
}

export interface ControlledOptions {
  /** Stop the execution when more than this many scheduling points were passed (default: no bound). */
  maxSteps?: number;
  /**
   * Fair scheduling of spinning tasks (default true): after `cpuRelax` or `condResched`, the task
   * is not offered to the chooser until each task runnable at that moment has run a step or stopped
   * being runnable. False makes a spin a plain scheduling point.
   */
  fair?: boolean;
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
  readonly fair: boolean;
  private readonly enabled: Task[] = [];
  /** The task that ran the last step. */
  private last: Task | null = null;
  /** Tasks whose `spinWait` is set (fair scheduling filters only while there are some). */
  private spinners = 0;

  constructor(
    readonly chooser: Chooser,
    options: ControlledOptions = {},
  ) {
    super();
    this.maxSteps = options.maxSteps ?? Number.POSITIVE_INFINITY;
    this.fair = options.fair ?? true;
  }

  point(task: Task, objId: number, op: string): Promise<void> | undefined {
    if (this.aborted) return never();
    if (++this.points > this.maxSteps) {
      this.host.onStepBound(task, this.maxSteps, this.spinningTasks());
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

  spin(task: Task, label: string): Promise<void> | undefined {
    if (this.aborted) return never();
    task.spins++;
    task.lastSpin = this.points;
    if (this.fair) {
      // Pairs with the filter in choose(): wait for every task runnable now to run a step.
      const wait: Task[] = [];
      const seen: number[] = [];
      for (const u of this.tasks) {
        if (u !== task && u.state === "runnable") {
          wait.push(u);
          seen.push(u.scheduled);
        }
      }
      if (wait.length > 0) {
        if (task.spinWait === null) this.spinners++;
        task.spinWait = wait;
        task.spinSeen = seen;
      }
    }
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
    if (n > 1 && this.spinners > 0) n = this.fairFilter(n);
    let next: Task;
    if (n === 1) next = enabled[0] as Task;
    else {
      if (enabled.length !== n) enabled.length = n;
      const offered = current !== null && current.spinWait !== null ? null : current;
      const i = this.chooser.choose(enabled, offered, this.step, this.last);
      if (i === -1) {
        this.abort();
        return null;
      }
      const picked = enabled[i];
      if (picked === undefined) {
        throw new MmunError("EINVAL", `the chooser picked index ${i} of ${enabled.length} runnable tasks`);
      }
      next = picked;
      this.choices.push(next.id);
    }
    next.scheduled++;
    if (next.spinWait !== null) {
      next.spinWait = null;
      this.spinners--;
    }
    this.last = next;
    return next;
  }

  /**
   * Fair scheduling: keeps in `enabled[0, n)` the tasks that do not wait for another after a spin,
   * and returns how many. (One of them always qualifies: the runnable task that ran least recently
   * waits for no one; should none, all n are kept.)
   */
  private fairFilter(n: number): number {
    const enabled = this.enabled;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const t = enabled[i] as Task;
      if (t.spinWait !== null && this.stillWaits(t)) continue;
      enabled[m++] = t;
    }
    return m === 0 ? n : m;
  }

  /** Drops the tasks `t` no longer waits for (they ran a step, or are blocked or done). */
  private stillWaits(t: Task): boolean {
    const wait = t.spinWait as Task[];
    const seen = t.spinSeen;
    let m = 0;
    for (let i = 0; i < wait.length; i++) {
      const u = wait[i] as Task;
      if (u.scheduled > (seen[i] as number) || u.state === "blocked" || u.state === "done") continue;
      wait[m] = u;
      seen[m] = seen[i] as number;
      m++;
    }
    if (m > 0) {
      wait.length = m;
      seen.length = m;
      return true;
    }
    t.spinWait = null;
    this.spinners--;
    return false;
  }

  /** Live tasks that spun in the last half of the step bound (for the step bound's report). */
  private spinningTasks(): Task[] {
    const since = this.points - Math.max(1, Math.floor(this.maxSteps / 2));
    return this.tasks.filter((t) => t.state !== "done" && t.spins > 0 && t.lastSpin >= since);
  }
}
