// Follows lib/test_hmm.c (dmirror_interval_invalidate, dmirror_do_update, dmirror_range_fault,
// dmirror_fault, dmirror_do_fault): the canonical HMM mirror (kernel-spec §5.a), both sides.
//
//   fault (a device access the page table cannot serve)      invalidate (the mm changes PTEs)
//   ----------------------------------------------------     -----------------------------------
//   mmgetNotZero; per chunk of 32 pages, until 1000 ms:      MIGRATE by this device: return true
//     seq = readBegin()          (pairs with readRetry)      mutex (by trylock when the range may
//     mmap read lock; hmmRangeFault; unlock                    not block: false when it is busy)
//       -EBUSY: again; other errors: return them             setSeq(curSeq)  (pairs with readRetry)
//     mutex; readRetry(seq): unlock, again                   erase [start, end] of the device PT
//     map every page of the chunk on the device PT           unlock; return true
//     unlock
//   mmput
//
// The fault never holds the mutex while it faults, and commits only under it after readRetry said
// that no invalidation touched the notifier since readBegin: whatever it maps is what the CPU maps,
// and the next invalidation erases it before the PTE changes (the coherence oracle checks that).

import {
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmRangeFaultMmapRead,
} from "../../hmm/hmm.js";
import { EBUSY, EFAULT } from "../../lib/errno.js";
import type { Mm } from "../../mm/mm.js";
import type { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { MmuNotifierEvent, type MmuNotifierRange } from "../../notifier/range.js";
import type { Dmirror } from "./mirror.js";

/** `HMM_RANGE_DEFAULT_TIMEOUT`: how long (logical ms) a driver keeps retrying one range. */
export const HMM_RANGE_DEFAULT_TIMEOUT = 1000;
/** Pages per `hmmRangeFault` call of the fault and SNAPSHOT paths (the kernel's `pfns[32]`). */
export const DMIRROR_CHUNK_PAGES = 32;

/**
 * `dmirror_interval_invalidate()`: the mirror's notifier callback. Ignores the device's own
 * migrations (their code updates the device page table itself); otherwise, under the mutex (by
 * trylock when the range may not block: false if it is busy), records `curSeq` and erases the device
 * translations of the range.
 */
export function dmirrorIntervalInvalidate(
  m: Dmirror,
  sub: MmuIntervalNotifier<Mm>,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  m.hooks.onInvalidate?.(m, range);
  if (range.event === MmuNotifierEvent.MIGRATE && range.owner === m.device) return true;
  if (range.blockable) {
    const p = m.mutex.lock();
    if (p !== undefined) return p.then(() => invalidateLocked(m, sub, range, curSeq));
  } else if (!m.mutex.trylock()) {
    return false;
  }
  return invalidateLocked(m, sub, range, curSeq);
}

function invalidateLocked(
  m: Dmirror,
  sub: MmuIntervalNotifier<Mm>,
  range: MmuNotifierRange,
  curSeq: number,
): true {
  // Pairs with readRetry in dmirrorRangeRetry, under the same mutex.
  sub.setSeq(curSeq);
  dmirrorDoUpdate(m, range.start, range.end);
  m.mutex.unlock();
  return true;
}

/**
 * `dmirror_do_update()`: erases the device translations of pages `start >> PAGE_SHIFT` up to and
 * including `end >> PAGE_SHIFT`: the kernel's loop is inclusive, so it also drops the page just past
 * an exclusive `end` (legal over-invalidation; nothing may depend on it). The caller holds the mutex.
 */
export function dmirrorDoUpdate(m: Dmirror, start: number, end: number): void {
  const ps = m.mm.kernel.pageSize;
  m.pt.unmapRange(m.mm, Math.floor(start / ps) * ps, (Math.floor(end / ps) + 1) * ps);
}

/**
 * `dmirror_fault()`: makes the device page table map `[start, end)` (writable when `write`), one
 * chunk of 32 pages at a time. Returns 0 or the first chunk's error (-EFAULT, -EPERM, -EBUSY after
 * the timeout, -ENOMEM).
 *
 * Linux returns 0 when the address space is already gone (mmget_not_zero fails), and READ and WRITE
 * then retry forever (kernel-tests §4 C9); here that is -EFAULT, the answer for an address space
 * that maps nothing.
 */
export async function dmirrorFault(m: Dmirror, start: number, end: number, write: boolean): Promise<number> {
  const mm = m.mm;
  // Pairs with the mmput below.
  if (!mm.mmgetNotZero()) return -EFAULT;
  const ps = mm.kernel.pageSize;
  const range: HmmRange<Mm> = {
    notifier: m.notifier,
    notifierSeq: 0,
    start,
    end: start,
    pfns: new Uint32Array(DMIRROR_CHUNK_PAGES),
    flags: new Uint16Array(DMIRROR_CHUNK_PAGES),
    defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
    pfnFlagsMask: 0,
    devPrivateOwner: m.device,
  };
  let ret = 0;
  try {
    for (let addr = start; addr < end; addr = range.end) {
      range.start = addr;
      range.end = Math.min(addr + DMIRROR_CHUNK_PAGES * ps, end);
      ret = await dmirrorRangeFault(m, range);
      if (ret !== 0) break;
    }
  } finally {
    const p = mm.mmput();
    if (p !== undefined) await p;
  }
  return ret;
}

/**
 * `dmirror_range_fault()`: the collision-retry loop for one chunk (see the header), then the commit
 * under the mutex.
 */
async function dmirrorRangeFault(m: Dmirror, range: HmmRange<Mm>): Promise<number> {
  const ret = await dmirrorRangeRetry(m, range);
  if (ret !== 0) return ret;
  const r = dmirrorDoFault(m, range);
  m.mutex.unlock();
  return r;
}

/**
 * The collision-retry loop of dmirror_range_fault() and dmirror_range_snapshot(): until the kernel's
 * 1000 ms (logical clock: -EBUSY once `kernel.now()` passed it), `readBegin`, `hmmRangeFault` under
 * the mmap lock taken for read (-EBUSY: again; another error: returned), then the mutex and
 * `readRetry` of `range.notifier` (true: unlock, again). Returns 0 with the mutex held and the
 * range's results current (the caller uses them, then unlocks), or an error without it.
 */
export async function dmirrorRangeRetry(m: Dmirror, range: HmmRange<Mm>): Promise<number> {
  const mm = range.notifier.mm;
  const k = mm.kernel;
  const timeout = k.now() + HMM_RANGE_DEFAULT_TIMEOUT;
  for (;;) {
    if (k.now() > timeout) return -EBUSY;
    const s = range.notifier.readBegin();
    // Pairs with readRetry below.
    range.notifierSeq = typeof s === "number" ? s : await s;
    const ret = await hmmRangeFaultMmapRead(range);
    if (ret !== 0) {
      if (ret === -EBUSY) continue;
      return ret;
    }
    const h = m.hooks.afterRangeFault?.(m, range);
    if (h !== undefined) await h;
    const l = m.mutex.lock();
    if (l !== undefined) await l;
    // Pairs with setSeq in the notifier's callback, under the same mutex.
    if (!range.notifier.readRetry(range.notifierSeq)) return 0;
    m.mutex.unlock();
  }
}

/**
 * `dmirror_do_fault()`: maps every page of the chunk on the device page table, writable exactly when
 * HMM reported WRITE (even for a read fault). The caller holds the mutex and saw readRetry false.
 */
function dmirrorDoFault(m: Dmirror, range: HmmRange<Mm>): number {
  const { mm, pt } = m;
  const k = mm.kernel;
  const ps = k.pageSize;
  const n = (range.end - range.start) / ps;
  for (let i = 0; i < n; i++) {
    const fl = range.flags[i] as number;
    const addr = range.start + i * ps;
    // A fault was requested for every page, so success means every result is valid.
    if (fl & HMM_PFN_ERROR) k.warn(`${m}: hmmRangeFault succeeded with an ERROR page at ${addr}`);
    if (!(fl & HMM_PFN_VALID)) k.warn(`${m}: hmmRangeFault succeeded with an invalid page at ${addr}`);
    const write = (fl & HMM_PFN_WRITE) !== 0;
    if (!write && range.defaultFlags & HMM_PFN_REQ_WRITE) {
      k.warn(`${m}: a write fault left ${addr} read-only`);
      return -EFAULT;
    }
    pt.map(mm, addr, range.pfns[i] as number, { write });
  }
  return 0;
}
