// Follows mm/migrate_device.c (migrate_vma_setup, migrate_vma_collect, migrate_vma_unmap,
// migrate_vma_pages, migrate_vma_insert_page, migrate_vma_finalize, migrate_device_range,
// migrate_device_pages, migrate_device_finalize) and include/linux/migrate.h: moving pages between
// system memory and device memory (memremap.ts) while the process keeps running.
//
// A driver migrates a range of one area in three calls, holding the mmap lock for read throughout:
//
//   migrateVmaSetup      one MIGRATE invalidation over the range, carrying the driver's owner (its
//                        own mirror ignores it: it updates its device page table itself); under the
//                        page-table lock each selected page is locked and its PTE replaced by a
//                        migration entry (CPU faults and hmmRangeFault wait on it); `src` lists them.
//                        Empty PTEs and the zero page of a private area are selected without a
//                        source page (the destination starts zeroed). Then every other mapping of
//                        the collected pages (fork) becomes a migration entry too (try_to_migrate, a
//                        CLEAR invalidation per mapping), and a page still mapped, or referenced by
//                        anyone but the migration, is put back at once (`src` entry cleared).
//   (driver)             allocates destination pages (locked), copies, fills `dst`; it may skip any.
//   migrateVmaPages      commits: an entry without a destination, or whose page gained a reference,
//                        loses MIGRATE; an entry without a source page gets the destination
//                        inserted in its (still empty, or zero-page) PTE under a second MIGRATE
//                        invalidation.
//   (driver)             maps the destinations still marked MIGRATE on its device.
//   migrateVmaFinalize   replaces every migration entry: by the destination where the page moved,
//                        by the source where it did not (restoration); unlocks and drops the
//                        migration's references (the source of a moved page is freed), and wakes
//                        whoever waits on a migration entry.
//
// Selection (`flags`): MIGRATE_VMA_SELECT_SYSTEM takes system pages (and empty PTEs and the zero
// page); SELECT_DEVICE_PRIVATE takes device-private pages whose pagemap owner is `pgmapOwner`;
// SELECT_DEVICE_COHERENT takes device-coherent pages of that owner. A page whose lock is taken is not
// collected (another migration has it: migration is best effort). A page of shared memory is
// collected but fails the reference check (its object holds it) and is put back: only anonymous
// memory moves to a device, as in the kernel (which refuses it later, in migrate_vma_pages).
//
// migrateDeviceRange / migrateDevicePages / migrateDeviceFinalize do the same by device frame rather
// than by address (a driver evicting its memory: every mapping of each page, found through the
// reverse map, becomes a migration entry under a CLEAR invalidation).
//
// Pages are frames; `src` / `dst` hold them and `srcFlags` / `dstFlags` the MIGRATE_PFN_* bits (the
// kernel packs both into one word per page, `migrate_pfn(pfn) | flags`). THP migration
// (SELECT_COMPOUND) is not simulated: the flag is accepted and every page moves alone.

import { EBUSY, EINVAL } from "../lib/errno.js";
import { folioLock, folioTestLocked, folioTrylock, folioUnlock } from "../mm/filemap.js";
import type { Kernel } from "../mm/kernel.js";
import { setPte } from "../mm/memory.js";
import type { Mm } from "../mm/mm.js";
import {
  PTE_DEVICE_ENTRY,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_WRITE,
  PTE_YOUNG,
} from "../mm/pageTable.js";
import { ZERO_FRAME } from "../mm/physMem.js";
import {
  migrationAdd,
  migrationAny,
  migrationRemove,
  migrationWalk,
  rmapAdd,
  rmapRemove,
  rmapWalk,
} from "../mm/rmap.js";
import { hex, PROT_NONE, PROT_WRITE, type Vma } from "../mm/vma.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";

/** `MIGRATE_PFN_VALID`: the entry names a page (`src[i]` / `dst[i]`). */
export const MIGRATE_PFN_VALID = 1 << 0;
/** `MIGRATE_PFN_MIGRATE`: the entry is migrating (collected, and not given up since). */
export const MIGRATE_PFN_MIGRATE = 1 << 1;
/** `MIGRATE_PFN_WRITE`: the source was mapped writable (the destination will be). */
export const MIGRATE_PFN_WRITE = 1 << 3;

/** Select system pages (and the empty PTEs and zero page of a private area). */
export const MIGRATE_VMA_SELECT_SYSTEM = 1 << 0;
/** Select device-private pages of `pgmapOwner`. */
export const MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1;
/** Select device-coherent pages of `pgmapOwner`. */
export const MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2;
/** Select huge pages as one (accepted; huge pages are not simulated). */
export const MIGRATE_VMA_SELECT_COMPOUND = 1 << 3;

/** The per-page arrays of a migration, by frame (`migrate_device_range` and friends). */
export interface MigrateDevice {
  /** Source frames (valid where `srcFlags` has MIGRATE_PFN_VALID). */
  src: Uint32Array;
  srcFlags: Uint8Array;
  /** Destination frames, filled by the driver (valid where `dstFlags` has MIGRATE_PFN_VALID). */
  dst: Uint32Array;
  dstFlags: Uint8Array;
  /** Pages described (set by the setup call). */
  npages: number;
}

/** A migration of `[start, end)` of one area (kernel `struct migrate_vma`). */
export interface MigrateVma extends MigrateDevice {
  /** The address space (the kernel reaches it through `vma->vm_mm`). */
  mm: Mm;
  /** The area `[start, end)` lies in. */
  vma: Vma;
  start: number;
  end: number;
  /** Pages collected (output of setup). */
  cpages: number;
  /** The driver's owner cookie: carried by the MIGRATE invalidations, and what device pages must have. */
  pgmapOwner?: unknown;
  /** MIGRATE_VMA_SELECT_* bits. */
  flags: number;
  /** The device-private page a CPU fault is migrating (`migrate_to_ram`): locked and referenced by the fault. */
  faultPage?: number;
}

/** A MigrateVma over `[start, end)` of `vma` with arrays for `capacity` pages (what a driver allocates once). */
export function migrateVmaInit(
  mm: Mm,
  vma: Vma,
  start: number,
  end: number,
  flags: number,
  pgmapOwner?: unknown,
  capacity = Math.max(0, Math.ceil((end - start) / mm.kernel.pageSize)),
): MigrateVma {
  return {
    mm,
    vma,
    start,
    end,
    flags,
    pgmapOwner,
    src: new Uint32Array(capacity),
    srcFlags: new Uint8Array(capacity),
    dst: new Uint32Array(capacity),
    dstFlags: new Uint8Array(capacity),
    npages: 0,
    cpages: 0,
  };
}

/**
 * `migrate_vma_setup()`: validates `args` (-EINVAL: an unaligned or empty range, one the area does
 * not contain, arrays too short, a fault page that is not a locked device-private page), then
 * collects and unmaps the pages to migrate (see the header). The caller holds `mm.mmapLock` (read).
 * Returns 0 with `src` / `srcFlags` filled, `dst` / `dstFlags` cleared, `npages` and `cpages` set.
 * Pairs with migrateVmaFinalize.
 */
export async function migrateVmaSetup(args: MigrateVma): Promise<number> {
  const { mm, vma, start, end } = args;
  const k = mm.kernel;
  const ps = k.pageSize;
  k.assertHeld(mm.mmapLock);
  k.mightSleep("migrate_vma_setup");
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return -EINVAL;
  if (start % ps !== 0 || end % ps !== 0 || start >= end) return -EINVAL;
  if (vma === undefined || mm.vmas.find(start) !== vma || end > vma.end) return -EINVAL;
  const npages = (end - start) / ps;
  if (
    args.src.length < npages ||
    args.srcFlags.length < npages ||
    args.dst.length < npages ||
    args.dstFlags.length < npages
  ) {
    return -EINVAL;
  }
  const fp = args.faultPage;
  if (fp !== undefined && (k.devicePrivateOwner(fp) === undefined || !folioTestLocked(k, fp))) return -EINVAL;
  args.src.fill(0, 0, npages);
  args.srcFlags.fill(0, 0, npages);
  args.dst.fill(0, 0, npages);
  args.dstFlags.fill(0, 0, npages);
  args.npages = 0;
  args.cpages = 0;
  await migrateVmaCollect(args);
  if (args.cpages !== 0) args.cpages = await migrateDeviceUnmap(k, args, fp);
  if (k.trace !== null) {
    k.event(
      "note",
      mm.id,
      args.cpages,
      `migrate_vma_setup [${hex(start)}, ${hex(end)}): ${args.cpages} page(s)`,
    );
  }
  return 0;
}

/** `migrate_vma_collect()`: the MIGRATE invalidation around the page-table walk. */
async function migrateVmaCollect(args: MigrateVma): Promise<void> {
  const { mm, start, end } = args;
  const range = mmuNotifierRangeInit(MmuNotifierEvent.MIGRATE, mm, start, end, args.pgmapOwner);
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    collectLocked(args);
  } finally {
    mm.pageTableLock.unlock();
  }
  const e = mm.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
}

/** `migrate_vma_collect_pmd()` / `_hole()` over the whole range, under the page-table lock. */
function collectLocked(args: MigrateVma): void {
  const { mm, vma, start, flags } = args;
  const k = mm.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  const pt = mm.pageTable;
  const anon = vma.shmem === null;
  const owner = args.pgmapOwner;
  const { src, srcFlags } = args;
  const npages = (args.end - start) / ps;
  const first = start / ps;
  let cpages = 0;
  for (let i = 0; i < npages; i++) {
    const vpn = first + i;
    const fl = pt.flagsAt(vpn);
    if (fl === 0) {
      // A hole: a private area gets a new page there.
      if (anon) {
        srcFlags[i] = MIGRATE_PFN_MIGRATE;
        cpages++;
      }
      continue;
    }
    const page = pt.valAt(vpn);
    let write = (fl & PTE_WRITE) !== 0;
    if (fl & (PTE_PRESENT | PTE_PROTNONE)) {
      if (page === ZERO_FRAME) {
        if (flags & MIGRATE_VMA_SELECT_SYSTEM) {
          srcFlags[i] = MIGRATE_PFN_MIGRATE;
          cpages++;
        }
        continue;
      }
      const pgmap = k.pagemapOf(page);
      if (pgmap === undefined) {
        if (!(flags & MIGRATE_VMA_SELECT_SYSTEM)) continue;
      } else if (!pgmap.isPrivate) {
        if (!(flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) || pgmap.owner !== owner) continue;
      }
      if (fl & PTE_PROTNONE) write = false;
    } else if (fl & PTE_DEVICE_PRIVATE) {
      if (!(flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE)) continue;
      if (k.devicePrivateOwner(page)?.owner !== owner) continue;
    } else {
      // Swap, migration and device-exclusive entries are not collected.
      continue;
    }
    // Lock the page (the fault page is locked by its fault): a page locked by someone else is
    // another migration's, and migration is best effort.
    if (page !== args.faultPage && !folioTrylock(k, page)) continue;
    // The migration's reference (pairs with the put in finalize, or in the restoration of unmap),
    // then the PTE's goes with the PTE.
    pm.get(page);
    const addr = vpn * ps;
    setPte(mm, vpn, page, PTE_MIGRATION | (write ? PTE_WRITE : 0), MmuNotifierEvent.MIGRATE, owner);
    rmapRemove(pm, page, mm, addr);
    pm.put(page);
    mm.rss--;
    migrationAdd(pm, page, mm, addr);
    src[i] = page;
    srcFlags[i] = MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | (write ? MIGRATE_PFN_WRITE : 0);
    cpages++;
  }
  args.npages = npages;
  args.cpages = cpages;
}

/**
 * `migrate_device_unmap()`: every other mapping of each collected page becomes a migration entry
 * (try_to_migrate); a page still mapped, or referenced by more than the migration (and the fault
 * that asked for it), is put back (its source entry cleared). Returns the pages still migrating.
 */
async function migrateDeviceUnmap(
  k: Kernel,
  m: MigrateDevice,
  faultPage: number | undefined,
): Promise<number> {
  const pm = k.physMem;
  const { src, srcFlags, npages } = m;
  let unmapped = 0;
  let restore = 0;
  for (let i = 0; i < npages; i++) {
    const f = srcFlags[i] as number;
    if (!(f & MIGRATE_PFN_VALID)) {
      if (f & MIGRATE_PFN_MIGRATE) unmapped++;
      continue;
    }
    const page = src[i] as number;
    if ((pm.mapcount[page] as number) > 0) await tryToMigrate(k, page);
    // migrate_vma_check_page: nobody else may hold the page.
    const expected = 1 + (page === faultPage ? 1 : 0);
    if ((pm.mapcount[page] as number) > 0 || pm.refcount[page] !== expected) {
      srcFlags[i] = f & ~MIGRATE_PFN_MIGRATE;
      restore++;
      continue;
    }
    unmapped++;
  }
  if (restore !== 0) {
    for (let i = 0; i < npages; i++) {
      const f = srcFlags[i] as number;
      if (!(f & MIGRATE_PFN_VALID) || f & MIGRATE_PFN_MIGRATE) continue;
      const page = src[i] as number;
      await removeMigrationPtes(k, page, page, undefined);
      src[i] = 0;
      srcFlags[i] = 0;
      if (page !== faultPage) folioUnlock(k, page);
      pm.put(page);
    }
    k.migrationWait.wakeUpAll();
  }
  return unmapped;
}

/**
 * `try_to_migrate()`: every remaining mapping of `page` (another address space's, after fork)
 * becomes a migration entry: a CLEAR invalidation over the page in that mm, then under its
 * page-table lock the PTE replaced if it still maps the page.
 */
async function tryToMigrate(k: Kernel, page: number): Promise<void> {
  const pm = k.physMem;
  const ps = k.pageSize;
  for (const { mm, addr } of rmapWalk<Mm>(pm, page)) {
    const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, addr, addr + ps);
    const s = mm.notifiers.invalidateRangeStart(range);
    if (s !== undefined) await s;
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      const vpn = addr / ps;
      const fl = mm.pageTable.flagsAt(vpn);
      if (fl & (PTE_PRESENT | PTE_PROTNONE | PTE_DEVICE_ENTRY) && mm.pageTable.valAt(vpn) === page) {
        const write = fl & PTE_WRITE && !(fl & PTE_PROTNONE) ? PTE_WRITE : 0;
        setPte(mm, vpn, page, PTE_MIGRATION | write, MmuNotifierEvent.CLEAR);
        rmapRemove(pm, page, mm, addr);
        pm.put(page);
        mm.rss--;
        migrationAdd(pm, page, mm, addr);
      }
    } finally {
      mm.pageTableLock.unlock();
    }
    const e = mm.notifiers.invalidateRangeEnd(range);
    if (e !== undefined) await e;
  }
}

/**
 * `remove_migration_pte()` for one entry, under `mm`'s page-table lock: if the PTE of `addr` is still
 * the migration entry for `src`, it becomes a PTE of `dst` (which is `src` when the migration is
 * given up): a device-private entry for a device-private page, a present PTE otherwise (PROT_NONE in
 * a PROT_NONE area), writable when the entry was. The PTE takes its own reference and mapping.
 */
function replaceMigrationPte(
  k: Kernel,
  mm: Mm,
  addr: number,
  src: number,
  dst: number,
  owner: unknown,
): void {
  const pm = k.physMem;
  migrationRemove(pm, src, mm, addr);
  const vpn = addr / k.pageSize;
  const fl = mm.pageTable.flagsAt(vpn);
  if (!(fl & PTE_MIGRATION) || mm.pageTable.valAt(vpn) !== src) return;
  const write = (fl & PTE_WRITE) !== 0;
  let flags: number;
  if (k.devicePrivateOwner(dst) !== undefined) {
    flags = PTE_DEVICE_PRIVATE | (write ? PTE_WRITE : 0);
  } else if (mm.vmas.find(addr)?.prot === PROT_NONE) {
    flags = PTE_PROTNONE | (write ? PTE_WRITE : 0);
  } else {
    flags = PTE_PRESENT | PTE_YOUNG | (write ? PTE_WRITE | PTE_DIRTY : 0);
  }
  pm.get(dst);
  setPte(mm, vpn, dst, flags, MmuNotifierEvent.MIGRATE, owner);
  rmapAdd(pm, dst, mm, addr);
  mm.rss++;
}

/**
 * `remove_migration_ptes()`: every migration entry for `src`, wherever it is, becomes a PTE of `dst`
 * (see replaceMigrationPte), each under its address space's page-table lock.
 */
async function removeMigrationPtes(k: Kernel, src: number, dst: number, owner: unknown): Promise<void> {
  for (const { mm, addr } of migrationWalk<Mm>(k.physMem, src)) {
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      replaceMigrationPte(k, mm, addr, src, dst, owner);
    } finally {
      mm.pageTableLock.unlock();
    }
  }
}

/**
 * The entries of `src` that sit in `mm`, under `mm`'s page-table lock (held by the caller): the common
 * case of remove_migration_ptes, done for a whole migration at once.
 */
function removeMigrationPtesIn(k: Kernel, mm: Mm, src: number, dst: number, owner: unknown): void {
  const pm = k.physMem;
  const entries = pm.migration.get(src);
  if (entries !== undefined && entries.length === 1 && entries[0]?.mm === mm) {
    replaceMigrationPte(k, mm, entries[0].addr, src, dst, owner);
    return;
  }
  for (const e of migrationWalk<Mm>(pm, src)) {
    if (e.mm === mm) replaceMigrationPte(k, mm, e.addr, src, dst, owner);
  }
}

/**
 * `migrate_vma_pages()`: commits the migration of every entry that has a destination (see the
 * header); the others lose MIGRATE. The caller holds `mm.mmapLock` (read).
 */
export async function migrateVmaPages(args: MigrateVma): Promise<void> {
  const { mm } = args;
  const k = mm.kernel;
  k.assertHeld(mm.mmapLock);
  const ps = k.pageSize;
  const { srcFlags, dstFlags, npages } = args;
  let firstHole = -1;
  for (let i = 0; i < npages; i++) {
    const f = srcFlags[i] as number;
    if (!((dstFlags[i] as number) & MIGRATE_PFN_VALID)) {
      srcFlags[i] = f & ~MIGRATE_PFN_MIGRATE;
      continue;
    }
    if (f & MIGRATE_PFN_VALID) {
      if (f & MIGRATE_PFN_MIGRATE) commitPage(k, args, i, args.faultPage);
    } else if (f & MIGRATE_PFN_MIGRATE && firstHole < 0) {
      firstHole = i;
    }
  }
  if (firstHole < 0) return;
  // Entries without a source page: the destinations go in, under one MIGRATE invalidation from the
  // first of them to the end, and the page-table lock.
  const range = mmuNotifierRangeInit(
    MmuNotifierEvent.MIGRATE,
    mm,
    args.start + firstHole * ps,
    args.end,
    args.pgmapOwner,
  );
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) await s;
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  try {
    for (let i = firstHole; i < npages; i++) {
      const f = srcFlags[i] as number;
      if (f & MIGRATE_PFN_VALID || !(f & MIGRATE_PFN_MIGRATE)) continue;
      if (!migrateVmaInsertPageLocked(args, i)) srcFlags[i] = f & ~MIGRATE_PFN_MIGRATE;
    }
  } finally {
    mm.pageTableLock.unlock();
  }
  const e = mm.notifiers.invalidateRangeEnd(range);
  if (e !== undefined) await e;
}

/**
 * The page-by-page part of `__migrate_device_pages()` for an entry with both pages: a device
 * destination takes only anonymous memory; `folio_migrate_mapping` wants no reference but the
 * migration's (and the fault's).
 */
function commitPage(k: Kernel, m: MigrateDevice, i: number, faultPage: number | undefined): void {
  const page = m.src[i] as number;
  const expected = 1 + (page === faultPage ? 1 : 0);
  if (k.physMem.refcount[page] !== expected) m.srcFlags[i] = (m.srcFlags[i] as number) & ~MIGRATE_PFN_MIGRATE;
}

/**
 * `migrate_vma_insert_page()`, under the page-table lock: puts entry `i`'s destination in the PTE of
 * its address if it is still empty (or the zero page) in a private area: a device-private entry for a
 * device-private page, a present PTE otherwise, writable when the area is. False when it cannot.
 */
function migrateVmaInsertPageLocked(args: MigrateVma, i: number): boolean {
  const { mm, vma } = args;
  const k = mm.kernel;
  const pm = k.physMem;
  const addr = args.start + i * k.pageSize;
  const vpn = addr / k.pageSize;
  const page = args.dst[i] as number;
  if (vma.shmem !== null || mm.dead || mm.vmas.find(addr) !== vma) return false;
  const fl = mm.pageTable.flagsAt(vpn);
  if (fl !== 0 && !(fl & PTE_PRESENT && mm.pageTable.valAt(vpn) === ZERO_FRAME)) return false;
  const w = (vma.prot & PROT_WRITE) !== 0;
  let flags: number;
  if (k.devicePrivateOwner(page) !== undefined) flags = PTE_DEVICE_PRIVATE | (w ? PTE_WRITE : 0);
  else if (vma.prot === PROT_NONE) flags = PTE_PROTNONE;
  else flags = PTE_PRESENT | PTE_YOUNG | (w ? PTE_WRITE | PTE_DIRTY : 0);
  pm.get(page);
  setPte(mm, vpn, page, flags, MmuNotifierEvent.MIGRATE, args.pgmapOwner);
  rmapAdd(pm, page, mm, addr);
  mm.rss++;
  vma.anonVma = true;
  return true;
}

/**
 * `migrate_vma_finalize()`: replaces the migration entries, unlocks and drops the references (see
 * the header). The caller holds `mm.mmapLock` (read). Pairs with migrateVmaSetup.
 */
export async function migrateVmaFinalize(args: MigrateVma): Promise<void> {
  const k = args.mm.kernel;
  k.assertHeld(args.mm.mmapLock);
  await finalize(k, args, args.faultPage, args.pgmapOwner, args.mm);
  if (k.trace !== null) {
    k.event("note", args.mm.id, undefined, `migrate_vma_finalize [${hex(args.start)}, ${hex(args.end)})`);
  }
}

/**
 * `__migrate_device_finalize()`: where each source page goes (its destination, or itself when the
 * migration is given up; unused destinations are let go), the migration entries replaced (those in
 * `mm` under one page-table lock, any elsewhere one by one), then the pages unlocked and the
 * migration's references dropped.
 */
async function finalize(
  k: Kernel,
  m: MigrateDevice,
  faultPage: number | undefined,
  owner: unknown,
  mm: Mm | undefined,
): Promise<void> {
  const pm = k.physMem;
  const { src, srcFlags, dst, dstFlags, npages } = m;
  const to = new Int32Array(npages).fill(-1);
  for (let i = 0; i < npages; i++) {
    const df = dstFlags[i] as number;
    const sf = srcFlags[i] as number;
    const newpage = df & MIGRATE_PFN_VALID ? (dst[i] as number) : -1;
    // A destination not used keeps only the driver's reference (an inserted one has its PTE's too).
    const unused = !(sf & MIGRATE_PFN_VALID) || !(sf & MIGRATE_PFN_MIGRATE);
    if (newpage >= 0 && unused) {
      folioUnlock(k, newpage);
      pm.put(newpage);
    }
    if (sf & MIGRATE_PFN_VALID) to[i] = unused || newpage < 0 ? (src[i] as number) : newpage;
  }
  if (mm !== undefined) {
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      for (let i = 0; i < npages; i++) {
        if ((to[i] as number) >= 0) removeMigrationPtesIn(k, mm, src[i] as number, to[i] as number, owner);
      }
    } finally {
      mm.pageTableLock.unlock();
    }
  }
  for (let i = 0; i < npages; i++) {
    const page = src[i] as number;
    if ((to[i] as number) >= 0 && migrationAny(pm, page)) {
      await removeMigrationPtes(k, page, to[i] as number, owner);
    }
  }
  for (let i = 0; i < npages; i++) {
    const t = to[i] as number;
    if (t < 0) continue;
    const page = src[i] as number;
    if (page !== faultPage) folioUnlock(k, page);
    pm.put(page); // the migration's reference: a page that moved is freed here
    if (t !== page) {
      folioUnlock(k, t);
      pm.put(t); // the driver's allocation reference
    }
  }
  k.migrationWait.wakeUpAll();
}

/**
 * `migrate_device_range()`: starts migrating the device frames `[startFrame, startFrame + npages)`
 * wherever they are mapped (a driver evicting its memory): each allocated frame whose lock can be
 * taken is collected, then every mapping of it becomes a migration entry (CLEAR invalidations). May
 * sleep. Fills `m.src` / `m.srcFlags`; pairs with migrateDeviceFinalize.
 */
export async function migrateDeviceRange(
  k: Kernel,
  m: MigrateDevice,
  startFrame: number,
  npages: number,
): Promise<void> {
  k.mightSleep("migrate_device_range");
  const pm = k.physMem;
  if (
    m.src.length < npages ||
    m.srcFlags.length < npages ||
    m.dst.length < npages ||
    m.dstFlags.length < npages
  ) {
    throw new RangeError(`migrateDeviceRange: arrays shorter than ${npages} pages`);
  }
  m.dst.fill(0, 0, npages);
  m.dstFlags.fill(0, 0, npages);
  m.npages = npages;
  for (let i = 0; i < npages; i++) {
    const f = startFrame + i;
    m.src[i] = 0;
    m.srcFlags[i] = 0;
    // folio_try_get: a free device frame is not migrated.
    if (!pm.isLive(f)) continue;
    pm.get(f);
    if (!folioTrylock(k, f)) {
      pm.put(f);
      continue;
    }
    m.src[i] = f;
    m.srcFlags[i] = MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE;
  }
  await migrateDeviceUnmap(k, m, undefined);
}

/** `migrate_device_pages()`: commits the entries that have a destination; the others lose MIGRATE. */
export function migrateDevicePages(k: Kernel, m: MigrateDevice): void {
  for (let i = 0; i < m.npages; i++) {
    const f = m.srcFlags[i] as number;
    if (!((m.dstFlags[i] as number) & MIGRATE_PFN_VALID)) {
      m.srcFlags[i] = f & ~MIGRATE_PFN_MIGRATE;
      continue;
    }
    if (f & MIGRATE_PFN_VALID && f & MIGRATE_PFN_MIGRATE) commitPage(k, m, i, undefined);
  }
}

/** `migrate_device_finalize()`: as migrateVmaFinalize, for migrateDeviceRange. May sleep. */
export async function migrateDeviceFinalize(k: Kernel, m: MigrateDevice): Promise<void> {
  await finalize(k, m, undefined, undefined, undefined);
}

/**
 * `migrate_device_coherent_folio()`: moves device-coherent page `page` to a new system page,
 * wherever it is mapped (a long-term pin cannot keep it in device memory, gup.ts). Takes over a
 * reference the caller holds, which is gone whatever the outcome. May sleep. Returns 0, or -EBUSY
 * when the page did not move (someone else holds it, or no system page was free).
 */
export async function migrateDeviceCoherentFolio(k: Kernel, page: number): Promise<number> {
  k.mightSleep("migrate_device_coherent_folio");
  const pm = k.physMem;
  const l = folioLock(k, page);
  if (l !== undefined) await l;
  const m: MigrateDevice = {
    src: Uint32Array.of(page),
    srcFlags: Uint8Array.of(MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE),
    dst: new Uint32Array(1),
    dstFlags: new Uint8Array(1),
    npages: 1,
  };
  // No area to walk: the page's mappings are unmapped directly (the caller's reference is the
  // migration's). A page that cannot be unmapped is restored, unlocked and put there.
  await migrateDeviceUnmap(k, m, undefined);
  if (!((m.srcFlags[0] as number) & MIGRATE_PFN_MIGRATE)) return -EBUSY;
  const dpage = pm.alloc();
  if (dpage >= 0) {
    folioTrylock(k, dpage);
    m.dst[0] = dpage;
    m.dstFlags[0] = MIGRATE_PFN_VALID;
  }
  migrateDevicePages(k, m);
  const moved = ((m.srcFlags[0] as number) & MIGRATE_PFN_MIGRATE) !== 0;
  if (moved) pm.copy(page, dpage);
  await migrateDeviceFinalize(k, m);
  return moved ? 0 : -EBUSY;
}
