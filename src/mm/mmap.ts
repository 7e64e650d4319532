// Follows mm/mmap.c and mm/vma.c: mmap (do_mmap, get_unmapped_area), munmap (do_vmi_munmap ->
// unmap_region) and exit_mmap.
//
// munmap detaches the areas that intersect the range (the mmap lock held for write), downgrades the
// mmap lock to read, raises one UNMAP invalidation over the whole range (unmap_vmas), zaps the PTEs
// and frees the page tables (vms_complete_munmap_vmas); a range where nothing is mapped raises
// nothing. MAP_FIXED over existing areas and mremap's moves unmap the same way without the downgrade.
// exit_mmap runs at the last mmput: mmu_notifier_release (RELEASE for interval notifiers, `release`
// for classic ones) with no lock, then one UNMAP over the whole address space with the mmap lock held
// for read, then, write-locked, the page tables and areas are freed.

import { MmunError } from "../lib/errno.js";
import { ADDRESS_SPACE_END, MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { zapRange } from "./memory.js";
import type { Mm } from "./mm.js";
import { traceVmas } from "./mmTrace.js";
import { ShmemObject } from "./shmem.js";
import { hex, PROT_MASK, Vma } from "./vma.js";

/** Options of `mm.mmap()`. */
export interface MmapOptions {
  /** Where to map: a hint, or the exact address with `fixed` (page-aligned). */
  addr?: number;
  /** Bytes (rounded up to pages); not 0. */
  length: number;
  /** PROT_READ | PROT_WRITE, or PROT_NONE. */
  prot: number;
  /** MAP_SHARED (shared anonymous memory, kept across fork) instead of MAP_PRIVATE. */
  shared?: boolean;
  /** MAP_FIXED: map exactly at `addr`, unmapping what was there first. */
  fixed?: boolean;
}

/** The gap left below the top of user space (the stack's). */
const STACK_GAP = 2 ** 27;

/** Page-aligned length of `length` bytes, or throws EINVAL / ENOMEM as Linux's mmap does. */
export function pageAlignLength(mm: Mm, length: number, what: string): number {
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new MmunError("EINVAL", `${what}: the length must be a positive integer, got ${String(length)}`);
  }
  const ps = mm.kernel.pageSize;
  const len = Math.ceil(length / ps) * ps;
  if (len > mm.taskSize) throw new MmunError("ENOMEM", `${what}: ${length} bytes do not fit in user space`);
  return len;
}

/** Throws EINVAL unless `addr` is a page-aligned user address. */
export function checkAligned(mm: Mm, addr: number, what: string): void {
  if (!Number.isSafeInteger(addr) || addr < 0 || addr % mm.kernel.pageSize !== 0) {
    throw new MmunError("EINVAL", `${what}: ${String(addr)} is not a page-aligned address`);
  }
}

/** Runs `body` with `mm.mmapLock` held for write. */
export async function withWriteLock<T>(mm: Mm, body: () => Promise<T> | T): Promise<T> {
  const lk = mm.mmapLock;
  const p = lk.downWrite();
  if (p !== undefined) await p;
  try {
    return await body();
  } finally {
    lk.upWrite();
  }
}

/** Runs `body` with `mm.mmapLock` held for read. */
export async function withReadLock<T>(mm: Mm, body: () => Promise<T> | T): Promise<T> {
  const lk = mm.mmapLock;
  const p = lk.downRead();
  if (p !== undefined) await p;
  try {
    return await body();
  } finally {
    lk.upRead();
  }
}

/** `get_unmapped_area()`, top-down: the highest free `len` bytes below the stack gap (or at `hint`). */
export function getUnmappedArea(mm: Mm, len: number, hint: number | undefined): number {
  const top = mm.taskSize - STACK_GAP;
  if (
    hint !== undefined &&
    hint + len <= mm.taskSize &&
    mm.vmas.intersecting(hint, hint + len).length === 0
  ) {
    return hint;
  }
  let end = top;
  const list = mm.vmas.list;
  for (let i = list.length - 1; i >= -1; i--) {
    const v = list[i];
    if (v !== undefined && v.start >= end) continue;
    const gapStart = v === undefined ? 0 : v.end;
    if (end - gapStart >= len) return end - len;
    if (v !== undefined) end = Math.min(end, v.start);
  }
  throw new MmunError("ENOMEM", `mmap: no free range of ${len} bytes in ${mm.name}`);
}

/** `do_mmap()` of anonymous memory: validates, picks the address, maps; returns the address. */
export async function mmap(mm: Mm, options: MmapOptions): Promise<number> {
  if (options === null || typeof options !== "object")
    throw new MmunError("EINVAL", "mmap needs an options object");
  mm.checkAlive("mmap");
  const { prot, fixed = false, shared = false } = options;
  if (!Number.isInteger(prot) || (prot & ~PROT_MASK) !== 0) {
    throw new MmunError("EINVAL", `mmap: unknown prot bits in ${String(prot)} (PROT_READ | PROT_WRITE)`);
  }
  const len = pageAlignLength(mm, options.length, "mmap");
  const ps = mm.kernel.pageSize;
  let hint = options.addr;
  if (fixed || hint !== undefined) {
    if (hint === undefined) throw new MmunError("EINVAL", "mmap: fixed needs addr");
    if (fixed) checkAligned(mm, hint, "mmap");
    else if (!Number.isSafeInteger(hint) || hint < 0)
      throw new MmunError("EINVAL", `mmap: bad addr ${String(hint)}`);
    else hint -= hint % ps;
    if (fixed && hint + len > mm.taskSize) {
      throw new MmunError("ENOMEM", `mmap: [${hex(hint)}, ${hex(hint + len)}) is outside user space`);
    }
  }
  return withWriteLock(mm, async () => {
    mm.checkAlive("mmap");
    const addr = fixed ? (hint as number) : getUnmappedArea(mm, len, hint);
    // MAP_FIXED over existing areas unmaps them first (with their UNMAP invalidation).
    if (fixed) await doVmiMunmap(mm, addr, addr + len);
    const vma = new Vma(addr, addr + len, prot, shared ? new ShmemObject() : null, 0);
    mm.vmas.insert(vma);
    mm.vmas.mergeAround(addr, addr + len, ps);
    const k = mm.kernel;
    if (k.trace !== null) {
      k.event("note", mm.id, addr, `mmap [${hex(addr)}, ${hex(addr + len)}) ${vma}`);
      traceVmas(mm);
    }
    return addr;
  });
}

/**
 * `munmap()`: validates, then unmaps `[addr, addr + length)`: the areas are detached with the mmap
 * lock held for write, which is then downgraded to read for the invalidation and the zap.
 */
export async function munmap(mm: Mm, addr: number, length: number): Promise<void> {
  mm.checkAlive("munmap");
  checkAligned(mm, addr, "munmap");
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new MmunError("EINVAL", `munmap: the length must be a positive integer, got ${String(length)}`);
  }
  const len = Math.ceil(length / mm.kernel.pageSize) * mm.kernel.pageSize;
  if (addr + len > mm.taskSize) {
    throw new MmunError("EINVAL", `munmap: [${hex(addr)}, ${hex(addr + len)}) is outside user space`);
  }
  const p = mm.mmapLock.downWrite();
  if (p !== undefined) await p;
  await doVmiMunmap(mm, addr, addr + len, true);
}

/**
 * `do_vmi_munmap()`: unmaps `[start, end)` if any area intersects it. The caller holds the mmap lock
 * for write. With `unlock` (munmap, mremap's shrink), the lock is downgraded to read once the areas
 * are detached, for the invalidation and the zap, and released before returning (or throwing);
 * without it (MAP_FIXED, mremap's moves) the lock stays held for write.
 */
export async function doVmiMunmap(mm: Mm, start: number, end: number, unlock = false): Promise<void> {
  const lk = mm.mmapLock;
  let detached: Vma[] | null;
  try {
    detached = vmsGatherMunmapVmas(mm, start, end);
  } catch (e) {
    if (unlock) lk.upWrite();
    throw e;
  }
  if (detached === null) {
    if (unlock) lk.upWrite();
    return;
  }
  if (!unlock) return vmsCompleteMunmapVmas(mm, start, end, detached);
  lk.downgradeWrite(); // pairs with upRead below
  try {
    await vmsCompleteMunmapVmas(mm, start, end, detached);
  } finally {
    lk.upRead();
  }
}

/**
 * `vms_gather_munmap_vmas()` and the tree update: splits the areas at the ends of `[start, end)` and
 * detaches those inside (from then on, faults there find no area). Returns them, or null when none
 * intersects the range. The caller holds the mmap lock for write.
 */
function vmsGatherMunmapVmas(mm: Mm, start: number, end: number): Vma[] | null {
  mm.kernel.assertHeld(mm.mmapLock);
  if (mm.vmas.intersecting(start, end).length === 0) return null;
  const ps = mm.kernel.pageSize;
  mm.vmas.splitAt(start, ps);
  mm.vmas.splitAt(end, ps);
  const detached = mm.vmas.intersecting(start, end);
  for (const v of detached) mm.vmas.remove(v);
  if (mm.kernel.trace !== null) traceVmas(mm);
  return detached;
}

/**
 * `vms_complete_munmap_vmas()`: one UNMAP invalidation over `[start, end)` around the zap, the page
 * tables freed, then the detached areas dropped. The caller holds the mmap lock (read or write).
 */
async function vmsCompleteMunmapVmas(mm: Mm, start: number, end: number, detached: Vma[]): Promise<void> {
  await unmapRegion(mm, start, end, MmuNotifierEvent.UNMAP);
  for (const v of detached) v.shmem?.release(mm.kernel.physMem);
  const k = mm.kernel;
  if (k.trace !== null) k.event("note", mm.id, start, `munmap [${hex(start)}, ${hex(end)})`);
}

/** `unmap_region()`: `unmap_vmas` over `[start, end)`, then `free_pgtables`. */
export async function unmapRegion(
  mm: Mm,
  start: number,
  end: number,
  event: MmuNotifierEvent,
): Promise<void> {
  const ps = mm.kernel.pageSize;
  const startVpn = Math.floor(start / ps);
  const endVpn = Math.ceil(Math.min(end, mm.taskSize + ps) / ps);
  await unmapVmas(mm, start, end, event);
  mm.pageTable.freeEmpty(startVpn, endVpn);
}

/** `unmap_vmas()`: the invalidation of `[start, end)` around zapping its PTEs. */
async function unmapVmas(mm: Mm, start: number, end: number, event: MmuNotifierEvent): Promise<void> {
  const range = mmuNotifierRangeInit(event, mm, start, end);
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  const ps = mm.kernel.pageSize;
  const z = zapRange(mm, Math.floor(start / ps), Math.ceil(Math.min(end, mm.taskSize + ps) / ps), event);
  if (z !== undefined) await z;
  const e = mm.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
}

/**
 * `exit_mmap()`: `mmu_notifier_release` (RELEASE to interval notifiers, `release` to classic ones),
 * then, with the mmap lock held for read, one UNMAP over the whole address space (interval notifiers
 * still registered see it) around the zap; then, write-locked, the page tables and every area are
 * freed.
 */
export async function exitMmap(mm: Mm): Promise<void> {
  const r = mm.notifiers.release();
  if (r !== undefined) await r;
  await withReadLock(mm, () => unmapVmas(mm, 0, ADDRESS_SPACE_END, MmuNotifierEvent.UNMAP));
  await withWriteLock(mm, () => {
    mm.pageTable.freeEmpty(0, mm.taskSize / mm.kernel.pageSize + 1); // free_pgtables
    const pm = mm.kernel.physMem;
    for (const v of [...mm.vmas.list]) {
      mm.vmas.remove(v);
      v.shmem?.release(pm);
    }
    if (mm.kernel.trace !== null) traceVmas(mm);
  });
}
