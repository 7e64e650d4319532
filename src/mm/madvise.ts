// Follows mm/madvise.c: madvise(MADV_DONTNEED) -> zap_page_range_single, and MADV_FREE ->
// madvise_free_single_vma, with the mmap lock held for read. Each area part gets one CLEAR
// invalidation over the part (raised whether or not anything is mapped there), then:
//   dontneed  its PTEs are zapped: private memory reads back as zeroes afterwards, shared memory is
//             faulted back from its object;
//   free      (private areas only: EINVAL otherwise) swap entries are dropped (those pages read back
//             as zeroes), and present pages only this PTE maps are marked clean and old: the kernel
//             may then discard them at reclaim instead of swapping them, unless they are written
//             again. Reclaim here keeps them (a legal outcome: the kernel may keep them too).
//             Device-private, migration and device-exclusive entries are left alone, as Linux does.

import { MmunError } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { setPte, zapRange } from "./memory.js";
import type { Mm } from "./mm.js";
import { checkAligned, pageAlignLength, withReadLock } from "./mmap.js";
import { tracePte } from "./mmTrace.js";
import { PTE_DIRTY, PTE_PRESENT, PTE_SWAP, PTE_YOUNG } from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { hex } from "./vma.js";

/** The advice mmun models: MADV_DONTNEED and MADV_FREE. */
export type MadviseAdvice = "dontneed" | "free";

/**
 * `madvise()`: applies `advice` to the mapped parts of `[addr, addr + length)`; throws ENOMEM
 * afterwards, as Linux returns it, when part of the range was not mapped, and EINVAL (changing
 * nothing) for MADV_FREE over shared memory.
 */
export async function madvise(mm: Mm, addr: number, length: number, advice: MadviseAdvice): Promise<void> {
  mm.checkAlive("madvise");
  if (advice !== "dontneed" && advice !== "free")
    throw new MmunError("EINVAL", `madvise: unknown advice ${JSON.stringify(advice)}`);
  checkAligned(mm, addr, "madvise");
  if (length === 0) return;
  const len = pageAlignLength(mm, length, "madvise");
  const end = addr + len;
  const ps = mm.kernel.pageSize;
  await withReadLock(mm, async () => {
    const parts = mm.vmas.intersecting(addr, end);
    if (advice === "free" && parts.some((v) => v.shared)) {
      throw new MmunError("EINVAL", "madvise: MADV_FREE applies to private anonymous memory only");
    }
    for (const vma of parts) {
      const s = Math.max(addr, vma.start);
      const e = Math.min(end, vma.end);
      const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, s, e);
      const st = mm.notifiers.invalidateRangeStart(range);
      if (st !== undefined) await st;
      if (advice === "dontneed") {
        const z = zapRange(mm, s / ps, e / ps, MmuNotifierEvent.CLEAR);
        if (z !== undefined) await z;
      } else {
        await madviseFreeRange(mm, s / ps, e / ps);
      }
      const en = mm.notifiers.invalidateRangeEnd(range);
      if (en !== undefined) await en;
    }
    if (!mm.vmas.covers(addr, end)) {
      throw new MmunError(
        "ENOMEM",
        `madvise: [${hex(addr)}, ${hex(end)}) is not entirely mapped in ${mm.name}`,
      );
    }
  });
}

/** `madvise_free_pte_range()` over `[startVpn, endVpn)` of a private area, under the page-table lock. */
async function madviseFreeRange(mm: Mm, startVpn: number, endVpn: number): Promise<void> {
  const pm = mm.kernel.physMem;
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    const swapped: number[] = [];
    mm.pageTable.forEachLeaf(startVpn, endVpn, (leaf, base, from, to) => {
      for (let j = from; j < to; j++) {
        const fl = leaf.flags[j] as number;
        const val = leaf.val[j] as number;
        if (fl & PTE_SWAP) swapped.push(base + j);
        else if (fl & PTE_PRESENT && val !== ZERO_FRAME && pm.mapcount[val] === 1) {
          if (fl & (PTE_DIRTY | PTE_YOUNG)) {
            setPte(mm, base + j, val, fl & ~(PTE_DIRTY | PTE_YOUNG), MmuNotifierEvent.CLEAR);
          }
        }
      }
    });
    for (const vpn of swapped) {
      pm.swapFree(mm.pageTable.valAt(vpn));
      mm.pageTable.set(vpn, 0, 0);
      if (mm.kernel.trace !== null) tracePte(mm, vpn, 0, 0);
      mm.swapEntries--;
    }
  } finally {
    mm.pageTableLock.unlock();
  }
}
