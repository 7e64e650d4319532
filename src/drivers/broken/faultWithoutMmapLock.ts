// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: hmmRangeFault is called without the
// mmap lock. It walks the page tables and faults pages in while munmap or mprotect may be changing
// the areas under it.
//
// Seen: hmm_range_fault() requires the mmap lock (kernel-spec §6.2 item 31; mm/hmm.c asserts it with
// mmap_assert_locked), and every driver takes mmap_read_lock around it (§5.a step 4, §5.b step 2).
// Found as: warn (hmmRangeFault's lockdep_assert_held).

import { type HmmRange, hmmRangeFault } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { PtlockMirror } from "../patterns/ptlock.js";

export class FaultWithoutMmapLock extends PtlockMirror {
  protected override async rangeFault(range: HmmRange<Mm>): Promise<number> {
    // BUG: no mmap_read_lock around it.
    const r = hmmRangeFault(range);
    return typeof r === "number" ? r : await r;
  }
}
