// Follows mm/mremap.c: shrink (munmap of the tail, with the mmap lock downgraded to read as munmap
// does), grow in place, or move (move_vma -> move_page_tables, then do_vmi_munmap of the old range),
// with the mmap lock held for write. A move to a fixed address first unmaps the destination, then
// the tail that does not move when the mapping shrinks (mremap_to).
//
// A move raises an UNMAP invalidation over the old range while its PTEs are moved to the new one
// (move_page_tables), and then a second UNMAP when the emptied old range is unmapped, as Linux does.
// With MREMAP_DONTUNMAP the old area stays, empty (its pages moved: private memory reads back as
// zeroes there). Growing in place and the new range need no invalidation: nothing a mirror could
// hold changes. Every entry moves as it is, device-private and migration entries included (their
// reverse maps follow).

import { MmunError } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { setPte } from "./memory.js";
import type { Mm } from "./mm.js";
import { checkAligned, doVmiMunmap, getUnmappedArea, pageAlignLength } from "./mmap.js";
import { traceVmas } from "./mmTrace.js";
import { PTE_DEVICE_ENTRY, PTE_MIGRATION, PTE_PRESENT, PTE_PROTNONE } from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { migrationAdd, migrationRemove, rmapAdd, rmapRemove } from "./rmap.js";
import { hex, Vma } from "./vma.js";

/** Options of `mm.mremap()`. */
export interface MremapOptions {
  /** MREMAP_MAYMOVE: the mapping may move when it cannot grow in place. */
  mayMove?: boolean;
  /** MREMAP_FIXED: move to exactly this page-aligned address (needs `mayMove`). */
  newAddr?: number;
  /**
   * MREMAP_DONTUNMAP: move the pages but leave the old area mapped (empty). Needs `mayMove` and the
   * same old and new length.
   */
  dontUnmap?: boolean;
}

/** `mremap()`: returns the mapping's (possibly new) address. */
export async function mremap(
  mm: Mm,
  oldAddr: number,
  oldLength: number,
  newLength: number,
  options: MremapOptions = {},
): Promise<number> {
  mm.checkAlive("mremap");
  checkAligned(mm, oldAddr, "mremap");
  const oldLen = pageAlignLength(mm, oldLength, "mremap");
  const newLen = pageAlignLength(mm, newLength, "mremap");
  const mayMove = options.mayMove === true;
  const dontUnmap = options.dontUnmap === true;
  if (dontUnmap && (!mayMove || oldLen !== newLen)) {
    throw new MmunError(
      "EINVAL",
      "mremap: dontUnmap (MREMAP_DONTUNMAP) needs mayMove and an unchanged length",
    );
  }
  const fixed = options.newAddr;
  if (fixed !== undefined) {
    if (!mayMove) throw new MmunError("EINVAL", "mremap: newAddr (MREMAP_FIXED) needs mayMove");
    checkAligned(mm, fixed, "mremap");
    if (fixed + newLen > mm.taskSize)
      throw new MmunError("EINVAL", `mremap: ${hex(fixed)} + ${newLen} is outside user space`);
    if (fixed < oldAddr + oldLen && oldAddr < fixed + newLen) {
      throw new MmunError("EINVAL", "mremap: the new range overlaps the old one");
    }
  }
  const ps = mm.kernel.pageSize;
  const lk = mm.mmapLock;
  const p = lk.downWrite();
  if (p !== undefined) await p;
  let locked = true; // false once a shrink's munmap released the lock
  try {
    const vma = mm.vmas.find(oldAddr);
    if (vma === undefined || oldAddr + oldLen > vma.end) {
      throw new MmunError(
        "EFAULT",
        `mremap: [${hex(oldAddr)}, ${hex(oldAddr + oldLen)}) is not one mapping of ${mm.name}`,
      );
    }
    if (fixed !== undefined) {
      // mremap_to: the destination is unmapped, then the tail that does not move.
      await doVmiMunmap(mm, fixed, fixed + newLen);
      let len = oldLen;
      if (newLen < oldLen) {
        await doVmiMunmap(mm, oldAddr + newLen, oldAddr + oldLen);
        len = newLen;
      }
      // The unmaps may have split the area: look it up again (vma_to_resize).
      return await moveVma(mm, mm.vmas.find(oldAddr) as Vma, oldAddr, len, newLen, fixed, dontUnmap);
    }
    if (dontUnmap) {
      return await moveVma(mm, vma, oldAddr, oldLen, newLen, getUnmappedArea(mm, newLen, undefined), true);
    }
    if (newLen <= oldLen) {
      if (newLen < oldLen) {
        // Shrinking unmaps the tail as munmap does (the lock downgraded to read, then released).
        locked = false;
        await doVmiMunmap(mm, oldAddr + newLen, oldAddr + oldLen, true);
      }
      return oldAddr;
    }
    const oldEnd = oldAddr + oldLen;
    if (
      oldEnd === vma.end &&
      oldAddr + newLen <= mm.taskSize &&
      mm.vmas.intersecting(oldEnd, oldAddr + newLen).length === 0
    ) {
      vma.end = oldAddr + newLen;
      mm.vmas.mergeAround(vma.start, vma.end, ps);
      if (mm.kernel.trace !== null) traceVmas(mm);
      return oldAddr;
    }
    if (!mayMove) throw new MmunError("ENOMEM", `mremap: [${hex(oldAddr)}, +${newLen}) cannot grow in place`);
    return await moveVma(mm, vma, oldAddr, oldLen, newLen, getUnmappedArea(mm, newLen, undefined));
  } finally {
    if (locked) lk.upWrite();
  }
}

/** `move_vma()`: a new area at `to`, the PTEs moved into it, the old range unmapped (unless `dontUnmap`). */
async function moveVma(
  mm: Mm,
  vma: Vma,
  from: number,
  oldLen: number,
  newLen: number,
  to: number,
  dontUnmap = false,
): Promise<number> {
  const ps = mm.kernel.pageSize;
  const moved = Math.min(oldLen, newLen);
  const shmem = vma.shmem;
  if (shmem !== null) shmem.refs++;
  const nv = new Vma(to, to + newLen, vma.prot, shmem, vma.pgoffOf(from, ps));
  nv.anonVma = vma.anonVma; // the moved anonymous pages keep their anon_vma (copy_vma)
  mm.vmas.insert(nv);
  if (mm.kernel.trace !== null) traceVmas(mm);
  // move_page_tables: UNMAP over the old range while its PTEs move.
  const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, mm, from, from + oldLen);
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    const pm = mm.kernel.physMem;
    const pt = mm.pageTable;
    const entries: [number, number, number][] = [];
    pt.forEachLeaf(from / ps, (from + moved) / ps, (leaf, base, a, b) => {
      for (let j = a; j < b; j++) {
        const fl = leaf.flags[j] as number;
        if (fl !== 0) entries.push([base + j, leaf.val[j] as number, fl]);
      }
    });
    const delta = (to - from) / ps;
    for (const [vpn, val, fl] of entries) {
      setPte(mm, vpn, 0, 0, MmuNotifierEvent.UNMAP);
      setPte(mm, vpn + delta, val, fl, MmuNotifierEvent.UNMAP);
      if (fl & (PTE_PRESENT | PTE_PROTNONE | PTE_DEVICE_ENTRY) && val !== ZERO_FRAME) {
        rmapRemove(pm, val, mm, vpn * ps);
        rmapAdd(pm, val, mm, (vpn + delta) * ps);
      } else if (fl & PTE_MIGRATION) {
        migrationRemove(pm, val, mm, vpn * ps);
        migrationAdd(pm, val, mm, (vpn + delta) * ps);
      }
    }
  } finally {
    mm.pageTableLock.unlock();
  }
  const e = mm.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
  if (!dontUnmap) await doVmiMunmap(mm, from, from + oldLen);
  mm.vmas.mergeAround(to, to + newLen, ps);
  const k = mm.kernel;
  if (k.trace !== null) {
    k.event("note", mm.id, to, `mremap [${hex(from)}, +${oldLen}) -> [${hex(to)}, +${newLen})`);
    traceVmas(mm);
  }
  return to;
}
