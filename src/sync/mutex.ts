// Follows kernel/locking/mutex.c: a sleeping lock with one owner, FIFO hand-off to waiters.

import { never, type Scheduler, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import { type Lockable, MODE_WRITE, OUTSIDE, OutsideWaiter, Task, type Waitable } from "./task.js";

/**
 * A mutex (`struct mutex`). `lock()` may sleep; it returns `undefined` when it got the lock at once
 * and a promise otherwise (`await m.lock()` works either way). `unlock()` hands the lock to the
 * first waiter. Misuse (unlocking a mutex you do not hold, re-locking one you hold) throws and is
 * reported.
 */
export class Mutex implements Lockable, Waitable {
  readonly type = "mutex";
  readonly id: number;
  readonly classId: number;
  /** The owning task (the shared outside identity for code outside tasks), or null. */
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

  /** `mutex_lock()`: takes the mutex, sleeping while another owner holds it. Pairs with `unlock`. */
  lock(): Promise<void> | undefined {
    const s = this.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    if (t === null) return this.lockOutside();
    if (s.controlled) {
      const p = s.point(t, this.id, "lock");
      if (p !== undefined) return p.then(() => this.lockTask(t));
    }
    return this.lockTask(t);
  }

  private lockTask(t: Task): Promise<void> | undefined {
    const k = this.kernel;
    if ((t.atomic | t.nonBlock) !== 0) k.sleepInAtomic(t, `mutex_lock("${this.name}")`);
    const owner = this.owner;
    if (owner === t) {
      k.misuse("EDEADLK", `${t} re-locks mutex "${this.name}", which it already holds: self-deadlock`);
    }
    if (k.lockdep !== null && t.heldCount !== 0) k.lockdepCheck(t, this, MODE_WRITE);
    if (owner === null) {
      this.owner = t;
      t.pushHeld(this, MODE_WRITE, this.sched.step);
      if (k.trace !== null) k.event("acquire", this.id, undefined, "write");
      return undefined;
    }
    this.waiters.push(t);
    // unlock() hands the mutex over before waking us (pairs with the hand-off in unlock).
    return this.sched.block(t, this, "lock");
  }

  private lockOutside(): Promise<void> | undefined {
    if (this.owner === null) {
      this.owner = OUTSIDE;
      if (this.kernel.trace !== null) this.kernel.event("acquire", this.id, undefined, "write");
      return undefined;
    }
    const w = new OutsideWaiter();
    this.waiters.push(w);
    return this.sched.block(w, this, "lock");
  }

  /** `mutex_trylock()`: takes the mutex if free; never sleeps. Pairs with `unlock` when true. */
  trylock(): boolean {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return false;
    k.sched.step++;
    if (this.owner !== null) return false;
    const t = k.sched.current;
    this.owner = t ?? OUTSIDE;
    if (t !== null) t.pushHeld(this, MODE_WRITE, k.sched.step);
    if (k.trace !== null) k.event("acquire", this.id, undefined, "write");
    return true;
  }

  /** `mutex_unlock()`: releases the mutex held by the caller; pairs with `lock`/`trylock`. */
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
          ? `${me} unlocks mutex "${this.name}", which is not locked (double unlock?)`
          : `${me} unlocks mutex "${this.name}", which is held by ${this.owner}`,
      );
    }
    if (t !== null) t.popHeld(this);
    if (k.trace !== null) k.event("release", this.id);
    if (this.waiters.length === 0) {
      this.owner = null;
      return;
    }
    const w = this.waiters.shift() as Waiter;
    if (w instanceof Task) {
      this.owner = w;
      w.pushHeld(this, MODE_WRITE, s.step);
      if (k.trace !== null) k.event("acquire", this.id, undefined, "write", w);
    } else this.owner = OUTSIDE;
    s.wake(w, t);
  }

  /** `mutex_is_locked()`. */
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
