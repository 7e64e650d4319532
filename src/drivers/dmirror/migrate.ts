// Follows lib/test_hmm.c (dmirror_migrate_to_device, dmirror_migrate_alloc_and_copy,
// dmirror_migrate_finalize_and_map, dmirror_migrate_to_system, dmirror_successful_migrated_pages):
// HMM_DMIRROR_MIGRATE_TO_DEV and HMM_DMIRROR_MIGRATE_TO_SYS, through migrate_vma
// (src/hmm/migrateDevice.ts).
//
//   MIGRATE_TO_DEV                                      MIGRATE_TO_SYS
//   mmget; mmap read lock                               mmget; mmap read lock
//   per area, per piece of at most 512 pages:           per area, per piece of at most 512 pages:
//     no area / no PROT_READ: -EINVAL                     no area / no PROT_READ: -EINVAL
//     migrateVmaSetup(SELECT_SYSTEM, owner = device)      migrateVmaSetup(the device's own kind)
//     a device page for each collected page, copied       a system page for each, copied, the
//       (or left zero); FAIL_ALLOC skips one page           device page table entry erased;
//     migrateVmaPages                                       FAIL_ALLOC: finalize, -ENOMEM
//     map the moved pages, under the mutex                migrateVmaPages; cpages += moved pages
//     migrateVmaFinalize                                  migrateVmaFinalize
//   unlock; mmput                                       unlock; mmput
//   read the range back through the device page
//   table (-ENOENT if a page is not there)
//
// The MIGRATE invalidations carry the device as owner: this device's mirrors ignore them (the
// migration updates the device page table itself, above), every other mirror drops its translations.

import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateVmaFinalize,
  migrateVmaInit,
  migrateVmaPages,
  migrateVmaSetup,
} from "../../hmm/migrateDevice.js";
import { EINVAL, ENOMEM } from "../../lib/errno.js";
import { PTRS_PER_TABLE } from "../../mm/pageTable.js";
import { PROT_READ } from "../../mm/vma.js";
import { dmirrorDevmemFaultAllocAndCopy, dmirrorSelectDevice } from "./devmem.js";
import type { Cmd, CmdOutputs, Dmirror } from "./mirror.js";
import { dmirrorReadBack } from "./readWrite.js";
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from "./uapi.js";

/** Pages per migrate_vma call (`PTRS_PER_PTE`). */
const PIECE_PAGES = PTRS_PER_TABLE;

/**
 * Runs `step` on every piece of `[c.addr, c.addr + npages pages)` (at most 512 pages, within one
 * area) with the mmap lock held for read: -EINVAL at a piece without an area or without PROT_READ;
 * otherwise the first non-zero result of `step`, or 0.
 */
async function forEachPiece(
  m: Dmirror,
  c: Cmd,
  flags: number,
  step: (args: MigrateVma) => Promise<number>,
): Promise<number> {
  const mm = m.mm;
  const ps = mm.kernel.pageSize;
  const end = c.addr + c.npages * ps;
  const lk = mm.mmapLock;
  const p = lk.downRead();
  if (p !== undefined) await p;
  try {
    let args: MigrateVma | undefined;
    for (let addr = c.addr; addr < end; ) {
      const vma = mm.vmas.find(addr);
      if (vma === undefined || !(vma.prot & PROT_READ)) return -EINVAL;
      const next = Math.min(end, addr + PIECE_PAGES * ps, vma.end);
      if (args === undefined) args = migrateVmaInit(mm, vma, addr, next, flags, m.device, PIECE_PAGES);
      args.vma = vma;
      args.start = addr;
      args.end = next;
      const ret = await step(args);
      if (ret !== 0) return ret;
      addr = next;
    }
    return 0;
  } finally {
    lk.upRead();
  }
}

/** `dmirror_migrate_to_device()`: HMM_DMIRROR_MIGRATE_TO_DEV (see the header). */
export async function dmirrorMigrateToDevice(m: Dmirror, c: Cmd, out: CmdOutputs): Promise<number> {
  const mm = m.mm;
  // Pairs with the mmput below.
  if (!mm.mmgetNotZero()) return -EINVAL;
  let ret: number;
  try {
    ret = await forEachPiece(m, c, MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND, async (args) => {
      const r = await migrateVmaSetup(args);
      if (r !== 0) return r;
      dmirrorMigrateAllocAndCopy(args, m);
      await migrateVmaPages(args);
      await dmirrorMigrateFinalizeAndMap(args, m);
      await migrateVmaFinalize(args);
      return 0;
    });
  } finally {
    const p = mm.mmput();
    if (p !== undefined) await p;
  }
  if (ret !== 0) return ret;
  // Return the migrated data for verification: only pages the device page table maps.
  return dmirrorReadBack(m, c, out);
}

/**
 * `dmirror_migrate_alloc_and_copy()`: a device page for every collected page (an empty PTE or the
 * zero page gets a zeroed one), the source copied into it; writable where the source was. The
 * one-shot HMM_DMIRROR_FLAG_FAIL_ALLOC fails one allocation: that page is skipped (it stays in system
 * memory).
 */
function dmirrorMigrateAllocAndCopy(args: MigrateVma, m: Dmirror): void {
  const k = args.mm.kernel;
  const pm = k.physMem;
  const devmem = m.device.devmem;
  for (let i = 0; i < args.npages; i++) {
    const sf = args.srcFlags[i] as number;
    if (!(sf & MIGRATE_PFN_MIGRATE)) continue;
    // The source may be absent: an empty PTE or the read-only zero page.
    const spage = sf & MIGRATE_PFN_VALID ? (args.src[i] as number) : -1;
    if (spage >= 0 && pm.isDevice(spage)) {
      k.warn(`${m}: ${pm.describe(spage)} is already in device memory`);
      continue;
    }
    let dpage = -1;
    if (m.flagBits & HMM_DMIRROR_FLAG_FAIL_ALLOC) m.flagBits &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    else dpage = devmem.allocPage(m);
    if (dpage < 0) continue;
    args.dst[i] = dpage;
    args.dstFlags[i] = MIGRATE_PFN_VALID | (sf & MIGRATE_PFN_WRITE);
    // A new device page reads as zeroes: only a source page has contents to copy.
    if (spage >= 0) pm.copy(spage, dpage);
  }
}

/**
 * `dmirror_migrate_finalize_and_map()`: under the mutex, maps every page that moved on the device
 * page table (writable where the source was), before the migration entries are replaced.
 */
async function dmirrorMigrateFinalizeAndMap(args: MigrateVma, m: Dmirror): Promise<void> {
  const ps = args.mm.kernel.pageSize;
  const l = m.mutex.lock();
  if (l !== undefined) await l;
  try {
    for (let i = 0; i < args.npages; i++) {
      if (!((args.srcFlags[i] as number) & MIGRATE_PFN_MIGRATE)) continue;
      const df = args.dstFlags[i] as number;
      if (!(df & MIGRATE_PFN_VALID)) continue;
      m.pt.map(args.mm, args.start + i * ps, args.dst[i] as number, {
        write: (df & MIGRATE_PFN_WRITE) !== 0,
      });
    }
  } finally {
    m.mutex.unlock();
  }
}

/** `dmirror_migrate_to_system()`: HMM_DMIRROR_MIGRATE_TO_SYS (see the header); `cpages` = pages moved. */
export async function dmirrorMigrateToSystem(m: Dmirror, c: Cmd, out: CmdOutputs): Promise<number> {
  const mm = m.mm;
  // Pairs with the mmput below.
  if (!mm.mmgetNotZero()) return -EINVAL;
  out.cpages = 0;
  try {
    return await forEachPiece(
      m,
      c,
      dmirrorSelectDevice(m.device) | MIGRATE_VMA_SELECT_COMPOUND,
      async (args) => {
        const r = await migrateVmaSetup(args);
        if (r !== 0) return r;
        if (dmirrorDevmemFaultAllocAndCopy(args, m) !== 0) {
          await migrateVmaFinalize(args);
          return -ENOMEM;
        }
        await migrateVmaPages(args);
        out.cpages += dmirrorSuccessfulMigratedPages(args);
        await migrateVmaFinalize(args);
        return 0;
      },
    );
  } finally {
    const p = mm.mmput();
    if (p !== undefined) await p;
  }
}

/** `dmirror_successful_migrated_pages()`: entries with a source page still marked MIGRATE. */
function dmirrorSuccessfulMigratedPages(args: MigrateVma): number {
  let n = 0;
  const want = MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE;
  for (let i = 0; i < args.npages; i++) if (((args.srcFlags[i] as number) & want) === want) n++;
  return n;
}
