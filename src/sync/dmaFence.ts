// Follows drivers/dma-buf/dma-fence.c: a one-shot "this GPU work finished" signal.

import { EINVAL, ENOENT } from "../lib/errno.js";
import { never, type Waiter } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import { MODE_READ, MODE_WRITE, type Task, type Waitable } from "./task.js";

/** A fence callback; runs in the signalling context, atomically (it must not sleep). */
export type FenceCallback = (fence: DmaFence) => void;

/**
 * A DMA fence (`struct dma_fence`). It is signalled once; waiters sleep until then. Lockdep ties
 * waits to signalling: a wait is a write acquisition of the `dma_fence_map` pseudo-lock, and
 * `signal()` (and any code between `kernel.dmaFenceBeginSignalling()` and `End`) holds it shared,
 * so holding a lock around a wait that the signalling path also takes is reported as a cycle.
 */
export class DmaFence implements Waitable {
  readonly type = "fence";
  readonly id: number;
  private signaled = false;
  /** 0, or a negative errno set with `setError` before signalling. */
  error = 0;
  private callbacks: FenceCallback[] = [];
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
  }

  /** `dma_fence_is_signaled()`. Never sleeps. */
  isSignaled(): boolean {
    return this.signaled;
  }

  /** `dma_fence_get_status()`: 0 while pending, 1 when signalled, or the negative error. */
  getStatus(): number {
    if (!this.signaled) return 0;
    return this.error < 0 ? this.error : 1;
  }

  /** `dma_fence_set_error()`: records an error to report when signalled (before `signal`). */
  setError(errno: number): void {
    if (this.kernel.sched.current !== null && this.signaled) {
      this.kernel.warn(`fence "${this.name}": setError after it was signalled`);
      return;
    }
    this.error = errno;
  }

  /**
   * `dma_fence_signal()`: signals the fence, runs its callbacks and wakes every waiter. Returns 0,
   * or -EINVAL (with a warning) when it was already signalled. Never sleeps.
   */
  signal(): number {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return 0;
    s.step++;
    if (this.signaled) {
      k.warn(`fence "${this.name}" signalled twice`);
      return -EINVAL;
    }
    const cookie = k.dmaFenceBeginSignalling();
    this.signaled = true;
    if (k.trace !== null) k.event("signal", this.id, this.error);
    const t = s.current;
    const cbs = this.callbacks;
    this.callbacks = [];
    if (cbs.length !== 0) {
      if (t !== null) t.atomic++;
      try {
        for (const cb of cbs) cb(this);
      } finally {
        if (t !== null) t.atomic--;
      }
    }
    const ws = this.waiters.splice(0);
    for (const w of ws) s.wake(w, t);
    k.dmaFenceEndSignalling(cookie);
    return 0;
  }

  /** `dma_fence_add_callback()`: 0, or -ENOENT when already signalled (the callback is not added). */
  addCallback(cb: FenceCallback): number {
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (this.kernel.sched.aborted) return 0;
    this.kernel.sched.step++;
    if (this.signaled) return -ENOENT;
    this.callbacks.push(cb);
    return 0;
  }

  /** `dma_fence_remove_callback()`: true if the callback was still pending. */
  removeCallback(cb: FenceCallback): boolean {
    const i = this.callbacks.indexOf(cb);
    if (i < 0) return false;
    this.callbacks.splice(i, 1);
    return true;
  }

  /** `dma_fence_wait()`: sleeps until signalled. */
  wait(): Promise<void> | undefined {
    const r = this.waitTimeout(Number.POSITIVE_INFINITY);
    return typeof r === "number" ? undefined : r.then(() => undefined);
  }

  /**
   * `dma_fence_wait_timeout()`: returns 0 if the logical time ran out first, else the remaining
   * time (at least 1; 1 for an unbounded wait).
   */
  waitTimeout(ms: number): Promise<number> | number {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never() as Promise<never>;
    s.step++;
    const t = s.current;
    k.mightSleep("dma_fence_wait", this.name);
    if (t !== null) this.mightWait(t);
    const deadline = s.clock + ms;
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "fence_wait");
      if (p !== undefined) return p.then(() => this.waitNow(deadline));
    }
    return this.waitNow(deadline);
  }

  /** `__dma_fence_might_wait()`: a wait is a write acquisition of the signalling map. */
  private mightWait(t: Task): void {
    const k = this.kernel;
    if (k.lockdep === null) return;
    const map = k.dmaFenceMap;
    const inSignalling = t.holds(map);
    if (inSignalling) map.release();
    k.mightLock(map, MODE_WRITE);
    if (inSignalling) map.acquireShared(MODE_READ, true);
  }

  private waitNow(deadline: number): Promise<number> | number {
    if (this.signaled) return this.remaining(deadline);
    return this.waitLoop(deadline);
  }

  private remaining(deadline: number): number {
    return deadline === Number.POSITIVE_INFINITY ? 1 : Math.max(1, deadline - this.kernel.sched.clock);
  }

  private async waitLoop(deadline: number): Promise<number> {
    const k = this.kernel;
    for (;;) {
      // A zero or used-up timeout polls instead of sleeping, as the kernel's timed waits do.
      if (deadline <= k.sched.clock) return 0;
      const w = k.waiter();
      this.waiters.push(w);
      await k.sched.block(w, this, "be signalled", deadline);
      if (this.signaled) return this.remaining(deadline);
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
    return "unsignalled, and no runnable task will signal it";
  }
}
