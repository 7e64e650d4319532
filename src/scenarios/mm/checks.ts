// What the mm scenarios check: a word a process reads, and that exited address spaces gave back
// every frame and swap slot.

import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";

/** Throws unless the process `mm` reads `value` at `addr`. */
export async function expectWord(mm: Mm, addr: number, value: number, what: string): Promise<void> {
  const v = await mm.read32(addr);
  if (v !== value) {
    throw new Error(
      `${what} (${mm.name} 0x${addr.toString(16)}) reads 0x${v.toString(16)}, not 0x${value.toString(16)}`,
    );
  }
}

/** Throws unless every mm of `mms` has exited and physical memory holds no frame or swap slot. */
export function accountingClean(k: Kernel, mms: readonly Mm[]): true {
  for (const mm of mms) if (!mm.dead) throw new Error(`${mm.name} is still alive`);
  const s = k.physMem.stats();
  if (s.inUse !== 0 || s.swapSlots !== 0) {
    throw new Error(`exit left ${s.inUse} frame(s) and ${s.swapSlots} swap slot(s) in use`);
  }
  return true;
}
