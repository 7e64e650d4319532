// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the fault calls readBegin once and
// reuses that sequence on every retry. After one collision the notifier's sequence has moved past it
// for good: hmmRangeFault answers -EBUSY and readRetry true on every attempt, and the fault loops
// without sleeping (readBegin would have waited for the invalidation to end), so its deadline on
// the clock never comes.
//
// Seen: state from the first attempt reused by the retries, as in nouveau's fault path until 2020
// (kernel-spec §6.4 bug 10: the per-page input array was not re-initialised after -EBUSY); the
// loop's shape is §5.a: read_begin starts every attempt.
// Found as: error (the execution passes its step bound: a livelock).

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { PtlockMirror } from "../patterns/ptlock.js";

export class StaleSeq extends PtlockMirror {
  protected override readBegin(range: HmmRange<Mm>): number | Promise<number> {
    // BUG: only the first attempt of a fault (notifierSeq still 0) asks readBegin.
    if (range.notifierSeq !== 0) return range.notifierSeq;
    return range.notifier.readBegin();
  }
}
