// Follows kernel/rcu/srcutree.c (behaviour only): sleepable RCU read sections and grace periods.

import { MmunError } from "../lib/errno.js";
import { never, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import { type Lockable, MODE_RECURSIVE_READ, MODE_WRITE, type Task, type Waitable } from "./task.js";

interface Pending {
  target: number;
  cb: () => void;
}

/**
 * An SRCU domain (`struct srcu_struct`). Readers may sleep inside `readLock()`..`readUnlock(idx)`;
 * `synchronize()` waits for every reader that started before it and for none that started after.
 * `callSrcu(cb)` runs `cb` after such a grace period (in the context that ends it); `barrier()`
 * waits until all callbacks queued so far have run. For lockdep a read section is a recursive read
 * of the domain and a grace-period wait a write, so `synchronize()` inside a read section of the
 * same domain, or while holding a lock that some reader takes, is reported.
 */
export class Srcu implements Lockable, Waitable {
  readonly type = "srcu";
  readonly id: number;
  readonly classId: number;
  /** Readers get the current epoch as their index; a grace period waits for all older epochs. */
  private epoch = 0;
  private readonly readers = new Map<number, number>();
  private readonly readerTasks: Task[] = [];
  private readonly waiters: Waiter[] = [];
  private pending: Pending[] = [];

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
    this.classId = kernel.classId(name);
  }

  /** `srcu_read_lock()`: enters a read section; returns the index to pass to `readUnlock`. */
  readLock(): number {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return 0;
    k.sched.step++;
    const t = k.sched.current;
    const idx = this.epoch;
    this.readers.set(idx, (this.readers.get(idx) ?? 0) + 1);
    if (t !== null) {
      if (k.lockdep !== null && t.heldCount !== 0) k.lockdepCheck(t, this, MODE_RECURSIVE_READ);
      t.pushHeld(this, MODE_RECURSIVE_READ, k.sched.step);
      this.readerTasks.push(t);
    }
    if (k.trace !== null) k.event("acquire", this.id, idx, "recursive-read");
    return idx;
  }

  /** `srcu_read_unlock(idx)`: leaves a read section; pairs with `readLock`. */
  readUnlock(idx: number): void {
    const k: SyncKernel = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    const n = this.readers.get(idx);
    if (n === undefined || n <= 0) {
      k.misuse("EINVAL", `srcu_read_unlock("${this.name}", ${idx}) without a matching srcu_read_lock`);
    }
    const t = k.sched.current;
    if (t !== null) {
      t.popHeld(this);
      const i = this.readerTasks.lastIndexOf(t);
      if (i >= 0) this.readerTasks.splice(i, 1);
    }
    if (n === 1) this.readers.delete(idx);
    else this.readers.set(idx, n - 1);
    if (k.trace !== null) k.event("release", this.id, idx);
    if (n === 1) this.gracePeriodProgress();
  }

  /** True when no reader that entered at or before epoch `target` remains. */
  private drained(target: number): boolean {
    for (const idx of this.readers.keys()) if (idx <= target) return false;
    return true;
  }

  private gracePeriodProgress(): void {
    const k = this.kernel;
    if (this.waiters.length !== 0) {
      const ws = this.waiters.splice(0);
      for (const w of ws) k.sched.wake(w, k.sched.current);
    }
    if (this.pending.length !== 0) this.runCallbacks();
  }

  private runCallbacks(): void {
    const ready = this.pending.filter((p) => this.drained(p.target));
    if (ready.length === 0) return;
    this.pending = this.pending.filter((p) => !this.drained(p.target));
    const t = this.kernel.sched.current;
    if (t !== null) t.atomic++;
    try {
      for (const p of ready) p.cb();
    } finally {
      if (t !== null) t.atomic--;
    }
    if (this.pending.length === 0 && this.waiters.length !== 0) {
      const ws = this.waiters.splice(0);
      for (const w of ws) this.kernel.sched.wake(w, this.kernel.sched.current);
    }
  }

  /** `synchronize_srcu()`: waits until every reader that entered before this call has left. */
  synchronize(): Promise<void> | undefined {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    k.mightSleep("synchronize_srcu", this.name);
    if (t !== null) k.mightLock(this, MODE_WRITE);
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "synchronize_srcu");
      if (p !== undefined) return p.then(() => this.syncNow());
    }
    return this.syncNow();
  }

  private syncNow(): Promise<void> | undefined {
    const target = this.epoch++;
    if (this.drained(target)) return undefined;
    return this.waitUntil(() => this.drained(target), "finish the grace period");
  }

  private async waitUntil(cond: () => boolean, why: string): Promise<void> {
    const k = this.kernel;
    while (!cond()) {
      const w = k.waiter();
      this.waiters.push(w);
      await k.sched.block(w, this, why);
    }
  }

  /** `call_srcu()`: runs `cb` (atomically, must not sleep) once a grace period has elapsed. */
  callSrcu(cb: () => void): void {
    if (typeof cb !== "function") throw new MmunError("EINVAL", "callSrcu needs a function");
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (this.kernel.sched.aborted) return;
    this.kernel.sched.step++;
    const target = this.epoch++;
    this.pending.push({ target, cb });
    this.runCallbacks();
  }

  /** `srcu_barrier()`: waits until every callback queued by `callSrcu` so far has run. */
  barrier(): Promise<void> | undefined {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    k.mightSleep("srcu_barrier", this.name);
    const queued = new Set(this.pending);
    const cond = () => !this.pending.some((p) => queued.has(p));
    const now = (): Promise<void> | undefined =>
      cond() ? undefined : this.waitUntil(cond, "run queued callbacks");
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "srcu_barrier");
      if (p !== undefined) return p.then(now);
    }
    return now();
  }

  /** Number of readers inside a read section. */
  readerCount(): number {
    let n = 0;
    for (const c of this.readers.values()) n += c;
    return n;
  }

  holders(): readonly Task[] {
    return [...new Set(this.readerTasks)];
  }

  describeWait(): string {
    const rs = this.holders();
    return rs.length === 0
      ? "readers outside any task are still inside a read section"
      : `readers still inside: ${rs.map((t) => t.toString()).join(", ")}`;
  }
}
