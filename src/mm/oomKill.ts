// Follows mm/oom_kill.c (__oom_reap_task_mm): the OOM reaper frees a killed process's private memory
// without waiting for it to exit. It must not sleep on anything the victim may hold: it takes the mmap
// lock by trylock (giving up with -EAGAIN when that fails) and starts each area's UNMAP invalidation
// with the non-blocking entry point, skipping an area whose subscribers answer -EAGAIN (they would
// have to sleep) and reaping the others.

import { EAGAIN } from "../lib/errno.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../notifier/range.js";
import { zapRange } from "./memory.js";
import type { Mm } from "./mm.js";

/** `__oom_reap_task_mm()`: returns the areas skipped, or -EAGAIN when the mmap lock was busy. */
export async function oomReap(mm: Mm): Promise<number> {
  if (mm.dead) return 0;
  const lk = mm.mmapLock;
  if (!lk.downReadTrylock()) return -EAGAIN;
  const ps = mm.kernel.pageSize;
  let skipped = 0;
  try {
    for (const vma of [...mm.vmas.list]) {
      // Shared memory belongs to its object, not to the victim: the reaper leaves it.
      if (vma.shared) continue;
      const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, mm, vma.start, vma.end);
      let r = mm.notifiers.invalidateRangeStartNonblock(range);
      if (typeof r !== "number") r = await r;
      if (r !== 0) {
        skipped++;
        continue;
      }
      const z = zapRange(mm, vma.start / ps, vma.end / ps, MmuNotifierEvent.UNMAP);
      if (z !== undefined) await z;
      const e = mm.notifiers.invalidateRangeEnd(range);
      if (e !== undefined) await e;
    }
  } finally {
    lk.upRead();
  }
  const k = mm.kernel;
  if (k.trace !== null) k.event("note", mm.id, skipped, `oom reaper: ${skipped} area(s) skipped`);
  return skipped;
}
