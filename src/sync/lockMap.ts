// Follows include/linux/lockdep.h's struct lockdep_map: a pseudo-lock that exists only for lockdep.

import type { SyncKernel } from "./syncKernel.js";
import { type Lockable, type LockMode, MODE_NAMES, MODE_RECURSIVE_READ, MODE_WRITE } from "./task.js";

/**
 * A lockdep pseudo-lock, such as "the invalidate_range_start section", "dma_fence signalling" or
 * "fs_reclaim". Acquiring it never blocks; it only teaches lockdep an ordering, so an inversion
 * against it is reported (`lock-order`) although nothing real was locked.
 */
export class LockMap implements Lockable {
  readonly type = "lockmap";
  readonly id: number;
  readonly classId: number;

  constructor(
    readonly kernel: SyncKernel,
    readonly name: string,
  ) {
    this.id = kernel.registerObject(this.type, name);
    this.classId = kernel.classId(name);
  }

  /** `lock_map_acquire()`: holds the map exclusively until `release`. */
  acquire(): void {
    this.acquireMode(MODE_WRITE);
  }

  /**
   * Holds the map shared until `release`: `lock_map_acquire_read()` (a recursive read) by default.
   * A `trylock` acquisition records no dependency on the locks already held (it cannot wait).
   */
  acquireShared(mode: LockMode = MODE_RECURSIVE_READ, trylock = false): void {
    this.acquireMode(mode, trylock);
  }

  private acquireMode(mode: LockMode, trylock = false): void {
    const k = this.kernel;
    const t = k.sched.current;
    if (t === null || k.sched.aborted) return;
    if (!trylock && k.lockdep !== null && t.heldCount !== 0) k.lockdepCheck(t, this, mode);
    t.pushHeld(this, mode, k.sched.step);
    if (k.trace !== null) k.event("acquire", this.id, undefined, MODE_NAMES[mode]);
  }

  /** `lock_map_release()`: pairs with `acquire` / `acquireShared`. */
  release(): void {
    const k = this.kernel;
    const t = k.sched.current;
    if (t === null || k.sched.aborted) return;
    if (!t.popHeld(this)) {
      k.misuse("EPERM", `${t} releases lock map "${this.name}", which it does not hold`);
    }
    if (k.trace !== null) k.event("release", this.id);
  }

  /** Acquire and release at once (`lock_map_acquire` + `lock_map_release`): "might take this". */
  touch(mode: LockMode = MODE_WRITE): void {
    this.kernel.mightLock(this, mode);
  }
}
