// Follows mm/mprotect.c: mprotect -> mprotect_fixup (split and merge the areas) -> change_protection.
//
// An area part that already has the new protection is left alone (mprotect_fixup returns early). For
// each other part, change_protection raises one PROTECTION_VMA invalidation, lazily: from the first
// address whose PUD-level table exists (the walk meets no page table before it) to the end of the
// part, and none at all when the part has no page tables. Then, under the page-table lock, present
// PTEs lose WRITE when the new prot has no PROT_WRITE, become PROT_NONE entries (mapped, inaccessible)
// when it is PROT_NONE, and become present again (read-only: a write fault makes a private page
// writable in place, or copies it) when it leaves PROT_NONE. Adding PROT_WRITE changes no PTE.
// Migration, device-private and device-exclusive entries lose WRITE with the area (the page comes
// back read-only); they stay what they are otherwise.

import { MmunError } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { setPte } from "./memory.js";
import type { Mm } from "./mm.js";
import { checkAligned, pageAlignLength, withWriteLock } from "./mmap.js";
import { traceVmas } from "./mmTrace.js";
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
} from "./pageTable.js";

const NONPRESENT_WITH_PAGE = PTE_MIGRATION | PTE_DEVICE_PRIVATE | PTE_DEVICE_EXCLUSIVE;

import { hex, PROT_MASK, PROT_NONE, PROT_WRITE, type Vma } from "./vma.js";

/**
 * `mprotect()` (`do_mprotect_pkey`): validates, then changes the protection of `[addr, addr + length)`
 * area by area from `addr`. Throws ENOMEM when `addr` is not mapped (nothing changes), or, as Linux
 * does, after changing the areas before the first hole when the range has one.
 */
export async function mprotect(mm: Mm, addr: number, length: number, prot: number): Promise<void> {
  mm.checkAlive("mprotect");
  checkAligned(mm, addr, "mprotect");
  if (length === 0) return;
  const len = pageAlignLength(mm, length, "mprotect");
  if (!Number.isInteger(prot) || (prot & ~PROT_MASK) !== 0) {
    throw new MmunError("EINVAL", `mprotect: unknown prot bits in ${String(prot)}`);
  }
  const end = addr + len;
  const ps = mm.kernel.pageSize;
  await withWriteLock(mm, async () => {
    mm.vmas.splitAt(addr, ps);
    let at = addr;
    for (let vma = mm.vmas.find(at); vma !== undefined && at < end; vma = mm.vmas.find(at)) {
      if (vma.end > end) mm.vmas.splitAt(end, ps);
      const old = vma.prot;
      // mprotect_fixup: an area that already has the protection is left alone.
      if (old !== prot) {
        vma.prot = prot;
        if (mm.kernel.trace !== null) traceVmas(mm);
        await changeProtection(mm, vma, old, prot);
      }
      at = vma.end;
    }
    mm.vmas.mergeAround(addr, at, ps);
    const k = mm.kernel;
    if (k.trace !== null) {
      k.event("note", mm.id, addr, `mprotect [${hex(addr)}, ${hex(at)}) prot ${prot}`);
      traceVmas(mm);
    }
    if (at < end) {
      throw new MmunError(
        "ENOMEM",
        `mprotect: [${hex(addr)}, ${hex(end)}) is not entirely mapped in ${mm.name} (changed up to ${hex(at)})`,
      );
    }
  });
}

/** `change_protection()` over one whole area whose prot goes from `old` to `prot`. */
async function changeProtection(mm: Mm, vma: Vma, old: number, prot: number): Promise<void> {
  const ps = mm.kernel.pageSize;
  const startVpn = vma.start / ps;
  const endVpn = vma.end / ps;
  const first = mm.pageTable.firstPopulatedPud(startVpn, endVpn);
  if (first < 0) return;
  const loseWrite = (old & PROT_WRITE) !== 0 && (prot & PROT_WRITE) === 0;
  const toNone = prot === PROT_NONE && old !== PROT_NONE;
  const fromNone = old === PROT_NONE && prot !== PROT_NONE;
  const range = mmuNotifierRangeInit(
    MmuNotifierEvent.PROTECTION_VMA,
    mm,
    Math.max(vma.start, first * ps),
    vma.end,
  );
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  if (loseWrite || toNone || fromNone) {
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      mm.pageTable.forEachLeaf(startVpn, endVpn, (leaf, base, from, to) => {
        for (let j = from; j < to; j++) {
          const fl = leaf.flags[j] as number;
          if (fl & NONPRESENT_WITH_PAGE) {
            // change_pte_range: make_readable_*_entry.
            if (loseWrite && fl & PTE_WRITE) {
              setPte(mm, base + j, leaf.val[j] as number, fl & ~PTE_WRITE, MmuNotifierEvent.PROTECTION_VMA);
            }
            continue;
          }
          if (!(fl & (PTE_PRESENT | PTE_PROTNONE))) continue;
          let nf = fl;
          if (toNone) nf = (fl & ~(PTE_PRESENT | PTE_WRITE)) | PTE_PROTNONE;
          else if (fromNone) nf = (fl & ~(PTE_PROTNONE | PTE_WRITE)) | PTE_PRESENT;
          else if (loseWrite) nf = fl & ~PTE_WRITE;
          if (nf !== fl) setPte(mm, base + j, leaf.val[j] as number, nf, MmuNotifierEvent.PROTECTION_VMA);
        }
      });
    } finally {
      mm.pageTableLock.unlock();
    }
  }
  const e = mm.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
}
