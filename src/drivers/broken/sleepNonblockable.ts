// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the invalidate callback takes its
// mutex with lock() even when the range is not blockable, instead of trylock (or returning false).
// The OOM reaper calls it from a context that must not sleep: behind a driver lock whose holder may
// itself wait for memory, the reaper, and the whole OOM path, can stall.
//
// Seen: the reason for mmu_notifier_range_blockable() and the non-blocking start of the OOM reaper
// (mm/oom_kill.c; kernel-spec §5.d); the 2019 "mm/hmm: Fix error flows" (§6.4 bug 2) was the core's
// own non-blocking path getting this wrong.
// Found as: sleep-in-atomic (mmun runs non-blockable interval callbacks in a non-blocking region).

import type { MmuNotifierRange } from "../../notifier/range.js";
import { PtlockMirror, type PtlockRange } from "../patterns/ptlock.js";

export class SleepNonblockable extends PtlockMirror {
  override invalidate(sub: PtlockRange, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    // BUG: sleeps whatever range.blockable says.
    const p = this.lock.lock();
    if (p !== undefined) return p.then(() => this.invalidateLocked(sub, range, curSeq));
    return this.invalidateLocked(sub, range, curSeq);
  }
}
