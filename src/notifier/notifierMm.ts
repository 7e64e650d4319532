// What the notifier core needs from an address space (the fields of struct mm_struct that
// mm/mmu_notifier.c touches). The notifier layer sits below mm/, so it names this interface and
// mm/mm.ts's Mm implements it.

import type { RwSemaphore } from "../sync/rwSemaphore.js";
import type { SyncKernel } from "../sync/syncKernel.js";
import type { MmuNotifierSubscriptions } from "./subscriptions.js";

/** The address space as the notifier core sees it. */
export interface NotifierMm {
  /** Trace object id of the mm. */
  readonly id: number;
  readonly name: string;
  readonly kernel: SyncKernel;
  /** `mm->mmap_lock` (lock class "mmap_lock"). */
  readonly mmapLock: RwSemaphore;
  /** `mm_users`: 0 once the last user is gone (the mm is dead; its tables are being torn down). */
  readonly users: number;
  /** `mm_count`: structural references; the mm struct lives while it is positive. */
  readonly count: number;
  /** `mm->notifier_subscriptions`. */
  readonly notifiers: MmuNotifierSubscriptions;
  /** True to reproduce the kernel-spec §6.5 hazard (see MmuNotifierSubscriptions). Default false. */
  readonly nonblockHazard?: boolean;
  /** `mmgrab()`: takes a structural reference; pairs with `mmdrop`. */
  mmgrab(): void;
  /** `mmdrop()`: drops a structural reference; pairs with `mmgrab`. */
  mmdrop(): void;
  /**
   * `mm_take_all_locks()`: excludes every invalidation of the mm (0, or a negative errno such as
   * -EINTR). Optional: an mm without VMAs has nothing to take. Pairs with `dropAllLocks`.
   */
  takeAllLocks?(): number | Promise<number>;
  /** `mm_drop_all_locks()`; pairs with `takeAllLocks`. */
  dropAllLocks?(): void;
}
