// Follows mm/madvise.c: madvise(MADV_DONTNEED) -> zap_page_range_single, with the mmap lock held for
// read. Each area part gets one CLEAR invalidation over the part (raised whether or not anything is
// mapped there), then its PTEs are zapped: private memory reads back as zeroes afterwards, shared
// memory is faulted back from its object.

import { MmunError } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { zapRange } from "./memory.js";
import type { Mm } from "./mm.js";
import { checkAligned, pageAlignLength, withReadLock } from "./mmap.js";
import { hex } from "./vma.js";

/** The advice mmun models. */
export type MadviseAdvice = "dontneed";

/**
 * `madvise()`: applies `advice` to the mapped parts of `[addr, addr + length)`; throws ENOMEM
 * afterwards, as Linux returns it, when part of the range was not mapped.
 */
export async function madvise(mm: Mm, addr: number, length: number, advice: MadviseAdvice): Promise<void> {
  mm.checkAlive("madvise");
  if (advice !== "dontneed")
    throw new MmunError("EINVAL", `madvise: unknown advice ${JSON.stringify(advice)}`);
  checkAligned(mm, addr, "madvise");
  if (length === 0) return;
  const len = pageAlignLength(mm, length, "madvise");
  const end = addr + len;
  const ps = mm.kernel.pageSize;
  await withReadLock(mm, async () => {
    const parts = mm.vmas.intersecting(addr, end);
    for (const vma of parts) {
      const s = Math.max(addr, vma.start);
      const e = Math.min(end, vma.end);
      const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, s, e);
      const st = mm.notifiers.invalidateRangeStart(range);
      if (st !== undefined) await st;
      const z = zapRange(mm, s / ps, e / ps, MmuNotifierEvent.CLEAR);
      if (z !== undefined) await z;
      const en = mm.notifiers.invalidateRangeEnd(range);
      if (en !== undefined) await en;
    }
    if (!mm.vmas.covers(addr, end)) {
      throw new MmunError(
        "ENOMEM",
        `madvise: [${hex(addr)}, ${hex(end)}) is not entirely mapped in ${mm.name}`,
      );
    }
  });
}
