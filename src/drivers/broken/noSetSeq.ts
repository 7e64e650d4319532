// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the invalidate callback zaps the
// device but never calls setSeq. readRetry compares the notifier's sequence with the one readBegin
// returned; without setSeq it never changes, so a fault whose hmmRangeFault ran before the
// invalidation (and saw the old pages) passes readRetry afterwards and programs them.
//
// Seen: radeon's userptr notifier (kernel-spec §5.c: radeon_mn_invalidate calls neither set_seq nor
// read_retry), and v1 of the 2019 series, where the core, not the driver, stored the sequence
// (§6.4 bug 3). The rule is §6.3 item 40.
// Found as: stale-mapping.

import type { MmuNotifierRange } from "../../notifier/range.js";
import { PtlockMirror, type PtlockRange } from "../patterns/ptlock.js";

export class NoSetSeq extends PtlockMirror {
  protected override invalidateLocked(sub: PtlockRange, range: MmuNotifierRange, _curSeq: number): boolean {
    // BUG: no sub.setSeq(curSeq): readRetry cannot see this invalidation.
    this.zap(sub, range);
    this.lock.unlock();
    return true;
  }
}
