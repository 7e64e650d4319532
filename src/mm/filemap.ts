// Follows mm/filemap.c (folio_lock, folio_trylock, folio_unlock, folio_wait_locked) and
// include/linux/pagemap.h: the page lock (PG_locked).
//
// Migration locks every page it moves from collection to the end (mm/migrate_device.c), a CPU fault
// on a device-private page locks it around the owner's `migrateToRam`, and make_device_exclusive
// returns its page locked. A lock is one bit of `physMem.pageFlags`; whoever finds it taken either
// gives up (trylock: migration treats the page as busy) or sleeps on the kernel's folio wait queue,
// which every unlock wakes.

import type { Kernel } from "./kernel.js";
import { PG_LOCKED } from "./physMem.js";

/** `folio_test_locked()`. */
export function folioTestLocked(k: Kernel, f: number): boolean {
  return ((k.physMem.pageFlags[f] as number) & PG_LOCKED) !== 0;
}

/** `folio_trylock()`: takes the lock of page `f` if it is free; true when taken. Pairs with folioUnlock. */
export function folioTrylock(k: Kernel, f: number): boolean {
  const pf = k.physMem.pageFlags;
  const v = pf[f] as number;
  if (v & PG_LOCKED) return false;
  pf[f] = v | PG_LOCKED;
  return true;
}

/** `folio_lock()`: takes the lock of page `f`, sleeping while another holds it. Pairs with folioUnlock. */
export function folioLock(k: Kernel, f: number): undefined | Promise<undefined> {
  if (folioTrylock(k, f)) return undefined;
  return folioWaitLocked(k, f)?.then(() => folioLock(k, f)) ?? folioLock(k, f);
}

/** `folio_unlock()`: releases the lock of page `f` and wakes whoever waits on a page lock. */
export function folioUnlock(k: Kernel, f: number): void {
  const pf = k.physMem.pageFlags;
  const v = pf[f] as number;
  if (!(v & PG_LOCKED)) {
    k.warn(`folio_unlock of ${k.physMem.describe(f)}, which is not locked`);
    return;
  }
  pf[f] = v & ~PG_LOCKED;
  k.folioWait.wakeUpAll();
}

/** `folio_wait_locked()`: sleeps until page `f` is unlocked (without taking the lock). */
export function folioWaitLocked(k: Kernel, f: number): undefined | Promise<void> {
  // physMem's arrays are replaced when they grow: look them up at every check.
  const pm = k.physMem;
  return k.folioWait.waitEvent(() => ((pm.pageFlags[f] as number) & PG_LOCKED) === 0);
}
