// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the fault calls readBegin while holding
// the driver lock. readBegin waits for an invalidation in flight to end; that invalidation's callback
// waits for the driver lock: a deadlock whenever they meet, and a lock-order inversion (driver lock
// -> the invalidate map -> driver lock) whether or not they do.
//
// Seen: kernel-spec §5.c D4 and §6.3 item 41 (read_begin, remove and hmm_range_fault are never
// called under the update lock); mmu_interval_read_begin() touches the lockdep map
// "mmu_notifier_invalidate_range_start" for exactly this.
// Found as: lock-order.

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { PtlockMirror } from "../patterns/ptlock.js";

export class ReadBeginUnderLock extends PtlockMirror {
  protected override async readBegin(range: HmmRange<Mm>): Promise<number> {
    // BUG: the driver lock is held across readBegin (say, to look the range up).
    const p = this.lock.lock();
    if (p !== undefined) await p;
    try {
      return await range.notifier.readBegin();
    } finally {
      this.lock.unlock();
    }
  }
}
