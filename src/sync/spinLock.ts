// Follows include/linux/spinlock.h: a lock whose critical section must not sleep.

import { never, type Scheduler, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import { type Lockable, MODE_WRITE, OUTSIDE, OutsideWaiter, Task, type Waitable } from "./task.js";

/**
 * A spinlock (`spinlock_t`). While a task holds one it is in atomic context: any operation that may
 * sleep is reported as `sleep-in-atomic`. Contention spins (the waiter is blocked, but spinning is
 * not sleeping). Under the controlled scheduler `lock()` is a scheduling point like any other.
 */
export class SpinLock implements Lockable, Waitable {
  readonly type = "spinlock";
  readonly id: number;
  readonly classId: number;
  owner: Task | null = null;
  private readonly waiters: Waiter[] = [];
  private readonly sched: Scheduler;

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.sched = kernel.sched;
    this.id = kernel.registerObject(this.type, name);
    this.classId = kernel.classId(name);
  }

  /** `spin_lock()`: takes the lock, spinning while another CPU holds it. Pairs with `unlock`. */
  lock(): Promise<void> | undefined {
    const s = this.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    if (t === null) return this.lockOutside();
    if (s.controlled) {
      const p = s.point(t, this.id, "spin_lock");
      if (p !== undefined) return p.then(() => this.lockTask(t));
    }
    return this.lockTask(t);
  }

  private lockTask(t: Task): Promise<void> | undefined {
    const k = this.kernel;
    const owner = this.owner;
    if (owner === t) {
      k.misuse("EDEADLK", `${t} re-locks spinlock "${this.name}", which it already holds: self-deadlock`);
    }
    if (k.lockdep !== null && t.heldCount !== 0) k.lockdepCheck(t, this, MODE_WRITE);
    if (owner === null) {
      this.owner = t;
      t.atomic++;
      t.pushHeld(this, MODE_WRITE, this.sched.step);
      if (k.trace !== null) k.event("acquire", this.id, undefined, "write", t);
      return undefined;
    }
    this.waiters.push(t);
    return this.sched.block(t, this, "spin");
  }

  private lockOutside(): Promise<void> | undefined {
    if (this.owner === null) {
      this.take(null, this.kernel);
      return undefined;
    }
    const w = new OutsideWaiter();
    this.waiters.push(w);
    return this.sched.block(w, this, "spin");
  }

  private take(t: Task | null, k: SyncKernel): void {
    this.owner = t ?? OUTSIDE;
    if (t !== null) {
      t.atomic++;
      t.pushHeld(this, MODE_WRITE, k.sched.step);
    }
    if (k.trace !== null) k.event("acquire", this.id, undefined, "write", t ?? undefined);
  }

  /** `spin_trylock()`: takes the lock if free. Pairs with `unlock` when true. */
  trylock(): boolean {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return false;
    k.sched.step++;
    if (this.owner !== null) return false;
    this.take(k.sched.current, k);
    return true;
  }

  /** `spin_unlock()`: releases the lock held by the caller; pairs with `lock`/`trylock`. */
  unlock(): void {
    const k = this.kernel;
    const s = this.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return;
    s.step++;
    const t = s.current;
    const me = t ?? OUTSIDE;
    if (this.owner !== me) {
      k.misuse(
        "EPERM",
        this.owner === null
          ? `${me} unlocks spinlock "${this.name}", which is not locked (double unlock?)`
          : `${me} unlocks spinlock "${this.name}", which is held by ${this.owner}`,
      );
    }
    if (t !== null) {
      t.popHeld(this);
      t.atomic--;
    }
    if (k.trace !== null) k.event("release", this.id);
    if (this.waiters.length === 0) {
      this.owner = null;
      return;
    }
    const w = this.waiters.shift() as Waiter;
    if (w instanceof Task) this.take(w, k);
    else this.owner = OUTSIDE;
    s.wake(w, t);
  }

  /** `spin_is_locked()`. */
  isLocked(): boolean {
    return this.owner !== null;
  }

  holders(): readonly Task[] {
    return this.owner === null ? [] : [this.owner];
  }

  describeWait(): string {
    return this.owner === null ? "free" : `held by ${this.owner}`;
  }
}
