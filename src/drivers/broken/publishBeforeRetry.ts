// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the device PTEs are programmed before
// readRetry is checked, and undone when it says the pages were stale. Under the lock, but the device
// could already use them: when the invalidation's PTE change has happened, the device maps (for a
// moment) a frame the CPU no longer has there.
//
// Seen: the rule of kernel-spec §6.3 item 38 ("no result ... is programmed into hardware unless
// read_retry returned false under the update lock"), which drivers converted in 2019 had to learn
// (hmm.rst's example then checked validity after programming).
// Found as: stale-mapping (at the device's map).

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { PtlockMirror } from "../patterns/ptlock.js";

export class PublishBeforeRetry extends PtlockMirror {
  protected override async commit(range: HmmRange<Mm>): Promise<boolean> {
    const p = this.lock.lock();
    if (p !== undefined) await p;
    // BUG: programmed first, checked after.
    this.program(range);
    await this.flush();
    if (range.notifier.readRetry(range.notifierSeq)) {
      this.pt.unmapRange(this.mm, range.start, range.end);
      this.lock.unlock();
      return false;
    }
    this.lock.unlock();
    return true;
  }
}
