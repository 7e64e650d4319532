// Follows mm/rmap.c (make_device_exclusive, since ~6.15) and mm/memory.c (the CPU side,
// remove_device_exclusive_entry, in src/mm/memory.ts): giving a device exclusive access to one page,
// for atomics the device cannot do on memory the CPU may touch.
//
// With the mmap lock held for read, the page is faulted in for write (GUP with FOLL_WRITE: breaking
// copy on write, so the page is this process's alone), referenced and locked; an EXCLUSIVE
// invalidation over the page carries the caller's owner (so its own mirror may skip it); under the
// page-table lock, if the PTE still maps that page writable, it becomes a device-exclusive entry: the
// page stays mapped (reference, mapcount, reverse map) but the CPU cannot reach it. The caller gets the
// page locked and referenced, maps it atomically on its device, then unlocks and drops it. Any CPU
// access later restores the PTE (a CLEAR invalidation, owner NULL), and so do fork (the parent's
// entries), while mprotect, munmap and the rest invalidate the range as usual.

import { EAGAIN, EFAULT, ENOMEM, EOPNOTSUPP } from "../lib/errno.js";
import { folioLock, folioUnlock } from "../mm/filemap.js";
import { faultIn, setPte } from "../mm/memory.js";
import type { Mm } from "../mm/mm.js";
import { PTE_DEVICE_EXCLUSIVE, PTE_PRESENT, PTE_WRITE } from "../mm/pageTable.js";
import { ZERO_FRAME } from "../mm/physMem.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";

/** How many times the page is faulted in again before giving up (the kernel retries without bound). */
const MAX_TRIES = 16;

/**
 * `make_device_exclusive()`: makes the PTE of `addr` in `mm` a device-exclusive entry (see the
 * header). The caller holds `mm.mmapLock` (read). Returns the page (a frame, locked and referenced:
 * the caller pairs it with `folioUnlock` and `physMem.put`), or -EFAULT (no writable area there, or
 * the fault failed), -ENOMEM, or -EOPNOTSUPP (shared memory: only anonymous pages).
 */
export async function makeDeviceExclusive(mm: Mm, addr: number, owner?: unknown): Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  k.assertHeld(mm.mmapLock);
  k.mightSleep("make_device_exclusive");
  const start = addr - (addr % ps);
  const vpn = start / ps;
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    // get_user_page_vma_remote(FOLL_GET | FOLL_WRITE): a writable present PTE.
    const vma = mm.vmas.find(start);
    if (vma === undefined) return -EFAULT;
    const fl = mm.pageTable.flagsAt(vpn);
    if (!(fl & PTE_PRESENT) || !(fl & PTE_WRITE)) {
      const r = faultIn(mm, start, true);
      const v = typeof r === "number" ? r : await r;
      // -EAGAIN: the fault waited (a migration, a page lock): look again.
      if (v < 0 && v !== -EAGAIN) return v === -ENOMEM ? v : -EFAULT;
      continue;
    }
    const page = mm.pageTable.valAt(vpn);
    if (page === ZERO_FRAME) return -EFAULT;
    if (vma.shmem !== null) return -EOPNOTSUPP;
    pm.get(page); // the caller's reference
    const l = folioLock(k, page);
    if (l !== undefined) await l;
    const range = mmuNotifierRangeInit(MmuNotifierEvent.EXCLUSIVE, mm, start, start + ps, owner);
    const s = mm.notifiers.invalidateRangeStart(range);
    if (s !== undefined) await s;
    let done = false;
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      const now = mm.pageTable.flagsAt(vpn);
      if (now & PTE_PRESENT && now & PTE_WRITE && mm.pageTable.valAt(vpn) === page) {
        setPte(mm, vpn, page, PTE_DEVICE_EXCLUSIVE | PTE_WRITE, MmuNotifierEvent.EXCLUSIVE, owner);
        done = true;
      }
    } finally {
      mm.pageTableLock.unlock();
    }
    const e = mm.notifiers.invalidateRangeEnd(range);
    if (e !== undefined) await e;
    if (done) return page;
    // The PTE changed meanwhile: let go and start over.
    folioUnlock(k, page);
    pm.put(page);
  }
  return -EFAULT;
}
