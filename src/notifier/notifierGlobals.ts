// Follows the file-scope objects of mm/mmu_notifier.c: the one SRCU domain shared by every mm and
// the lockdep map `__mmu_notifier_invalidate_range_start_map`, one of each per simulated kernel.

import type { LockMap } from "../sync/lockMap.js";
import type { Srcu } from "../sync/srcu.js";
import type { SyncKernel } from "../sync/syncKernel.js";

/** Lock class of the "inside an invalidation" pseudo-lock, named as in the kernel. */
export const INVALIDATE_RANGE_START_MAP = "mmu_notifier_invalidate_range_start";
/** Lock class of the reclaim pseudo-lock (the kernel's `__fs_reclaim_map`). */
export const FS_RECLAIM_MAP = "fs_reclaim";

/** Per-kernel notifier globals. */
export interface NotifierGlobals {
  /** `DEFINE_STATIC_SRCU(srcu)`: classic callbacks run in its read side. */
  readonly srcu: Srcu;
  /**
   * Held around every invalidate start/end; touched by `readBegin` and `remove`, so holding a lock a
   * callback takes while calling them is a reported lock-order inversion.
   */
  readonly startMap: LockMap;
  /**
   * Reclaim as a pseudo-lock (the kernel's `__fs_reclaim_map`). Registration primes fs_reclaim ->
   * startMap (invalidations happen from reclaim), so a driver allocating while holding a lock its
   * callback takes is reported. Lock classes go by name: any other "fs_reclaim" map of this kernel
   * shares the class.
   */
  readonly fsReclaim: LockMap;
  /** WARN_ON_ONCE state of the "both secondary-TLB and start/end hooks" check. */
  warnedBothHooks: boolean;
}

// Kept on the kernel itself: a WeakMap keyed by a kernel keeps its values, and everything they
// reach, alive through every young-generation GC (V8 treats the entries of an old table as strong
// there), and the explorer makes a kernel per execution: that made most of its garbage survive.
const GLOBALS: unique symbol = Symbol("mmu notifier globals");

/** The notifier globals of `kernel` (created on first use). */
export function notifierGlobals(kernel: SyncKernel): NotifierGlobals {
  const k = kernel as SyncKernel & { [GLOBALS]?: NotifierGlobals };
  let g = k[GLOBALS];
  if (g === undefined) {
    g = {
      srcu: kernel.srcu("mmu_notifier_srcu"),
      startMap: kernel.lockMap(INVALIDATE_RANGE_START_MAP),
      fsReclaim: kernel.lockMap(FS_RECLAIM_MAP),
      warnedBothHooks: false,
    };
    k[GLOBALS] = g;
  }
  return g;
}
