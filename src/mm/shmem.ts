// Follows mm/shmem.c: the memory object behind a MAP_SHARED | MAP_ANONYMOUS mapping. Its pages belong
// to the object (its page cache), not to one address space: every mapping of it, in any mm (fork
// shares it), maps the same frames, and a write through one is seen through all.

import type { PhysMem } from "./physMem.js";

/** A shared anonymous memory object (a shmem inode). */
export class ShmemObject {
  /** Page offset -> frame (the object's reference on it). */
  readonly pages = new Map<number, number>();
  /** Page offset -> swap slot, for pages reclaim moved out. */
  readonly swapped = new Map<number, number>();
  /** Areas mapping the object; the last one gone frees its pages. */
  refs = 1;

  /** Drops one area's reference; the last frees every page and swap slot. */
  release(pm: PhysMem): void {
    if (--this.refs > 0) return;
    for (const f of this.pages.values()) pm.put(f);
    for (const s of this.swapped.values()) pm.swapFree(s);
    this.pages.clear();
    this.swapped.clear();
  }
}
