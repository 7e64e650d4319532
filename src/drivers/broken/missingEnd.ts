// A ptlock driver (drivers/patterns/ptlock.ts) that also counts the invalidations in flight over its
// ranges, as hmm's core did in 2019 (hmm->notifiers) and KVM does (mmu_invalidate_in_progress): the
// interval callback counts one up, the end of the invalidation (a classic notifier's
// invalidateRangeEnd, which runs after the PTEs changed) counts it down, and a fault waits for zero
// before it starts. One mistake: when a non-blocking callback's trylock fails, it returns false
// without counting down. The core then fails the start with -EAGAIN and, as the caller must not
// call end after a failed start, no end ever comes: the count stays up and every later fault waits
// for ever. (The correct driver counts down before returning false.)
//
// Seen: "mm/hmm: Fix error flows in hmm_invalidate_range_start" (2019, kernel-spec §6.4 bug 2): a
// failed trylock returned without decrementing hmm->notifiers; the same rule is why a classic start
// that can fail must not have an end (§6.4 bug 4, §5.d).
// Found as: deadlock (the device's next fault waits for a count nothing will lower).

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { MmuNotifier } from "../../notifier/classicNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";
import type { WaitQueue } from "../../sync/waitQueue.js";
import { PtlockMirror, type PtlockRange } from "../patterns/ptlock.js";

export class MissingEnd extends PtlockMirror {
  /** Invalidations of the mirrored ranges between their first callback and their end. */
  inflight = 0;
  private readonly counted = new WeakSet<MmuNotifierRange>();
  private idle: WaitQueue | undefined;
  private endNotifier: MmuNotifier | undefined;

  protected override async opened(): Promise<void> {
    this.idle = this.kernel.waitQueue("invalidations in flight");
    this.endNotifier = new MmuNotifier({
      name: `${this.pt.name} end`,
      // Pairs with the count in invalidate: one end per counted invalidation.
      invalidateRangeEnd: (_n, range) => {
        if (!this.counted.has(range)) return;
        this.counted.delete(range);
        this.inflight--;
        this.idle?.wakeUpAll();
      },
    });
    await this.mm.notifiers.register(this.endNotifier);
  }

  override async close(): Promise<void> {
    await super.close();
    if (this.endNotifier !== undefined) await this.mm.notifiers.unregister(this.endNotifier);
  }

  override invalidate(sub: PtlockRange, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    if (!this.counted.has(range)) {
      this.counted.add(range);
      this.inflight++;
    }
    if (!range.blockable) {
      // BUG: no end follows a failed start; the count must come down here, and it does not.
      if (!this.lock.trylock()) return false;
      return this.invalidateLocked(sub, range, curSeq);
    }
    const p = this.lock.lock();
    if (p !== undefined) return p.then(() => this.invalidateLocked(sub, range, curSeq));
    return this.invalidateLocked(sub, range, curSeq);
  }

  /** A fault starts once no invalidation of the ranges is in flight (hmm_range_wait_until_valid). */
  protected override async readBegin(range: HmmRange<Mm>): Promise<number> {
    const w = this.idle?.waitEvent(() => this.inflight === 0);
    if (w !== undefined) await w;
    return super.readBegin(range);
  }
}
