// Follows lib/test_hmm.c (dmirror_exclusive, dmirror_atomic_map, dmirror_check_atomic):
// HMM_DMIRROR_EXCLUSIVE and HMM_DMIRROR_CHECK_EXCLUSIVE, through make_device_exclusive
// (src/hmm/deviceExclusive.ts).
//
// EXCLUSIVE takes the mmap lock for read and, page by page, makes the CPU PTE a device-exclusive
// entry (an EXCLUSIVE invalidation, with owner NULL as the kernel driver passes it: this mirror too
// drops its translation of the page), maps the page on the device page table with the ATOMIC tag
// under the mutex, then unlocks and drops the page. It ends by reading the range back through the
// device page table. A CPU access to one of the pages later restores its PTE under a CLEAR
// invalidation, which erases the ATOMIC translation: CHECK_EXCLUSIVE says -EPERM while any is left.

import { makeDeviceExclusive } from "../../hmm/deviceExclusive.js";
import { EINVAL, EPERM } from "../../lib/errno.js";
import { folioUnlock } from "../../mm/filemap.js";
import type { Cmd, CmdOutputs, Dmirror } from "./mirror.js";
import { dmirrorReadBack } from "./readWrite.js";

/** `dmirror_exclusive()`: HMM_DMIRROR_EXCLUSIVE (see the header). */
export async function dmirrorExclusive(m: Dmirror, c: Cmd, out: CmdOutputs): Promise<number> {
  const mm = m.mm;
  const k = mm.kernel;
  const ps = k.pageSize;
  const end = c.addr + c.npages * ps;
  // Pairs with the mmput below.
  if (!mm.mmgetNotZero()) return -EINVAL;
  let ret = 0;
  try {
    const lk = mm.mmapLock;
    const p = lk.downRead();
    if (p !== undefined) await p;
    try {
      for (let addr = c.addr; ret === 0 && addr < end; addr += ps) {
        const page = await makeDeviceExclusive(mm, addr, undefined);
        if (page < 0) {
          ret = page;
          break;
        }
        ret = await dmirrorAtomicMap(m, addr, page);
        // Pairs with make_device_exclusive's lock and reference.
        folioUnlock(k, page);
        k.physMem.put(page);
      }
    } finally {
      lk.upRead();
    }
  } finally {
    const p = mm.mmput();
    if (p !== undefined) await p;
  }
  if (ret !== 0) return ret;
  // Return the data for verification.
  return dmirrorReadBack(m, c, out);
}

/** `dmirror_atomic_map()`: maps `page` at `addr` on the device page table with the ATOMIC tag, under the mutex. */
async function dmirrorAtomicMap(m: Dmirror, addr: number, page: number): Promise<number> {
  const l = m.mutex.lock();
  if (l !== undefined) await l;
  try {
    m.pt.map(m.mm, addr, page, { atomic: true });
  } finally {
    m.mutex.unlock();
  }
  return 0;
}

/** `dmirror_check_atomic()`: -EPERM if any page of `[addr, addr + npages pages)` is still mapped ATOMIC. */
export function dmirrorCheckAtomic(m: Dmirror, addr: number, npages: number): number {
  const ps = m.mm.kernel.pageSize;
  for (let i = 0; i < npages; i++) {
    if (m.pt.lookup(m.mm, addr + i * ps)?.atomic === true) return -EPERM;
  }
  return 0;
}
