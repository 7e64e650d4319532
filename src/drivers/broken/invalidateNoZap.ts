// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the invalidate callback calls setSeq
// and returns true without zapping the device PTEs. Faults in flight retry, but what the device
// already maps stays mapped after the PTE changes.
//
// Seen: nouveau's interval callback only bumps the sequence; its GPU zap lives in a classic
// invalidate_range_start under the same mutex, an ordering its own comment calls fragile
// (kernel-spec §5.a step 4): a driver that keeps the first half and loses the second is this one.
// The rule is §6.3 item 39.
// Found as: stale-mapping.

import type { MmuNotifierRange } from "../../notifier/range.js";
import { PtlockMirror, type PtlockRange } from "../patterns/ptlock.js";

export class InvalidateNoZap extends PtlockMirror {
  protected override invalidateLocked(sub: PtlockRange, _range: MmuNotifierRange, curSeq: number): boolean {
    sub.setSeq(curSeq);
    // BUG: no this.zap(sub, range): the device keeps its translations.
    this.lock.unlock();
    return true;
  }
}
