// Follows mm/vmscan.c (shrink_folio_list) and mm/rmap.c (try_to_unmap, try_to_unmap_one): reclaim
// swaps pages out, reaching every mapping of each page through the reverse map.
//
// Reclaim runs without any mmap lock (kswapd holds none): it picks the resident frames of a range,
// takes a reference on each (isolation), writes it to swap (a sleep: a scheduling point), and then,
// for every (mm, address) that maps it, raises a CLEAR invalidation over that page in that mm and,
// under that mm's page-table lock, replaces the PTE with a swap entry if it still maps the frame.
// Shared memory pages leave their object for swap and their PTEs become none. Frames freed by the
// last put go back to the allocator. Device pages are not on the LRU lists: reclaim leaves device
// memory (a device-coherent page mapped present, a device-private or device-exclusive entry) alone.

import { MmunError } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { setPte } from "./memory.js";
import type { Mm } from "./mm.js";
import { checkAligned, pageAlignLength } from "./mmap.js";
import { PTE_PRESENT, PTE_PROTNONE, PTE_SWAP } from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { rmapRemove, rmapWalk } from "./rmap.js";

/** Reclaims the resident pages of `[addr, addr + length)` of `mm`; returns the pages swapped out. */
export async function reclaimRange(mm: Mm, addr: number, length: number): Promise<number> {
  mm.checkAlive("reclaim");
  checkAligned(mm, addr, "reclaim");
  const len = pageAlignLength(mm, length, "reclaim");
  const k = mm.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  // Isolate: a reference on every resident frame of the range (under the page-table lock).
  const frames: number[] = [];
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    mm.pageTable.forEachLeaf(addr / ps, (addr + len) / ps, (leaf, _base, from, to) => {
      for (let j = from; j < to; j++) {
        const fl = leaf.flags[j] as number;
        const f = leaf.val[j] as number;
        if (fl & (PTE_PRESENT | PTE_PROTNONE) && f !== ZERO_FRAME && !pm.isDevice(f) && !frames.includes(f)) {
          pm.get(f);
          frames.push(f);
        }
      }
    });
  } finally {
    mm.pageTableLock.unlock();
  }
  let swapped = 0;
  for (const f of frames) {
    if (await reclaimFrame(mm, f)) swapped++;
    pm.put(f);
  }
  if (k.trace !== null) k.event("note", mm.id, swapped, `reclaim: ${swapped} page(s) swapped out`);
  return swapped;
}

/** Writes frame `f` to swap and unmaps it everywhere (`try_to_unmap`); true when no PTE maps it any more. */
async function reclaimFrame(origin: Mm, f: number): Promise<boolean> {
  const k = origin.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  const io = k.point("swap-out");
  if (io !== undefined) await io;
  if (!pm.isLive(f)) return false;
  let slot = -1;
  let shared: { vma: NonNullable<ReturnType<Mm["vmas"]["find"]>>; addr: number } | undefined;
  for (const { mm, addr } of rmapWalk<Mm>(pm, f)) {
    const vma = mm.vmas.find(addr);
    if (vma?.shmem != null && shared === undefined) shared = { vma, addr };
    const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, addr, addr + ps);
    const s = mm.notifiers.invalidateRangeStart(range);
    if (s !== undefined) await s;
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      const vpn = addr / ps;
      const fl = mm.pageTable.flagsAt(vpn);
      if (fl & (PTE_PRESENT | PTE_PROTNONE) && mm.pageTable.valAt(vpn) === f) {
        if (vma?.shmem != null) {
          setPte(mm, vpn, 0, 0, MmuNotifierEvent.CLEAR);
        } else {
          // The swap cache holds the slot (swapOut's reference) until reclaim is done with the
          // page, so a PTE that gets it and is zapped meanwhile cannot free it under the others.
          if (slot < 0) slot = pm.swapOut(f);
          pm.swapDup(slot);
          setPte(mm, vpn, slot, PTE_SWAP, MmuNotifierEvent.CLEAR);
          mm.swapEntries++;
        }
        rmapRemove(pm, f, mm, addr);
        pm.put(f);
        mm.rss--;
      }
    } finally {
      mm.pageTableLock.unlock();
    }
    const e = mm.notifiers.invalidateRangeEnd(range);
    if (e !== undefined) await e;
  }
  if (slot >= 0) pm.swapFree(slot); // the swap cache lets go: pairs with swapOut
  if (pm.mapcount[f] !== 0) return false;
  if (shared !== undefined) {
    // __remove_mapping: the page leaves its object only when no one but the object and reclaim holds
    // it (a fault about to map it keeps it where it is).
    if (pm.refcount[f] !== 2) return false;
    // The object's own reference: the page moves to swap.
    const obj = shared.vma.shmem;
    if (obj === null) throw new MmunError("EINVAL", "BUG: shared page without an object");
    const off = shared.vma.pgoffOf(shared.addr, ps);
    if (obj.pages.get(off) === f) {
      obj.pages.delete(off);
      obj.swapped.set(off, pm.swapOut(f));
      pm.put(f);
    }
  }
  return true;
}
