// A minimal mirroring device for the mm scenarios: the canonical collision-retry loop of
// kernel-spec §5.a (nouveau, test_hmm) over one page at a time, with its translations in a
// DevicePageTable the coherence oracle watches.
//
//   device (mirrorPage)                      mm (munmap, mprotect, ...)
//   seq = readBegin()
//   mmap read lock; fault the page in;
//   read its PTE; unlock
//                                            invalidate start -> invalidate(): driver lock,
//                                              zap the device's translations, setSeq, unlock
//                                            change the CPU PTE
//   driver lock
//   readRetry(seq)? unlock, start again
//   map the frame in the device; unlock

import { EAGAIN } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Kernel } from "../../mm/kernel.js";
import { faultIn } from "../../mm/memory.js";
import type { Mm } from "../../mm/mm.js";
import { PTE_PRESENT, PTE_WRITE } from "../../mm/pageTable.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";

/** One device mirroring part of one mm. */
export interface Mirror {
  mm: Mm;
  dev: DevicePageTable;
  /** The driver's update lock: its invalidate callback and its device updates take it. */
  lock: Mutex;
  sub: MmuIntervalNotifier<Mm>;
}

/**
 * Registers a device mirroring `[start, start + length)` of `mm`. Its invalidate callback zaps the
 * device's translations of the range when `zaps(range)` says so (always, for a correct driver),
 * under the driver lock, and records the sequence.
 */
export async function createMirror(
  k: Kernel,
  mm: Mm,
  start: number,
  length: number,
  zaps: (range: MmuNotifierRange) => boolean = () => true,
): Promise<Mirror> {
  const dev = k.devicePageTable("gpu");
  const lock = k.mutex("gpu_update_lock");
  const sub = await MmuIntervalNotifier.insert(mm, start, length, {
    name: "gpu",
    async invalidate(s, range, cur) {
      if (!range.blockable) {
        if (!lock.trylock()) return false;
      } else {
        const p = lock.lock();
        if (p !== undefined) await p;
      }
      if (zaps(range)) dev.unmapRange(mm, range.start, range.end);
      s.setSeq(cur); // pairs with readRetry in mirrorPage
      lock.unlock();
      return true;
    },
  });
  return { mm, dev, lock, sub };
}

/**
 * Faults the page of `addr` in (for `write` or read) and maps its frame in the device, retrying
 * while invalidations collide. Returns 0, or the negative errno of the fault (-EFAULT: no mapping
 * there, or not with that access).
 */
export async function mirrorPage(m: Mirror, addr: number, write: boolean): Promise<number> {
  const { mm, sub, lock, dev } = m;
  const vpn = Math.floor(addr / mm.kernel.pageSize);
  for (;;) {
    const seq = await sub.readBegin(); // pairs with setSeq in the invalidate callback
    const p = mm.mmapLock.downRead();
    if (p !== undefined) await p;
    let r = faultIn(mm, addr, write);
    if (typeof r !== "number") r = await r;
    const flags = mm.pageTable.flagsAt(vpn);
    const frame = mm.pageTable.valAt(vpn);
    mm.mmapLock.upRead();
    if (r < 0 && r !== -EAGAIN) return r;
    if (!(flags & PTE_PRESENT) || (write && !(flags & PTE_WRITE))) continue; // fault again
    const q = lock.lock();
    if (q !== undefined) await q;
    if (sub.readRetry(seq)) {
      lock.unlock();
      continue;
    }
    dev.map(mm, addr, frame, { write });
    lock.unlock();
    return 0;
  }
}

/** The device lets go of `mm`: drops its translations under the driver lock, then its notifier. */
export async function releaseMirror(m: Mirror): Promise<void> {
  const p = m.lock.lock();
  if (p !== undefined) await p;
  m.dev.unmapAll(m.mm);
  m.lock.unlock();
  await m.sub.remove();
}
