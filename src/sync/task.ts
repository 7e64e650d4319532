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

/** `spinSeen` of a task that waits for no one (never written: a spin assigns a fresh array). */
const NOT_SPINNING: number[] = [];

/**
 * One task: an async function spawned on a kernel. Its code runs only while the scheduler has
 * switched to it; at every wait it parks on a gate promise that the scheduler resolves to resume it.
 */
export class Task {
  state: TaskState = "runnable";
  /**
   * Locks held, innermost last: entries [0, heldCount) of three parallel arrays, written in place
   * (no allocation, no length change per acquisition). `heldModes` and `heldSteps` grow by doubling.
   */
  heldCount = 0;
  readonly heldLocks: (Lockable | undefined)[] = [];
  heldModes: Uint8Array = new Uint8Array(8);
  /** The step at which each held lock was acquired (for lockdep's acquisition sites). */
  heldSteps: Float64Array = new Float64Array(8);
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
  /** Times the controlled scheduler gave this task a step (fair scheduling counts them). */
  scheduled = 0;
  /**
   * Fair scheduling: after a spin (`cpuRelax`, `condResched`) the tasks that were runnable then and
   * must each run a step (or stop being runnable) before this task is chosen again, with their
   * `scheduled` counts at the spin (`spinSeen`); null when the task does not wait for any.
   */
  spinWait: Task[] | null = null;
  spinSeen: number[] = NOT_SPINNING;
  /** Spins in this run, and the scheduling point of the last (for livelock reports). */
  spins = 0;
  lastSpin = -1;
  private resolveGate: (() => void) | null = null;
  /**
   * One executor per task, so parking allocates only the promise. Assigned in the constructor: a
   * class-field arrow would be given its name by a defineProperty per task under tsx (keepNames).
   */
  private readonly gateExecutor: (resolve: () => void) => void;

  constructor(
    readonly id: number,
    readonly name: string,
  ) {
    this.gateExecutor = (resolve) => {
      this.resolveGate = resolve;
    };
  }

  /** Returns a promise the task awaits until {@link Task.resume} is called. */
  park(): Promise<void> {
    return new Promise<void>(this.gateExecutor);
  }

  /** Lets the parked task continue (called by the scheduler only). */
  resume(): void {
    const r = this.resolveGate;
    this.resolveGate = null;
    if (r !== null) r();
  }

  /** True while the task holds `lock` (in any mode). */
  holds(lock: Lockable): boolean {
    const held = this.heldLocks;
    for (let i = this.heldCount - 1; i >= 0; i--) if (held[i] === lock) return true;
    return false;
  }

  /** The locks held now, innermost last (a copy). */
  held(): Lockable[] {
    return this.heldLocks.slice(0, this.heldCount) as Lockable[];
  }

  /** Records that the task now holds `lock`; pairs with `popHeld`. */
  pushHeld(lock: Lockable, mode: LockMode, step: number): void {
    const n = this.heldCount;
    if (n === this.heldModes.length) {
      const modes = new Uint8Array(n * 2);
      modes.set(this.heldModes);
      this.heldModes = modes;
      const steps = new Float64Array(n * 2);
      steps.set(this.heldSteps);
      this.heldSteps = steps;
    }
    this.heldLocks[n] = lock;
    this.heldModes[n] = mode;
    this.heldSteps[n] = step;
    this.heldCount = n + 1;
  }

  /** Forgets the innermost holding of `lock`; false if it was not held. Pairs with `pushHeld`. */
  popHeld(lock: Lockable): boolean {
    const held = this.heldLocks;
    const top = this.heldCount - 1;
    if (top >= 0 && held[top] === lock) {
      held[top] = undefined;
      this.heldCount = top;
      return true;
    }
    return this.popHeldInner(lock);
  }

  private popHeldInner(lock: Lockable): boolean {
    const held = this.heldLocks;
    let i = this.heldCount - 1;
    while (i >= 0 && held[i] !== lock) i--;
    if (i < 0) return false;
    const last = this.heldCount - 1;
    for (let j = i; j < last; j++) {
      held[j] = held[j + 1];
      this.heldModes[j] = this.heldModes[j + 1] as number;
      this.heldSteps[j] = this.heldSteps[j + 1] as number;
    }
    held[last] = undefined;
    this.heldCount = last;
    return true;
  }

  toString(): string {
    return `task "${this.name}"`;
  }
}

/** The owner recorded for locks taken by code running outside any task (library use). */
export const OUTSIDE: Task = new Task(-1, "(outside any task)");
