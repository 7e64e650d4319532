// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: readRetry is checked BEFORE the driver
// lock is taken. An invalidation can then run its callback (setSeq, zap) and change the PTEs
// between the check and the lock, and the fault programs pages that are already stale.
//
// Seen: the 2019 review of amdgpu's conversion (kernel-spec §6.4 bug 12: results used outside the
// notifier lock, and KFD ignoring read_retry); the rule is §6.3 item 38: read_retry is meaningful only
// under the lock the callback takes, held until the device is programmed.
// Found as: stale-mapping (the device maps a frame the CPU no longer has there).

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { PtlockMirror } from "../patterns/ptlock.js";

export class ReadRetryOutsideLock extends PtlockMirror {
  protected override async commit(range: HmmRange<Mm>): Promise<boolean> {
    // BUG: the check is not under the lock; an invalidation may slip in before lock() returns.
    if (range.notifier.readRetry(range.notifierSeq)) return false;
    const p = this.lock.lock();
    if (p !== undefined) await p;
    this.program(range);
    await this.flush();
    this.lock.unlock();
    return true;
  }
}
