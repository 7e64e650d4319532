// The scheduler interface the primitives are written against (kernel/sched/core.c, in spirit).
//
// Tasks are async functions that run one at a time: a task's code runs from the moment the
// scheduler switches to it until it waits (blocks, yields at a point, or ends). Two schedulers
// decide who runs next: the direct one (FIFO, switching only when the running task waits) and the
// controlled one (a chooser picks at every scheduling point). They are the only two places that
// know how tasks are switched; everything else calls point / block / wake.

import { MmunError } from "../lib/errno.js";
import type { TraceRecorder } from "../trace/recorder.js";
import { OutsideWaiter, type Task, type Waitable } from "./task.js";

/** Whoever waits: a task, or plain async code outside any task. */
export type Waiter = Task | OutsideWaiter;

/** What the scheduler needs from the kernel that owns it. */
export interface SchedulerHost {
  trace: TraceRecorder | null;
  /** Called when every live task is blocked and no timed wait can expire. */
  onDeadlock(blocked: readonly Task[]): void;
  /**
   * Called when a step bound is exceeded (controlled scheduler); `spinning` are the live tasks that
   * spun (`cpuRelax`, `condResched`) lately.
   */
  onStepBound(task: Task, maxSteps: number, spinning: readonly Task[]): void;
}

const NEVER: Promise<void> = new Promise<void>(() => {});

/** The runtime core shared by both schedulers: task states, blocking, waking, timers, deadlock. */
export abstract class Scheduler {
  /** True for the explorer's scheduler, where every operation that may wait is a scheduling point. */
  abstract readonly controlled: boolean;
  /** The task whose code is running, or null when code runs outside any task. */
  current: Task | null = null;
  /** Every task ever spawned, in spawn order (index = task id). */
  readonly tasks: Task[] = [];
  /** Tasks spawned and not yet ended. */
  live = 0;
  /** Operations performed on kernel objects so far (the "step" quoted in traces and reports). */
  step = 0;
  /** The logical clock, in milliseconds. It moves only when every live task waits on a timeout. */
  clock = 0;
  /** True after {@link Scheduler.abort}: no task runs again. */
  aborted = false;
  protected host!: SchedulerHost;
  private running: { resolve: () => void } | null = null;
  private readonly outsideTimed: OutsideTimedWait[] = [];

  /** Binds the scheduler to its kernel (once). */
  attach(host: SchedulerHost): void {
    this.host = host;
  }

  /** Registers a new task; it becomes runnable. */
  addTask(task: Task): void {
    this.tasks.push(task);
    this.live++;
    task.state = "runnable";
    this.enqueue(task);
  }

  /** Runs tasks until every task ended, or none can make progress; see {@link SyncKernel.run}. */
  run(): Promise<void> {
    if (this.running !== null) {
      return Promise.reject(new MmunError("EBUSY", "kernel.run() is already in progress"));
    }
    if (this.aborted || this.live === 0) return Promise.resolve();
    const p = new Promise<void>((resolve) => {
      this.running = { resolve };
    });
    if (this.current === null) this.reschedule();
    return p;
  }

  /** True while {@link Scheduler.run} is in progress. */
  get isRunning(): boolean {
    return this.running !== null;
  }

  /**
   * A scheduling point before `task` performs operation `op` on object `objId`. Under the controlled
   * scheduler the chooser may switch to another task here; the direct scheduler never switches at
   * an operation. Returns undefined to continue at once, or a promise to await.
   */
  abstract point(task: Task, objId: number, op: string): Promise<void> | undefined;

  /** An explicit yield (`kernel.point()`): lets other runnable tasks run. */
  abstract yield(task: Task, label: string): Promise<void> | undefined;

  /**
   * A yield by a task that waits for another to make progress (`cpu_relax()` in a spin loop,
   * `cond_resched()`). Both schedulers are fair to it: the direct one queues the task behind every
   * runnable task; the controlled one does not choose it again until each task runnable at the spin
   * has run a step or stopped being runnable (`ControlledOptions.fair`).
   */
  abstract spin(task: Task, label: string): Promise<void> | undefined;

  /** Takes the next task to run out of the runnable set, or null when none is runnable. */
  protected abstract pickNext(): Task | null;

  /** Adds a runnable task to the runnable set. */
  protected abstract enqueue(task: Task): void;

  /**
   * Blocks the caller on `on` until {@link Scheduler.wake} (or until the logical clock reaches
   * `deadline`, which sets `timedOut`). The caller has already put `waiter` on the object's wait list.
   */
  block(waiter: Waiter, on: Waitable, why: string, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.aborted) return NEVER;
    if (waiter instanceof OutsideWaiter) {
      waiter.timedOut = false;
      if (deadline !== Number.POSITIVE_INFINITY) this.outsideTimed.push({ waiter, on, deadline });
      return waiter.promise;
    }
    const task = waiter;
    task.state = "blocked";
    task.blockedOn = on;
    task.blockedFor = why;
    task.deadline = deadline;
    task.timedOut = false;
    const t = this.host.trace;
    if (t !== null) t.event(this.step, this.clock, task.id, "block", on.id, undefined, why);
    const p = task.park();
    this.reschedule();
    return p;
  }

  /** Makes a blocked waiter runnable again; `waker` is the task that woke it, if any. */
  wake(waiter: Waiter, waker: Task | null): void {
    if (waiter instanceof OutsideWaiter) {
      this.dropOutsideTimer(waiter);
      waiter.resolve();
      return;
    }
    const task = waiter;
    if (task.state !== "blocked") return;
    task.blockedOn = null;
    task.deadline = Number.POSITIVE_INFINITY;
    task.state = "runnable";
    const t = this.host.trace;
    if (t !== null) t.event(this.step, this.clock, task.id, "wake", -1, waker === null ? -1 : waker.id);
    this.enqueue(task);
  }

  /** Called when a task's function returned or threw. */
  taskEnded(task: Task): void {
    task.state = "done";
    this.live--;
    if (this.current === task) {
      this.current = null;
      this.reschedule();
    }
  }

  /**
   * Stops everything (the explorer ends an execution at its first failure): `run()` resolves, no
   * task runs again, and every later operation on a kernel object does nothing (a wait never ends).
   * `current` stays the task that was running, so the rest of the operation that failed (and its
   * trace events) is still credited to it.
   */
  abort(): void {
    this.aborted = true;
    this.finish();
  }

  /** Moves the logical clock forward by `ms`, expiring timed waits that fall due. */
  advanceClock(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new MmunError("EINVAL", `advanceClock needs a finite non-negative number of ms, got ${ms}`);
    }
    this.clock += ms;
    this.expireDue();
    if (this.running !== null && this.current === null) this.reschedule();
  }

  /** Switches to `next` (which was taken out of the runnable set). */
  protected switchTo(next: Task): void {
    this.current = next;
    next.state = "running";
    const t = this.host.trace;
    if (t !== null) t.event(this.step, this.clock, next.id, "run", -1);
    next.resume();
  }

  /** The running task stopped (blocked or ended): run the next one, or detect the end or a deadlock. */
  protected reschedule(): void {
    if (this.aborted) return;
    for (;;) {
      const next = this.pickNext();
      if (next !== null) {
        this.switchTo(next);
        return;
      }
      this.current = null;
      if (this.live === 0) {
        this.finish();
        return;
      }
      if (this.running === null) return;
      if (!this.expireEarliest()) {
        const blocked = this.tasks.filter((t) => t.state === "blocked");
        this.host.onDeadlock(blocked);
        this.finish();
        return;
      }
    }
  }

  private finish(): void {
    const r = this.running;
    this.running = null;
    if (r !== null) r.resolve();
  }

  /** Jumps the clock to the earliest deadline among blocked tasks and expires it; false if none. */
  private expireEarliest(): boolean {
    let earliest = Number.POSITIVE_INFINITY;
    for (const t of this.tasks) if (t.state === "blocked" && t.deadline < earliest) earliest = t.deadline;
    for (const o of this.outsideTimed) if (o.deadline < earliest) earliest = o.deadline;
    if (earliest === Number.POSITIVE_INFINITY) return false;
    if (earliest > this.clock) this.clock = earliest;
    this.expireDue();
    return true;
  }

  private expireDue(): void {
    const now = this.clock;
    for (const t of this.tasks) {
      if (t.state === "blocked" && t.deadline <= now) {
        const on = t.blockedOn;
        t.timedOut = true;
        if (on !== null && "cancelWait" in on) (on as Cancellable).cancelWait(t);
        this.wake(t, null);
      }
    }
    for (let i = 0; i < this.outsideTimed.length; ) {
      const o = this.outsideTimed[i] as OutsideTimedWait;
      if (o.deadline <= now) {
        this.outsideTimed.splice(i, 1);
        if ("cancelWait" in o.on) (o.on as Cancellable).cancelWait(o.waiter);
        o.waiter.timedOut = true;
        o.waiter.resolve();
      } else i++;
    }
  }

  private dropOutsideTimer(w: OutsideWaiter): void {
    if (this.outsideTimed.length === 0) return;
    const i = this.outsideTimed.findIndex((o) => o.waiter === w);
    if (i >= 0) this.outsideTimed.splice(i, 1);
  }
}

/** A waitable whose waits can time out must let the scheduler take an expired waiter off its list. */
export interface Cancellable {
  cancelWait(waiter: Waiter): void;
}

interface OutsideTimedWait {
  waiter: OutsideWaiter;
  on: Waitable;
  deadline: number;
}

/** A promise that never settles: what a task awaits once its execution was aborted. */
export function never(): Promise<void> {
  return NEVER;
}
