// Follows include/linux/wait.h: wait for a condition, re-checked after every wake-up.

import { never, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import type { Task, Waitable } from "./task.js";

/**
 * A wait queue (`wait_queue_head_t`). `waitEvent(cond)` sleeps until `cond()` is true, checking it
 * before sleeping and after every wake-up; `wakeUpAll()` wakes every waiter. The check and the
 * sleep are one atomic step, so a wake-up between them cannot be lost. `sleepOn()` is the
 * historical racy `sleep_on()` (removed from Linux in 3.15): it sleeps without a condition and loses
 * wake-ups that come before it.
 */
export class WaitQueue implements Waitable {
  readonly type = "waitqueue";
  readonly id: number;
  private waiters: Waiter[] = [];

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
  }

  /** `wait_event(wq, cond)`: sleeps until `cond()` holds. May sleep. */
  waitEvent(cond: () => boolean): Promise<void> | undefined {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    k.mightSleep("wait_event", this.name);
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "wait_event");
      if (p !== undefined) return p.then(() => (cond() ? undefined : this.waitUntil(cond)));
    }
    if (cond()) return undefined;
    return this.waitUntil(cond);
  }

  /**
   * `wait_event_timeout(wq, cond, ms)`: like `waitEvent` with a logical-time limit. Returns 0 if the
   * time ran out with `cond()` still false, otherwise the remaining time (at least 1).
   */
  waitEventTimeout(cond: () => boolean, ms: number): Promise<number> | number {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never() as Promise<never>;
    s.step++;
    const t = s.current;
    k.mightSleep("wait_event_timeout", this.name);
    const deadline = s.clock + ms;
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "wait_event");
      if (p !== undefined) return p.then(() => this.waitNow(cond, deadline));
    }
    return this.waitNow(cond, deadline);
  }

  private waitNow(cond: () => boolean, deadline: number): Promise<number> | number {
    if (cond()) return this.remaining(deadline);
    return this.waitLoop(cond, deadline);
  }

  private remaining(deadline: number): number {
    return deadline === Number.POSITIVE_INFINITY ? 1 : Math.max(1, deadline - this.kernel.sched.clock);
  }

  /** The untimed wait loop of `waitEvent` (no result to compute, one promise less). */
  private async waitUntil(cond: () => boolean): Promise<void> {
    const k = this.kernel;
    for (;;) {
      const w = k.waiter();
      this.waiters.push(w);
      await k.sched.block(w, this, "wait for an event");
      if (cond()) return;
    }
  }

  private async waitLoop(cond: () => boolean, deadline: number): Promise<number> {
    const k = this.kernel;
    for (;;) {
      // A zero or used-up timeout polls instead of sleeping, as the kernel's timed waits do.
      if (deadline <= k.sched.clock) return 0;
      const w = k.waiter();
      this.waiters.push(w);
      await k.sched.block(w, this, "wait for an event", deadline);
      if (cond()) return this.remaining(deadline);
      if (w.timedOut) return 0;
    }
  }

  /** `sleep_on(wq)`: sleeps until the next wake-up, whatever the state (racy by design). */
  sleepOn(): Promise<void> {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    k.mightSleep("sleep_on", this.name);
    const sleep = (): Promise<void> => {
      const w = k.waiter();
      this.waiters.push(w);
      return k.sched.block(w, this, "be woken (sleep_on)");
    };
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "sleep_on");
      if (p !== undefined) return p.then(sleep);
    }
    return sleep();
  }

  /** `wake_up_all(wq)`: makes every waiter runnable; each re-checks its condition. Never sleeps. */
  wakeUpAll(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    if (this.waiters.length === 0) return;
    const ws = this.waiters;
    this.waiters = [];
    const waker = k.sched.current;
    for (const w of ws) k.sched.wake(w, waker);
  }

  /** Number of waiters (`waitqueue_active` is `waiterCount() > 0`). */
  waiterCount(): number {
    return this.waiters.length;
  }

  cancelWait(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  holders(): readonly Task[] {
    return [];
  }

  describeWait(): string {
    return "no task will wake it";
  }
}
