// Follows kernel/locking/rwsem.c: a sleeping reader/writer lock with writer fairness.

import { never, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import { type Lockable, MODE_READ, MODE_WRITE, OUTSIDE, Task, type Waitable } from "./task.js";

interface RwWaiter {
  w: Waiter;
  write: boolean;
}

/** Readers woken at once when the head waiter is a reader (the kernel's MAX_READERS_WAKEUP). */
const MAX_READERS_WAKEUP = 256;

/**
 * A reader/writer semaphore (`struct rw_semaphore`), as `mmap_lock` is. Waiters queue in FIFO order
 * and a waiting writer blocks new readers, so a task that takes the read side again while a writer
 * waits deadlocks, exactly as in the kernel. On release the head waiter is served: a writer alone,
 * or (when the head is a reader) every queued reader up to 256, as `rwsem_mark_wake` does.
 */
export class RwSemaphore implements Lockable, Waitable {
  readonly type = "rwsem";
  readonly id: number;
  readonly classId: number;
  /** The write owner, or null. */
  writer: Task | null = null;
  /** Read holders (a task appears once per read acquisition). */
  readonly readers: Task[] = [];
  private readonly waiters: RwWaiter[] = [];

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
    this.classId = kernel.classId(name);
  }

  /** `down_read()`: takes the read side; sleeps while a writer holds or waits. Pairs with `upRead`. */
  downRead(): Promise<void> | undefined {
    const s = this.kernel.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "down_read");
      if (p !== undefined) return p.then(() => this.downNow(t, false));
    }
    return this.downNow(t, false);
  }

  /** `down_write()`: takes the write side; sleeps while anyone holds it. Pairs with `upWrite`. */
  downWrite(): Promise<void> | undefined {
    const s = this.kernel.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "down_write");
      if (p !== undefined) return p.then(() => this.downNow(t, true));
    }
    return this.downNow(t, true);
  }

  private downNow(t: Task | null, write: boolean): Promise<void> | undefined {
    const k = this.kernel;
    if (t !== null) {
      if ((t.atomic | t.nonBlock) !== 0) k.sleepInAtomic(t, this.downName(write));
      if (this.writer === t) {
        k.misuse("EDEADLK", `${t} calls ${this.downName(write)} while holding it for write: self-deadlock`);
      }
      if (write && this.readers.includes(t)) {
        k.misuse("EDEADLK", `${t} calls ${this.downName(write)} while holding it for read: self-deadlock`);
      }
      if (k.lockdep !== null && t.heldCount !== 0) k.lockdepCheck(t, this, write ? MODE_WRITE : MODE_READ);
    }
    if (write ? this.canWrite() : this.canRead()) {
      this.grantTo(t ?? OUTSIDE, write);
      return undefined;
    }
    const w = k.waiter();
    this.waiters.push({ w, write });
    return k.sched.block(w, this, write ? "down_write" : "down_read");
  }

  /** The call being made, for reports (a method: a closure per down would cost a name each under tsx). */
  private downName(write: boolean): string {
    return write ? `down_write("${this.name}")` : `down_read("${this.name}")`;
  }

  private canRead(): boolean {
    return this.writer === null && this.waiters.length === 0;
  }

  private canWrite(): boolean {
    return this.writer === null && this.readers.length === 0 && this.waiters.length === 0;
  }

  private grantTo(t: Task, write: boolean): void {
    const k = this.kernel;
    if (write) this.writer = t;
    else this.readers.push(t);
    if (t !== OUTSIDE) t.pushHeld(this, write ? MODE_WRITE : MODE_READ, k.sched.step);
    if (k.trace !== null)
      k.event("acquire", this.id, undefined, write ? "write" : "read", t === OUTSIDE ? undefined : t);
  }

  /** `down_read_trylock()`: takes the read side if that needs no wait. Pairs with `upRead` when true. */
  downReadTrylock(): boolean {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return false;
    k.sched.step++;
    if (!this.canRead()) return false;
    this.grantTo(k.owner(), false);
    return true;
  }

  /** `down_write_trylock()`: takes the write side if free. Pairs with `upWrite` when true. */
  downWriteTrylock(): boolean {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return false;
    k.sched.step++;
    if (!this.canWrite()) return false;
    this.grantTo(k.owner(), true);
    return true;
  }

  /** `up_read()`: releases a read hold of the caller; pairs with `downRead`. */
  upRead(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    const me = k.owner();
    const i = this.readers.lastIndexOf(me);
    if (i < 0) {
      k.misuse("EPERM", `${me} calls up_read("${this.name}") without holding it for read`);
    }
    // Order among readers does not matter: move the last into the hole (cheaper than splice).
    const rs = this.readers;
    rs[i] = rs[rs.length - 1] as Task;
    rs.pop();
    if (me !== OUTSIDE) me.popHeld(this);
    if (k.trace !== null) k.event("release", this.id, undefined, "read");
    this.serveWaiters();
  }

  /** `up_write()`: releases the caller's write hold; pairs with `downWrite`. */
  upWrite(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    const me = k.owner();
    if (this.writer !== me) {
      k.misuse(
        "EPERM",
        `${me} calls up_write("${this.name}") but ${this.writer === null ? "nobody" : this.writer} holds it for write`,
      );
    }
    this.writer = null;
    if (me !== OUTSIDE) me.popHeld(this);
    if (k.trace !== null) k.event("release", this.id, undefined, "write");
    this.serveWaiters();
  }

  /** `downgrade_write()`: turns the caller's write hold into a read hold, letting readers in. */
  downgradeWrite(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    const me = k.owner();
    if (this.writer !== me) {
      k.misuse("EPERM", `${me} calls downgrade_write("${this.name}") without holding it for write`);
    }
    this.writer = null;
    if (me !== OUTSIDE) me.popHeld(this);
    this.grantTo(me, false);
    this.serveWaiters();
  }

  /** Hands the semaphore to the head waiter(s) when it can be granted. */
  private serveWaiters(): void {
    const head = this.waiters[0];
    if (head === undefined || this.writer !== null) return;
    const k = this.kernel;
    const waker = k.sched.current;
    if (head.write) {
      if (this.readers.length !== 0) return;
      this.waiters.shift();
      this.grantTo(head.w instanceof Task ? head.w : OUTSIDE, true);
      k.sched.wake(head.w, waker);
      return;
    }
    let woken = 0;
    for (let i = 0; i < this.waiters.length && woken < MAX_READERS_WAKEUP; ) {
      const rw = this.waiters[i] as RwWaiter;
      if (rw.write) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.grantTo(rw.w instanceof Task ? rw.w : OUTSIDE, false);
      k.sched.wake(rw.w, waker);
      woken++;
    }
  }

  /** `rwsem_is_locked()`. */
  isLocked(): boolean {
    return this.writer !== null || this.readers.length !== 0;
  }

  /** True when the caller holds the write side. */
  isWriteLockedByMe(): boolean {
    return this.writer !== null && this.writer === this.kernel.owner();
  }

  /** True when the caller holds the read side. */
  isReadLockedByMe(): boolean {
    return this.readers.includes(this.kernel.owner());
  }

  holders(): readonly Task[] {
    const hs: Task[] = this.writer === null ? [...new Set(this.readers)] : [this.writer];
    for (const w of this.waiters) if (w.write && w.w instanceof Task) hs.push(w.w);
    return hs;
  }

  describeWait(): string {
    const parts: string[] = [];
    if (this.writer !== null) parts.push(`held for write by ${this.writer}`);
    if (this.readers.length !== 0) {
      parts.push(`held for read by ${[...new Set(this.readers)].map((t) => t.toString()).join(", ")}`);
    }
    const writers = this.waiters
      .filter((w) => w.write)
      .map((w) => String(w.w instanceof Task ? w.w : OUTSIDE));
    if (writers.length !== 0) parts.push(`writers queued: ${writers.join(", ")}`);
    return parts.length === 0 ? "free" : parts.join("; ");
  }
}
