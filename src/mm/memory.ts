// Follows mm/memory.c: page faults (handle_mm_fault: anonymous, shared, write-protect/COW, swap,
// migration, device-private and device-exclusive entries), zapping PTEs (zap_page_range), and the
// CPU's accesses.
//
// Locking, as in Linux: a fault runs with the mmap lock held (read or write) and changes a PTE under
// the page-table lock (a spinlock: sleeping there is reported), after re-checking that the PTE is
// still what the fault saw. Replacing a present PTE (COW) raises a CLEAR invalidation first, outside
// the page-table lock. Every PTE change is shown to the coherence oracle (kernel.checkPteChange).
//
// Device memory (do_swap_page's non-swap entries). A device-private entry is faulted by calling its
// pagemap's `migrateToRam` with the page locked and referenced (the owner migrates it back; the
// access then retries). A device-exclusive entry is restored: the page locked, a CLEAR invalidation
// over the page (owner NULL: EXCLUSIVE now means only "an entry was converted", kernel-spec §6.4
// item 14), then the present PTE put back, writable when the area is. Linux returns at once when the
// page lock is taken by someone else (the CPU retries the access); here the fault sleeps until the
// page is unlocked, so the retry makes progress under every schedule.
//
// Return conventions: fault paths return a number (0 or a negative errno) when they completed at
// once, and a promise of one only when they had to wait, so a fault that needs no sleep costs no
// microtask.

import { EAGAIN, EFAULT, ENOMEM, MmunError } from "../lib/errno.js";
import { MmuNotifierEvent as Ev, type MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { folioTrylock, folioUnlock, folioWaitLocked } from "./filemap.js";
import type { Mm } from "./mm.js";
import { tracePte } from "./mmTrace.js";
import {
  PTE_DEVICE_ENTRY,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
  type PteTable,
} from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { migrationRemove, rmapAdd, rmapRemove } from "./rmap.js";
import { hex, PROT_READ, PROT_WRITE, type Vma } from "./vma.js";

/** The flags of a writable anonymous page just written (present, write, dirty, young). */
export const ANON_RW = PTE_PRESENT | PTE_WRITE | PTE_DIRTY | PTE_YOUNG;
const MAX_FAULT_RETRIES = 8;

/**
 * What a CPU fault on a device-private entry calls: the device memory's pagemap (memremap.ts), its
 * owner cookie and its `migrate_to_ram`.
 */
export interface DevicePrivateOwner {
  /** The device memory's owner cookie (`pgmap->owner`), compared with `dev_private_owner` and `pgmap_owner`. */
  readonly owner: unknown;
  /**
   * Moves device frame `deviceFrame`, mapped at `addr` of `mm`, back to system memory. Called with
   * the mmap lock held for read and the page locked and referenced by the fault. Returns 0 (the
   * access is retried), -ENOMEM (out of memory) or -EFAULT (SIGBUS), or a promise of one.
   */
  migrateToRam(mm: Mm, addr: number, deviceFrame: number): number | Promise<number>;
}

/** The access a fault or a CPU access needs. */
function allowed(vma: Vma, write: boolean): boolean {
  return (vma.prot & (write ? PROT_WRITE : PROT_READ)) !== 0;
}

/**
 * `handle_mm_fault()`: makes `addr` accessible for a read (or a write) if the VMA allows it. The
 * caller holds `mm.mmapLock` (read or write). Returns 0 when the PTE was changed or already fine (the
 * caller looks again), -EFAULT when the access is not allowed (no VMA, or its prot forbids it;
 * SIGSEGV for a CPU), -ENOMEM when no frame could be allocated, or a promise of one of these.
 */
export function faultIn(mm: Mm, addr: number, write: boolean): number | Promise<number> {
  const vma = mm.vmas.find(addr);
  if (vma === undefined || !allowed(vma, write)) return -EFAULT;
  const ps = mm.kernel.pageSize;
  const vpn = Math.floor(addr / ps);
  const pt = mm.pageTable;
  const leaf = pt.leaf(vpn);
  const i = leaf === undefined ? 0 : vpn - leaf.base;
  const flags = leaf === undefined ? 0 : (leaf.flags[i] as number);
  if (flags === 0)
    return vma.shared ? doSharedFault(mm, vma, vpn, write) : doAnonymousPage(mm, vma, vpn, write);
  if (flags & PTE_PRESENT) {
    if (!write || flags & PTE_WRITE) return 0;
    return doWpPage(mm, vma, vpn);
  }
  if (flags & PTE_PROTNONE) return -EFAULT;
  const val = (leaf as PteTable).val[i] as number;
  if (flags & PTE_SWAP) return doSwapPage(mm, vma, vpn, val, write);
  if (flags & PTE_MIGRATION) return migrationEntryWait(mm, vpn);
  if (flags & PTE_DEVICE_PRIVATE) return doDevicePrivate(mm, vpn, val);
  if (flags & PTE_DEVICE_EXCLUSIVE) return removeDeviceExclusiveEntry(mm, vma, vpn, val);
  return -EFAULT;
}

/** Takes the page-table lock; `fn` runs under it (it must not sleep). */
function underPtl<T>(mm: Mm, fn: () => T): T | Promise<T> {
  const lk = mm.pageTableLock;
  const p = lk.lock();
  if (p !== undefined) {
    return p.then(() => {
      try {
        return fn();
      } finally {
        lk.unlock();
      }
    });
  }
  try {
    return fn();
  } finally {
    lk.unlock();
  }
}

/** `do_anonymous_page()`: a read maps the zero page; a write maps a new zeroed frame. */
function doAnonymousPage(mm: Mm, vma: Vma, vpn: number, write: boolean): number | Promise<number> {
  const pm = mm.kernel.physMem;
  let f = ZERO_FRAME;
  if (write) {
    f = pm.alloc();
    if (f < 0) return -ENOMEM;
    vma.anonVma = true;
  }
  return underPtl(mm, () => {
    if (mm.pageTable.flagsAt(vpn) !== 0) {
      // Another fault got here first: use what it installed.
      if (f !== ZERO_FRAME) pm.put(f);
      return 0;
    }
    if (f === ZERO_FRAME) {
      setPte(mm, vpn, ZERO_FRAME, PTE_PRESENT | PTE_YOUNG, Ev.CLEAR);
    } else {
      setPte(mm, vpn, f, ANON_RW, Ev.CLEAR);
      rmapAdd(pm, f, mm, vpn * mm.kernel.pageSize);
      mm.rss++;
    }
    return 0;
  });
}

/** `do_shared_fault()` / `do_read_fault()` on shared memory: maps the object's page (allocating it). */
function doSharedFault(mm: Mm, vma: Vma, vpn: number, write: boolean): number | Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  const obj = vma.shmem as NonNullable<Vma["shmem"]>;
  const off = vma.pgoffOf(vpn * k.pageSize, k.pageSize);
  let f = obj.pages.get(off);
  if (f === undefined) {
    const slot = obj.swapped.get(off);
    f = slot === undefined ? pm.alloc() : pm.swapIn(slot);
    if (f < 0) return -ENOMEM;
    if (slot !== undefined) {
      obj.swapped.delete(off);
      pm.swapFree(slot);
    }
    obj.pages.set(off, f);
  }
  const frame = f;
  // The PTE's reference, taken before waiting for the page-table lock (the fault's folio reference):
  // reclaim cannot free the page, or move it to swap, while the fault is about to map it.
  pm.get(frame);
  return underPtl(mm, () => {
    if (mm.pageTable.flagsAt(vpn) !== 0) {
      pm.put(frame);
      return 0;
    }
    setPte(mm, vpn, frame, write ? ANON_RW : PTE_PRESENT | PTE_YOUNG, Ev.CLEAR);
    rmapAdd(pm, frame, mm, vpn * k.pageSize);
    mm.rss++;
    return 0;
  });
}

/**
 * `do_wp_page()`: a write to a present read-only PTE in a writable VMA. A shared mapping, or a private
 * page only this PTE maps, becomes writable in place (no invalidation: access only grows). Otherwise
 * (the zero page, a page shared after fork) the page is copied: `wp_page_copy` raises a CLEAR
 * invalidation over the page, then replaces the PTE with the copy.
 */
function doWpPage(mm: Mm, vma: Vma, vpn: number): number | Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  const old = mm.pageTable.valAt(vpn);
  if (vma.shared || (old !== ZERO_FRAME && pm.mapcount[old] === 1 && pm.refcount[old] === 1)) {
    return underPtl(mm, () => {
      const fl = mm.pageTable.flagsAt(vpn);
      if (fl & PTE_PRESENT && mm.pageTable.valAt(vpn) === old) {
        setPte(mm, vpn, old, fl | PTE_WRITE | PTE_DIRTY | PTE_YOUNG, Ev.CLEAR);
      }
      return 0;
    });
  }
  return wpPageCopy(mm, vma, vpn, old);
}

function wpPageCopy(mm: Mm, vma: Vma, vpn: number, old: number): number | Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  const f = pm.alloc();
  if (f < 0) return -ENOMEM;
  vma.anonVma = true;
  if (old !== ZERO_FRAME) pm.copy(old, f);
  const addr = vpn * k.pageSize;
  const range = mmuNotifierRangeInit(Ev.CLEAR, mm, addr, addr + k.pageSize);
  const commit = () =>
    underPtl(mm, () => {
      const fl = mm.pageTable.flagsAt(vpn);
      if (!(fl & PTE_PRESENT) || mm.pageTable.valAt(vpn) !== old || fl & PTE_WRITE) {
        pm.put(f); // the PTE changed meanwhile: the fault is retried
        return 0;
      }
      setPte(mm, vpn, f, ANON_RW, Ev.CLEAR);
      rmapAdd(pm, f, mm, addr);
      if (old !== ZERO_FRAME) {
        rmapRemove(pm, old, mm, addr);
        pm.put(old);
      } else mm.rss++;
      return 0;
    });
  const end = (r: number) => {
    const e = mm.notifiers.invalidateRangeEnd(range);
    return e === undefined ? r : e.then(() => r);
  };
  const s = mm.notifiers.invalidateRangeStart(range);
  if (s !== undefined) return s.then(commit).then(end);
  const r = commit();
  return typeof r === "number" ? end(r) : r.then(end);
}

/** `do_swap_page()`: reads the page back from swap (a sleep: a scheduling point) and maps it. */
async function doSwapPage(mm: Mm, vma: Vma, vpn: number, slot: number, write: boolean): Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  const io = k.point("swap-in");
  if (io !== undefined) await io;
  if (mm.pageTable.flagsAt(vpn) !== PTE_SWAP || mm.pageTable.valAt(vpn) !== slot) return 0;
  const f = pm.swapIn(slot);
  if (f < 0) return -ENOMEM;
  const r = underPtl(mm, () => {
    if (mm.pageTable.flagsAt(vpn) !== PTE_SWAP || mm.pageTable.valAt(vpn) !== slot) {
      pm.put(f);
      return 0;
    }
    const canWrite = write && (vma.prot & PROT_WRITE) !== 0;
    setPte(mm, vpn, f, canWrite ? ANON_RW : PTE_PRESENT | PTE_YOUNG, Ev.CLEAR);
    rmapAdd(pm, f, mm, vpn * k.pageSize);
    mm.rss++;
    mm.swapEntries--;
    pm.swapFree(slot);
    return 0;
  });
  return r;
}

/** `migration_entry_wait()`: sleeps until the page's migration ends, then the fault is retried. */
function migrationEntryWait(mm: Mm, vpn: number): Promise<number> | number {
  const w = mm.kernel.migrationWait.waitEvent(() => !(mm.pageTable.flagsAt(vpn) & PTE_MIGRATION));
  return w === undefined ? -EAGAIN : w.then(() => -EAGAIN);
}

/**
 * `do_swap_page()` on a device-private entry: under the page-table lock, check the entry, lock the
 * page (or sleep until it is unlocked, then retry: someone is migrating it) and take a reference,
 * then the pagemap's `migrate_to_ram`.
 */
async function doDevicePrivate(mm: Mm, vpn: number, d: number): Promise<number> {
  const k = mm.kernel;
  const owner = k.devicePrivateOwner(d);
  if (owner === undefined) return -EFAULT;
  const pm = k.physMem;
  const p = mm.pageTableLock.lock();
  if (p !== undefined) await p;
  let locked: boolean;
  try {
    const fl = mm.pageTable.flagsAt(vpn);
    if (!(fl & PTE_DEVICE_PRIVATE) || mm.pageTable.valAt(vpn) !== d) return 0; // changed: retry
    locked = folioTrylock(k, d);
    // Pairs with the put below: the page cannot be freed while the fault uses it.
    if (locked) pm.get(d);
  } finally {
    mm.pageTableLock.unlock();
  }
  if (!locked) {
    const w = folioWaitLocked(k, d);
    if (w !== undefined) await w;
    return 0;
  }
  try {
    const r = owner.migrateToRam(mm, vpn * k.pageSize, d);
    return typeof r === "number" ? r : await r;
  } finally {
    folioUnlock(k, d);
    pm.put(d);
  }
}

/**
 * `remove_device_exclusive_entry()`: a CPU access to a page a device holds exclusively. With a
 * reference and the page lock, a CLEAR invalidation over the page (owner NULL), then, if the entry
 * is still there, the present PTE back (writable when the area is).
 */
async function removeDeviceExclusiveEntry(mm: Mm, vma: Vma, vpn: number, f: number): Promise<number> {
  const k = mm.kernel;
  const pm = k.physMem;
  // folio_try_get: the page may be on its way out (the entry is being zapped).
  if (!pm.isLive(f)) return 0;
  pm.get(f); // pairs with the put in the finally clause
  try {
    if (!folioTrylock(k, f)) {
      const w = folioWaitLocked(k, f);
      if (w !== undefined) await w;
      return 0;
    }
    const addr = vpn * k.pageSize;
    const range = mmuNotifierRangeInit(Ev.CLEAR, mm, addr, addr + k.pageSize);
    const s = mm.notifiers.invalidateRangeStart(range);
    if (s !== undefined) await s;
    const p = mm.pageTableLock.lock();
    if (p !== undefined) await p;
    try {
      if (mm.pageTable.flagsAt(vpn) & PTE_DEVICE_EXCLUSIVE && mm.pageTable.valAt(vpn) === f) {
        // restore_exclusive_pte: the page stayed mapped (reference, mapcount, rmap) all along.
        setPte(mm, vpn, f, vma.prot & PROT_WRITE ? ANON_RW : PTE_PRESENT | PTE_YOUNG, Ev.CLEAR);
      }
    } finally {
      mm.pageTableLock.unlock();
    }
    folioUnlock(k, f);
    const e = mm.notifiers.invalidateRangeEnd(range);
    if (e !== undefined) await e;
    return 0;
  } finally {
    pm.put(f);
  }
}

/**
 * Sets `vpn`'s PTE (under the page-table lock) and shows the change to the oracle: a device may now
 * translate the page to `frame` (the PTE's value: a device frame for a device entry) when the PTE is
 * present or device-private (writable when `flags` has WRITE), atomically when it is
 * device-exclusive, to nothing otherwise. `owner`: the owner of the migration making the change, if
 * one is.
 */
export function setPte(
  mm: Mm,
  vpn: number,
  frame: number,
  flags: number,
  event: MmuNotifierEvent,
  owner?: unknown,
): void {
  mm.pageTable.set(vpn, frame, flags);
  const k = mm.kernel;
  if (k.trace !== null) tracePte(mm, vpn, frame, flags);
  if (k.devices.length !== 0) {
    if (flags & (PTE_PRESENT | PTE_DEVICE_PRIVATE)) {
      k.checkPteChange(mm, vpn, frame, (flags & PTE_WRITE) !== 0, event, false, owner);
    } else {
      const exclusive = (flags & PTE_DEVICE_EXCLUSIVE) !== 0;
      k.checkPteChange(mm, vpn, exclusive ? frame : -1, false, event, exclusive, owner);
    }
  }
}

/**
 * `zap_pte_range()`: clears every PTE of `[startVpn, endVpn)`, dropping the frames, swap slots and
 * device pages they held. The caller raised the invalidation of the range and holds the
 * mmap lock; this takes the page-table lock per leaf table.
 */
export function zapRange(
  mm: Mm,
  startVpn: number,
  endVpn: number,
  event: MmuNotifierEvent,
): undefined | Promise<undefined> {
  const leaves: [PteTable, number, number, number][] = [];
  mm.pageTable.forEachLeaf(startVpn, endVpn, (leaf, base, from, to) => leaves.push([leaf, base, from, to]));
  if (leaves.length === 0) return undefined;
  return zapLeaves(mm, leaves, 0, event);
}

/** `zapRange`'s leaves from the `i`th on, each under the page-table lock. */
function zapLeaves(
  mm: Mm,
  leaves: [PteTable, number, number, number][],
  i: number,
  event: MmuNotifierEvent,
): undefined | Promise<undefined> {
  for (; i < leaves.length; i++) {
    const [leaf, base, from, to] = leaves[i] as [PteTable, number, number, number];
    const r = underPtl(mm, () => zapLeafLocked(mm, leaf, base, from, to, event));
    if (r !== undefined) {
      const next = i + 1;
      return r.then(() => zapLeaves(mm, leaves, next, event));
    }
  }
  return undefined;
}

function zapLeafLocked(
  mm: Mm,
  leaf: PteTable,
  base: number,
  from: number,
  to: number,
  event: MmuNotifierEvent,
): undefined {
  const k = mm.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  const checking = k.devices.length !== 0;
  const tracing = k.trace !== null;
  for (let j = from; j < to; j++) {
    const fl = leaf.flags[j] as number;
    if (fl === 0) continue;
    const val = leaf.val[j] as number;
    const vpn = base + j;
    leaf.flags[j] = 0;
    leaf.val[j] = 0;
    leaf.used--;
    if (tracing) tracePte(mm, vpn, 0, 0);
    if (fl & (PTE_PRESENT | PTE_PROTNONE)) {
      if (val !== ZERO_FRAME) {
        rmapRemove(pm, val, mm, vpn * ps);
        pm.put(val);
        mm.rss--;
      }
    } else if (fl & PTE_SWAP) {
      pm.swapFree(val);
      mm.swapEntries--;
    } else if (fl & PTE_DEVICE_ENTRY) {
      // A device-private or device-exclusive entry maps its page: the last put frees a device page
      // back to its pagemap.
      rmapRemove(pm, val, mm, vpn * ps);
      pm.put(val);
      mm.rss--;
    } else if (fl & PTE_MIGRATION) {
      // A migration entry holds no reference (the migration does): finding it gone, the migration
      // restores nothing here.
      migrationRemove(pm, val, mm, vpn * ps);
    }
    if (checking) k.checkPteChange(mm, vpn, -1, false, event);
  }
  return undefined;
}

// ---- The CPU's accesses ----

/** Why a CPU access faulted, for the SIGSEGV message. */
function segv(mm: Mm, addr: number, write: boolean, r: number): MmunError {
  const vma = mm.vmas.find(addr);
  const why =
    r === -ENOMEM
      ? "out of memory"
      : vma === undefined
        ? "no mapping there"
        : vma.prot === 0
          ? "the mapping is PROT_NONE"
          : write && !(vma.prot & PROT_WRITE)
            ? "the mapping is not writable"
            : "the fault failed";
  return new MmunError(
    r === -ENOMEM ? "ENOMEM" : "EFAULT",
    `${mm.name}: ${write ? "write to" : "read of"} ${hex(addr)} faulted: ${why} (SIGSEGV)`,
  );
}

/**
 * The frame to use for a CPU access to `vpn`, or -1 when a fault is needed first. A read may use the
 * zero page; a write needs a writable PTE.
 */
function usable(mm: Mm, vpn: number, write: boolean): number {
  const leaf = mm.pageTable.leaf(vpn);
  if (leaf === undefined) return -1;
  const i = vpn - leaf.base;
  const fl = leaf.flags[i] as number;
  if (!(fl & PTE_PRESENT) || (write && !(fl & PTE_WRITE))) return -1;
  const vma = mm.vmas.find(vpn * mm.kernel.pageSize);
  if (vma === undefined || !allowed(vma, write)) return -1;
  return leaf.val[i] as number;
}

/**
 * Runs `op(frame, offset)` on every page of `[addr, addr + len)` with the access `write` needs,
 * faulting pages in as the CPU would. The caller holds the mmap lock for read. Throws EFAULT
 * (SIGSEGV) where the access is not allowed.
 */
export function accessPages(
  mm: Mm,
  addr: number,
  len: number,
  write: boolean,
  op: (frame: number, offset: number, at: number, n: number) => void,
): undefined | Promise<undefined> {
  const ps = mm.kernel.pageSize;
  let at = 0;
  let tries = 0;
  while (at < len) {
    const a = addr + at;
    const vpn = Math.floor(a / ps);
    const off = a - vpn * ps;
    const n = Math.min(len - at, ps - off);
    const f = usable(mm, vpn, write);
    if (f >= 0) {
      op(f, off, at, n);
      at += n;
      tries = 0;
      continue;
    }
    if (++tries > MAX_FAULT_RETRIES) throw segv(mm, a, write, -EFAULT);
    const r = faultIn(mm, a, write);
    if (typeof r !== "number") {
      const done = at;
      return r.then((v) => {
        if (v < 0 && v !== -EAGAIN) throw segv(mm, a, write, v);
        return accessPages(mm, addr + done, len - done, write, (fr, o, at2, k) => op(fr, o, at2 + done, k));
      });
    }
    if (r < 0 && r !== -EAGAIN) throw segv(mm, a, write, r);
  }
  return undefined;
}
