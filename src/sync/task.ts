// A kernel thread of the simulation (include/linux/sched.h's task_struct, the little we need).

/** Scheduling state of a task. */
export type TaskState = "runnable" | "running" | "blocked" | "done";

/** Lock acquisition modes, as lockdep names them. */
export const MODE_WRITE = 0;
/** Shared, non-recursive (rwsem `down_read`: queues behind a waiting writer). */
export const MODE_READ = 1;
/** Shared, recursive (never blocks on other readers or waiting writers). */
export const MODE_RECURSIVE_READ = 2;
export type LockMode = typeof MODE_WRITE | typeof MODE_READ | typeof MODE_RECURSIVE_READ;

/** Mode names used in traces and reports. */
export const MODE_NAMES = ["write", "read", "recursive-read"] as const;

/** Something a task can hold: a real lock or a lockdep pseudo-lock. */
export interface Lockable {
  readonly id: number;
  readonly type: string;
  readonly name: string;
  /** The lockdep class id, or -1 when lockdep is off. */
  readonly classId: number;
}

/** Something a task can wait on; says who could end the wait, for deadlock reports. */
export interface Waitable {
  readonly id: number;
  readonly type: string;
  readonly name: string;
  /** Tasks that hold this object (locks), so a report can follow the wait-for chain. */
  holders(): readonly Task[];
  /** One line on why a waiter is still waiting, e.g. "held for write by T1". */
  describeWait(): string;
}

/** A waiter that is not a task: plain async code calling the API outside any task (library use). */
export class OutsideWaiter {
  readonly promise: Promise<void>;
  resolve!: () => void;
  timedOut = false;

  constructor() {
    this.promise = new Promise<void>((r) => {
      this.resolve = r;
    });
  }
}

/**
 * One task: an async function spawned on a kernel. Its code runs only while the scheduler has
 * switched to it; at every wait it parks on a gate promise that the scheduler resolves to resume it.
 */
export class Task {
  state: TaskState = "runnable";
  /** Locks held, innermost last (parallel arrays: no allocation per acquisition). */
  readonly heldLocks: Lockable[] = [];
  readonly heldModes: LockMode[] = [];
  /** The step at which each held lock was acquired (for lockdep's acquisition sites). */
  readonly heldSteps: number[] = [];
  /** Spinlocks held plus explicit atomic sections: sleeping here is a bug. */
  atomic = 0;
  /** Depth of non-blocking regions (`kernel.nonBlockStart`): sleeping here is a bug. */
  nonBlock = 0;
  /** What the task waits on while blocked, and why (for deadlock reports). */
  blockedOn: Waitable | null = null;
  blockedFor = "";
  /** Logical time at which a timed wait expires (Infinity: untimed). */
  deadline = Number.POSITIVE_INFINITY;
  /** Set when the last wait ended by timeout rather than by a wake-up. */
  timedOut = false;
  /** The object and operation of the task's next step while it waits at a scheduling point. */
  pendingObj = -1;
  pendingOp = "";
  /** The error the task ended with, if it threw. */
  error: unknown = undefined;
  /** Number of scheduling points this task passed (its own step counter). */
  steps = 0;
  private resolveGate: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly name: string,
  ) {}

  /** Returns a promise the task awaits until {@link Task.resume} is called. */
  park(): Promise<void> {
    return new Promise<void>((r) => {
      this.resolveGate = r;
    });
  }

  /** Lets the parked task continue (called by the scheduler only). */
  resume(): void {
    const r = this.resolveGate;
    this.resolveGate = null;
    if (r !== null) r();
  }

  /** True while the task holds `lock` (in any mode). */
  holds(lock: Lockable): boolean {
    return this.heldLocks.includes(lock);
  }

  /** Records that the task now holds `lock`. */
  pushHeld(lock: Lockable, mode: LockMode, step: number): void {
    this.heldLocks.push(lock);
    this.heldModes.push(mode);
    this.heldSteps.push(step);
  }

  /** Forgets the innermost holding of `lock`; false if it was not held. */
  popHeld(lock: Lockable): boolean {
    const held = this.heldLocks;
    const n = held.length - 1;
    if (n >= 0 && held[n] === lock) {
      held.pop();
      this.heldModes.pop();
      this.heldSteps.pop();
      return true;
    }
    const i = held.lastIndexOf(lock);
    if (i < 0) return false;
    held.splice(i, 1);
    this.heldModes.splice(i, 1);
    this.heldSteps.splice(i, 1);
    return true;
  }

  toString(): string {
    return `task "${this.name}"`;
  }
}

/** The owner recorded for locks taken by code running outside any task (library use). */
export const OUTSIDE: Task = new Task(-1, "(outside any task)");
