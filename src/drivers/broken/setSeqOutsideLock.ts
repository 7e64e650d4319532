// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: setSeq is called after the driver lock
// is released (here once the device acknowledged the TLB invalidation, which the callback waits for
// unlocked). Between the unlock and setSeq a fault can take the lock, find readRetry false (the
// sequence is still the old one) and program the pages the callback has just zapped.
//
// Seen: v1 of the 2019 series stored the sequence outside the driver lock, which is why v2 added
// mmu_interval_set_seq() to be called under it (kernel-spec §6.4 bug 3, §3.2).
// Found as: stale-mapping.

import type { MmuNotifierRange } from "../../notifier/range.js";
import { PtlockMirror, type PtlockRange } from "../patterns/ptlock.js";

export class SetSeqOutsideLock extends PtlockMirror {
  protected override async invalidateLocked(
    sub: PtlockRange,
    range: MmuNotifierRange,
    curSeq: number,
  ): Promise<boolean> {
    this.zap(sub, range);
    this.lock.unlock();
    await this.flush();
    // BUG: outside the lock that readRetry is checked under.
    sub.setSeq(curSeq);
    return true;
  }
}
