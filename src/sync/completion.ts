// Follows kernel/sched/completion.c: a counted "this happened" event.

import { never, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import type { Task, Waitable } from "./task.js";

/** `complete_all` sets `done` to this (the kernel's UINT_MAX). */
const ALL = 0xffffffff;

/**
 * A completion (`struct completion`). `complete()` lets one waiter through (or the next caller of
 * `waitForCompletion`), `completeAll()` lets everybody through until `reinit()`.
 */
export class Completion implements Waitable {
  readonly type = "completion";
  readonly id: number;
  /** Completions not yet consumed (`ALL` after completeAll). */
  done = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
  }

  /** `complete()`: wakes one waiter. Never sleeps. */
  complete(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    if (this.done !== ALL) this.done++;
    if (k.trace !== null) k.event("signal", this.id, this.done);
    const w = this.waiters.shift();
    if (w !== undefined) k.sched.wake(w, k.sched.current);
  }

  /** `complete_all()`: wakes every waiter, present and future (until `reinit`). */
  completeAll(): void {
    const k = this.kernel;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (k.sched.aborted) return;
    k.sched.step++;
    this.done = ALL;
    if (k.trace !== null) k.event("signal", this.id, this.done);
    const ws = this.waiters.splice(0);
    for (const w of ws) k.sched.wake(w, k.sched.current);
  }

  /** `reinit_completion()`. */
  reinit(): void {
    this.done = 0;
  }

  /** `completion_done()`: true if a wait would not sleep. */
  isDone(): boolean {
    return this.done !== 0;
  }

  /** `try_wait_for_completion()`: consumes a completion if one is available. Never sleeps. */
  tryWait(): boolean {
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (this.kernel.sched.aborted) return false;
    this.kernel.sched.step++;
    if (this.done === 0) return false;
    if (this.done !== ALL) this.done--;
    return true;
  }

  /** `wait_for_completion()`: sleeps until completed, consuming one completion. */
  wait(): Promise<void> | undefined {
    const r = this.waitTimeout(Number.POSITIVE_INFINITY);
    return typeof r === "number" ? undefined : r.then(() => undefined);
  }

  /**
   * `wait_for_completion_timeout()`: returns 0 on timeout, else the remaining logical time (at least
   * 1; 1 for an unbounded wait).
   */
  waitTimeout(ms: number): Promise<number> | number {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never() as Promise<never>;
    s.step++;
    const t = s.current;
    k.mightSleep("wait_for_completion", this.name);
    const deadline = s.clock + ms;
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "wait_for_completion");
      if (p !== undefined) return p.then(() => this.waitNow(deadline));
    }
    return this.waitNow(deadline);
  }

  private waitNow(deadline: number): Promise<number> | number {
    if (this.done !== 0) return this.consume(deadline);
    return this.waitLoop(deadline);
  }

  private consume(deadline: number): number {
    if (this.done !== ALL) this.done--;
    return deadline === Number.POSITIVE_INFINITY ? 1 : Math.max(1, deadline - this.kernel.sched.clock);
  }

  private async waitLoop(deadline: number): Promise<number> {
    const k = this.kernel;
    for (;;) {
      // A zero or used-up timeout polls instead of sleeping, as the kernel's timed waits do.
      if (deadline <= k.sched.clock) return 0;
      const w = k.waiter();
      this.waiters.push(w);
      await k.sched.block(w, this, "be completed", deadline);
      if (this.done !== 0) return this.consume(deadline);
      if (w.timedOut) return 0;
    }
  }

  cancelWait(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  holders(): readonly Task[] {
    return [];
  }

  describeWait(): string {
    return "not completed, and no task will complete it";
  }
}
