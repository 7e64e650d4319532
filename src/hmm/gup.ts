// Follows mm/gup.c (get_user_pages, pin_user_pages, their _fast variants, unpin_user_pages,
// __gup_longterm_locked, check_and_migrate_movable_pages) and mm/migrate_device.c
// (migrate_device_coherent_folio): taking references on (GUP) or pinning (FOLL_PIN) the pages behind
// a range of user addresses, as a driver does before a DMA.
//
// Each page is looked up in the page table; where the access `gupFlags` asks for (FOLL_WRITE: a
// writable PTE, copy on write broken) is not there, the page is faulted in as the CPU would fault it
// (handle_mm_fault: a device-private page comes back through its pagemap's migrate_to_ram, a
// device-exclusive entry is restored, a migration entry is waited for), then looked up again. The
// page gets one reference per call (a pin is a reference here: the kernel's pin bias is a detail of
// its refcount; what matters, a migration refusing a page with extra references, holds).
//
// FOLL_LONGTERM (pins only) promises the pin may last indefinitely, so a page that must stay movable
// cannot be pinned: a device-coherent page is migrated to system memory first
// (check_and_migrate_movable_pages: every pin dropped, each such page moved by
// migrate_device_coherent_folio, and the whole walk done again). Device-private pages never get that
// far: they are not present, so the walk faults them back to RAM for any GUP.
//
// This lives in hmm/ rather than mm/ (where the kernel has it) because the long-term pin needs the
// device migration of migrateDevice.ts, which is above mm/ in the layers.
//
// Not simulated: FOLL_FORCE, FOLL_NOFAULT and the other flags; the unsharing of read-only anonymous
// pages that a read-only pin forces (gup_must_unshare); huge pages; fs-dax and CMA pages.

import { EAGAIN, EBUSY, EFAULT, ENOMEM, MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import { faultIn } from "../mm/memory.js";
import { MEMORY_DEVICE_COHERENT } from "../mm/memremap.js";
import type { Mm } from "../mm/mm.js";
import { PTE_PRESENT, PTE_WRITE } from "../mm/pageTable.js";
import { ZERO_FRAME } from "../mm/physMem.js";
import { migrateDeviceCoherentFolio } from "./migrateDevice.js";

/** `FOLL_WRITE`: the pages are written through the reference (a writable PTE is needed). */
export const FOLL_WRITE = 0x01;
/** `FOLL_LONGTERM`: the pin may last indefinitely (pins only; hmm-tests.c's value). */
export const FOLL_LONGTERM = 0x100;
/** The flags this model knows. */
const KNOWN = FOLL_WRITE | FOLL_LONGTERM;

/** How many times one page is faulted in before giving up (the kernel retries without bound). */
const MAX_FAULTS = 16;
/** How many times a long-term pin migrates pages and walks again (the kernel: until it succeeds). */
const MAX_LONGTERM_ROUNDS = 8;

/** Throws EINVAL for flags this model does not know, or FOLL_LONGTERM without a pin. */
function checkFlags(what: string, gupFlags: number, pin: boolean): void {
  if (!Number.isInteger(gupFlags) || gupFlags & ~KNOWN) {
    throw new MmunError("EINVAL", `${what}: unknown gup flags 0x${Number(gupFlags).toString(16)}`);
  }
  if (gupFlags & FOLL_LONGTERM && !pin) {
    throw new MmunError("EINVAL", `${what}: FOLL_LONGTERM can only be asked with a pin (is_valid_gup_args)`);
  }
}

/** Throws EINVAL unless `[start, start + nrPages)` is a page-aligned range and `pages` can hold it. */
function checkRange(what: string, mm: Mm, start: number, nrPages: number, pages: number[]): void {
  const ps = mm.kernel.pageSize;
  if (!Number.isSafeInteger(start) || start < 0 || start % ps !== 0) {
    throw new MmunError("EINVAL", `${what}: start must be a page-aligned address, got ${start}`);
  }
  if (!Number.isSafeInteger(nrPages) || nrPages < 0) {
    throw new MmunError("EINVAL", `${what}: nrPages must be a non-negative integer, got ${nrPages}`);
  }
  if (!Array.isArray(pages)) throw new MmunError("EINVAL", `${what}: pages must be an array`);
}

/**
 * The page at `addr` with the access `write` asks for, referenced; or a negative errno: -EFAULT (no
 * area, or it forbids the access), -ENOMEM. The caller holds the mmap lock for read.
 */
async function followPage(mm: Mm, addr: number, write: boolean): Promise<number> {
  const ps = mm.kernel.pageSize;
  const vpn = addr / ps;
  for (let tries = 0; tries < MAX_FAULTS; tries++) {
    const vma = mm.vmas.find(addr);
    if (vma === undefined) return -EFAULT;
    const fl = mm.pageTable.flagsAt(vpn);
    if (fl & PTE_PRESENT && (!write || fl & PTE_WRITE)) {
      const page = mm.pageTable.valAt(vpn);
      if (page !== ZERO_FRAME) mm.kernel.physMem.get(page); // the zero page is never freed
      return page;
    }
    const r = faultIn(mm, addr, write);
    const v = typeof r === "number" ? r : await r;
    // -EAGAIN: the fault waited (a migration entry, a page lock): look again.
    if (v < 0 && v !== -EAGAIN) return v === -ENOMEM ? v : -EFAULT;
  }
  return -EFAULT;
}

/**
 * `__get_user_pages()`: references the pages of `[start, start + nrPages * pageSize)` into `pages`.
 * Returns how many it got (from the first: a failure stops the walk) or, when it got none, the errno.
 */
async function getPagesLocked(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  const ps = mm.kernel.pageSize;
  pages.length = 0;
  for (let i = 0; i < nrPages; i++) {
    const page = await followPage(mm, start + i * ps, (gupFlags & FOLL_WRITE) !== 0);
    if (page < 0) return i === 0 ? page : i;
    pages.push(page);
  }
  return nrPages;
}

/** `folio_is_longterm_pinnable()`: false for device-coherent pages (they must stay movable). */
export function longtermPinnable(k: Kernel, page: number): boolean {
  return k.pagemapOf(page)?.type !== MEMORY_DEVICE_COHERENT;
}

/** `put_page()` on each of `pages` (the references of `getUserPages`). */
export function putPages(k: Kernel, pages: readonly number[]): void {
  for (const p of pages) k.physMem.put(p);
}

/** `unpin_user_pages()`: drops the pins of `pinUserPages`. */
export function unpinUserPages(k: Kernel, pages: readonly number[]): void {
  putPages(k, pages);
}

/**
 * `__gup_longterm_locked()`: the walk, then, for a long-term pin, `check_and_migrate_movable_pages`:
 * if any page is not long-term pinnable, every pin is dropped, those pages migrate, and the walk runs
 * again.
 */
async function gupLocked(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  const k = mm.kernel;
  for (let round = 0; ; round++) {
    const n = await getPagesLocked(mm, start, nrPages, gupFlags, pages);
    if (n <= 0 || !(gupFlags & FOLL_LONGTERM)) return n;
    const movable = pages.filter((p) => !longtermPinnable(k, p));
    if (movable.length === 0) return n;
    // Turn the pin of each page to migrate into a plain reference (folio_get), drop every pin; the
    // migration takes that reference over.
    for (const p of movable) k.physMem.get(p); // device pages: never the zero page
    unpinUserPages(k, pages);
    pages.length = 0;
    let failed = false;
    for (const p of movable) {
      if (failed) k.physMem.put(p);
      else if ((await migrateDeviceCoherentFolio(k, p)) !== 0) failed = true;
    }
    if (failed) return -EBUSY;
    if (round + 1 >= MAX_LONGTERM_ROUNDS) return -EAGAIN;
  }
}

/**
 * `get_user_pages()`: references (`FOLL_GET`) the `nrPages` pages from page-aligned `start` into
 * `pages`, faulting them in as needed (FOLL_WRITE: for write). The caller holds `mm.mmapLock` for
 * read. Returns how many pages it got (a failure stops the walk; the caller drops the references of
 * those with `putPages`) or, when it got none, -EFAULT or -ENOMEM. Throws EINVAL for bad arguments
 * (FOLL_LONGTERM included: it needs a pin).
 */
export function getUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  checkFlags("getUserPages", gupFlags, false);
  checkRange("getUserPages", mm, start, nrPages, pages);
  mm.kernel.assertHeld(mm.mmapLock);
  return gupLocked(mm, start, nrPages, gupFlags, pages);
}

/**
 * `pin_user_pages()`: as `getUserPages`, with pins (`FOLL_PIN`, dropped with `unpinUserPages`);
 * with FOLL_LONGTERM, device-coherent pages are first migrated to system memory (see the header), and
 * -EBUSY says one of them could not move.
 */
export function pinUserPages(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  checkFlags("pinUserPages", gupFlags, true);
  checkRange("pinUserPages", mm, start, nrPages, pages);
  mm.kernel.assertHeld(mm.mmapLock);
  return gupLocked(mm, start, nrPages, gupFlags, pages);
}

/**
 * `get_user_pages_fast()` / `pin_user_pages_fast()` (`pin`): the same without the caller holding the
 * mmap lock. The lockless walk takes the pages whose PTEs already allow the access; at the first that
 * does not (or, for a long-term pin, is not long-term pinnable), the rest goes through the slow path
 * under the mmap lock (taken for read here). Returns what the slow path returns, counted from `start`.
 */
export async function getUserPagesFast(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
  pin = false,
): Promise<number> {
  const what = pin ? "pinUserPagesFast" : "getUserPagesFast";
  checkFlags(what, gupFlags, pin);
  checkRange(what, mm, start, nrPages, pages);
  const k = mm.kernel;
  const ps = k.pageSize;
  const write = (gupFlags & FOLL_WRITE) !== 0;
  pages.length = 0;
  // gup_fast: no lock, no fault; present PTEs only.
  for (let i = 0; i < nrPages; i++) {
    const vpn = start / ps + i;
    const fl = mm.pageTable.flagsAt(vpn);
    if (!(fl & PTE_PRESENT) || (write && !(fl & PTE_WRITE))) break;
    const page = mm.pageTable.valAt(vpn);
    if (gupFlags & FOLL_LONGTERM && !longtermPinnable(k, page)) break;
    if (page !== ZERO_FRAME) k.physMem.get(page);
    pages.push(page);
  }
  const got = pages.length;
  if (got === nrPages) return got;
  const rest: number[] = [];
  const l = mm.mmapLock.downRead();
  if (l !== undefined) await l;
  let r: number;
  try {
    r = await gupLocked(mm, start + got * ps, nrPages - got, gupFlags, rest);
  } finally {
    mm.mmapLock.upRead();
  }
  pages.push(...rest);
  if (r < 0) return got > 0 ? got : r;
  return got + r;
}

/** `pin_user_pages_fast()`: `getUserPagesFast` with pins. */
export function pinUserPagesFast(
  mm: Mm,
  start: number,
  nrPages: number,
  gupFlags: number,
  pages: number[],
): Promise<number> {
  return getUserPagesFast(mm, start, nrPages, gupFlags, pages, true);
}
