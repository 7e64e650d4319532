// Follows kernel/fork.c (dup_mm, dup_mmap) and mm/memory.c (copy_page_range): the child's address
// space at fork.
//
// With the parent's mmap lock held for write, every area is copied. Shared areas share their object
// (the child faults their pages in later). A private area that holds anonymous pages is a COW
// mapping: copy_page_range raises one PROTECTION_PAGE invalidation on the parent over the whole area,
// write-protects every present PTE of the parent, and gives the child the same frames read-only (one
// more reference and mapping each); swap entries are shared (swap_duplicate). A later write in either
// faults and copies (a CLEAR invalidation in that mm). The child's own mmap lock is not taken: no one
// can reach the child before fork returns.
//
// copy_nonpresent_pte: a device-private entry is shared like a present page (read-only in both: the
// way back to RAM copies on write); a migration entry is copied (read-only in both) and registered,
// so the migration replaces the child's too; a device-exclusive entry is first restored to the
// present PTE in the parent (try_restore_exclusive_pte: the device loses its exclusive access, its
// driver already saw the PROTECTION_PAGE invalidation) and then copied as one.

import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { folioTestLocked } from "./filemap.js";
import { ANON_RW, setPte } from "./memory.js";
import type { Mm, MmOptions } from "./mm.js";
import { withWriteLock } from "./mmap.js";
import { tracePte, traceVmas } from "./mmTrace.js";
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
  type PteTable,
} from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { migrationAdd, rmapAdd } from "./rmap.js";
import { hex, PROT_WRITE, Vma } from "./vma.js";

/** `dup_mm()`: the child address space of a fork of `parent`. */
export async function dupMm(parent: Mm, options: MmOptions = {}): Promise<Mm> {
  parent.checkAlive("fork");
  const k = parent.kernel;
  const childOptions: MmOptions = { nonblockHazard: parent.nonblockHazard, ...options };
  const child = k.createMm(childOptions);
  await withWriteLock(parent, async () => {
    parent.checkAlive("fork");
    for (const vma of parent.vmas.list) {
      if (vma.shmem !== null) vma.shmem.refs++;
      const nv = new Vma(vma.start, vma.end, vma.prot, vma.shmem, vma.pgoff);
      nv.anonVma = vma.anonVma;
      child.vmas.list.push(nv);
      if (k.trace !== null) traceVmas(child);
      if (vma.shared || !vma.anonVma) continue;
      await copyPageRange(parent, child, vma);
    }
  });
  if (k.trace !== null) k.event("note", parent.id, child.id, `fork: ${child.name}`);
  return child;
}

/** `copy_page_range()` of one private area: PROTECTION_PAGE on the parent, PTEs shared read-only. */
async function copyPageRange(parent: Mm, child: Mm, vma: Vma): Promise<void> {
  const k = parent.kernel;
  const ps = k.pageSize;
  const pm = k.physMem;
  const range = mmuNotifierRangeInit(MmuNotifierEvent.PROTECTION_PAGE, parent, vma.start, vma.end);
  const s = parent.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  const p = parent.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    const leaves: [PteTable, number, number, number][] = [];
    parent.pageTable.forEachLeaf(vma.start / ps, vma.end / ps, (l, b, f, t) => leaves.push([l, b, f, t]));
    const tracing = parent.kernel.trace !== null;
    for (const [leaf, base, from, to] of leaves) {
      for (let j = from; j < to; j++) {
        let fl = leaf.flags[j] as number;
        if (fl === 0) continue;
        const val = leaf.val[j] as number;
        const vpn = base + j;
        if (fl & PTE_DEVICE_EXCLUSIVE) {
          // try_restore_exclusive_pte. The page is locked only while make_device_exclusive runs,
          // which holds the mmap lock that fork holds for write.
          if (folioTestLocked(k, val)) k.warn(`fork: restoring ${pm.describe(val)}, which is locked`);
          fl = vma.prot & PROT_WRITE ? ANON_RW : PTE_PRESENT | PTE_YOUNG;
          setPte(parent, vpn, val, fl, MmuNotifierEvent.PROTECTION_PAGE);
        }
        if (fl & (PTE_PRESENT | PTE_PROTNONE)) {
          const ro = fl & ~PTE_WRITE;
          if (fl & PTE_WRITE) setPte(parent, vpn, val, ro, MmuNotifierEvent.PROTECTION_PAGE);
          child.pageTable.set(vpn, val, ro);
          if (val !== ZERO_FRAME) {
            pm.get(val);
            rmapAdd(pm, val, child, vpn * ps);
            child.rss++;
          }
        } else if (fl & PTE_SWAP) {
          pm.swapDup(val);
          child.pageTable.set(vpn, val, fl);
          child.swapEntries++;
        } else if (fl & (PTE_MIGRATION | PTE_DEVICE_PRIVATE)) {
          // copy_nonpresent_pte: a writable entry becomes read-only in both (COW on the way back).
          if (fl & PTE_WRITE) setPte(parent, vpn, val, fl & ~PTE_WRITE, MmuNotifierEvent.PROTECTION_PAGE);
          child.pageTable.set(vpn, val, fl & ~PTE_WRITE);
          if (fl & PTE_MIGRATION) {
            migrationAdd(pm, val, child, vpn * ps);
          } else {
            pm.get(val);
            rmapAdd(pm, val, child, vpn * ps);
            child.rss++;
          }
        }
        if (tracing) tracePte(child, vpn, val, child.pageTable.flagsAt(vpn));
      }
    }
  } finally {
    parent.pageTableLock.unlock();
  }
  const e = parent.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
  if (k.trace !== null)
    k.event("note", parent.id, undefined, `fork: COW [${hex(vma.start)}, ${hex(vma.end)})`);
}
