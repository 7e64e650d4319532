// Follows include/linux/gfp_types.h and include/linux/sched/mm.h (might_alloc) with
// mm/page_alloc.c's fs_reclaim_acquire/release: what a driver's memory allocation tells lockdep.
//
// An allocation that may enter direct reclaim (GFP_KERNEL) may run reclaim in the allocating task,
// and reclaim invalidates address spaces: it may call every invalidate callback of every mm. Linux
// (since v5.11) teaches lockdep exactly that on every such allocation: fs_reclaim_acquire() takes
// the "fs_reclaim" map and, inside it, touches "mmu_notifier_invalidate_range_start". So a task that
// allocates while holding a lock some invalidate callback takes closes a cycle (lock -> fs_reclaim ->
// invalidate map -> lock) and is reported as `lock-order`, even if reclaim never ran (kernel-spec
// §5.c D2, §6.3 item 43). GFP_ATOMIC and GFP_NOWAIT never reclaim directly: legal anywhere.
//
// mmun allocates nothing here: memory for the driver's own objects is the JavaScript heap. Call
// `mightAlloc(kernel, gfp)` where the kernel code being modelled allocates.

import { notifierGlobals } from "../notifier/notifierGlobals.js";
import type { SyncKernel } from "../sync/syncKernel.js";

/** `__GFP_DIRECT_RECLAIM`: the allocation may reclaim in the caller's context (and so sleep). */
export const __GFP_DIRECT_RECLAIM = 0x400;
/** `__GFP_KSWAPD_RECLAIM`: the allocation may wake kswapd (never waits for it). */
export const __GFP_KSWAPD_RECLAIM = 0x800;
/** `GFP_KERNEL`: may sleep, may reclaim (Linux's value). */
export const GFP_KERNEL = 0xcc0;
/** `GFP_NOWAIT`: never sleeps, never reclaims directly. */
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
/** `GFP_ATOMIC`: never sleeps, may use reserves (atomic context, fence signalling paths). */
export const GFP_ATOMIC = 0x20 | __GFP_KSWAPD_RECLAIM;

/** `gfpflags_allow_blocking()`: true when an allocation with `gfp` may sleep (direct reclaim). */
export function gfpflagsAllowBlocking(gfp: number): boolean {
  return (gfp & __GFP_DIRECT_RECLAIM) !== 0;
}

/**
 * `might_alloc(gfp)`: the running task may allocate memory with `gfp` here. For a blocking `gfp`
 * (GFP_KERNEL) it is `might_sleep()` and `fs_reclaim_acquire(); fs_reclaim_release()`, which records
 * the dependencies of entering reclaim (every lock held -> "fs_reclaim" -> the invalidate map), so
 * allocating under a lock an invalidate callback takes is reported. Free when lockdep is off.
 */
export function mightAlloc(kernel: SyncKernel, gfp: number): void {
  if (!gfpflagsAllowBlocking(gfp)) return;
  kernel.mightSleep("might_alloc(GFP_KERNEL)");
  if (kernel.lockdep === null || kernel.current === null) return;
  const g = notifierGlobals(kernel);
  // fs_reclaim_acquire(): reclaim may invalidate any mm, so it may enter every invalidate callback.
  g.fsReclaim.acquire();
  g.startMap.touch();
  // Pairs with the acquire above.
  g.fsReclaim.release();
}
