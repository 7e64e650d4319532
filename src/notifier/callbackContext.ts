// Follows mm/mmu_notifier.c's rule "cannot be called from any ops callback" (read_begin, remove):
// who is inside a start, end or release walk of one mm, so such a call is reported as the deadlock it
// would be instead of hanging. The kernel leaves this to lockdep's "invalidate_range_start" map;
// we hold that map too (notifierGlobals.ts) and also track the walkers themselves, so plain async
// code outside any task is covered for the synchronous part of its callbacks.

import { withFinally } from "../lib/thenable.js";
import type { LockMap } from "../sync/lockMap.js";
import type { Scheduler } from "../sync/scheduler.js";
import type { Task } from "../sync/task.js";

/** Who is inside a walk over the callbacks of one mm (one per `MmuNotifierSubscriptions`). */
export class CallbackContext {
  /** Tasks inside a start, end or release of this mm (callbacks may run), innermost last. */
  readonly walkers: Task[] = [];
  /**
   * Depth of synchronous callback calls in progress, by any caller (a task or code outside tasks).
   * The interval walk increments it around each call; pairs with its decrement there.
   */
  syncDepth = 0;

  constructor(
    private readonly sched: Scheduler,
    /** The lockdep map "mmu_notifier_invalidate_range_start", held around starts and ends. */
    private readonly startMap: LockMap,
  ) {}

  /**
   * True when the running code is inside a start, end or release walk of this mm. Two field reads
   * when no walk runs (readBegin's fast path calls it).
   */
  insideCallback(): boolean {
    return this.syncDepth !== 0 || (this.walkers.length !== 0 && this.currentIsWalker());
  }

  private currentIsWalker(): boolean {
    const t = this.sched.current;
    return t !== null && this.walkers.includes(t);
  }

  /**
   * Runs `body` (a start, end or release of this mm, synchronous or not) with task `t` recorded as a
   * walker, and with the invalidate map held when `map` (starts and ends, as the kernel's wrappers
   * do; release does not hold it). Whatever `body` returns or throws is passed on once it settled.
   */
  guarded<T>(t: Task, map: boolean, body: () => T | Promise<T>): T | Promise<T> {
    if (map) this.startMap.acquire();
    this.walkers.push(t);
    return withFinally(body, () => {
      const w = this.walkers;
      const i = w.lastIndexOf(t);
      if (i >= 0) w.splice(i, 1);
      if (map) this.startMap.release();
    });
  }
}
