// A whole-system consistency check of the simulated memory, for tests: every PTE lies in an area and
// maps a live frame (for shared memory, its object's frame); each frame's mapcount and refcount are
// what the PTEs and objects mapping it account for (device-private and device-exclusive entries map
// their page too); rss and swap entries match; and physical memory holds exactly the frames, device
// frames and swap slots reachable from the live address spaces (no migration may be in flight).

import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_ENTRY, PTE_PRESENT, PTE_PROTNONE, PTE_SWAP } from "../../src/mm/pageTable.js";
import { ZERO_FRAME } from "../../src/mm/physMem.js";
import type { ShmemObject } from "../../src/mm/shmem.js";

/** Returns the violations found (empty when consistent). `mms`: every live address space. */
export function mmInvariants(k: Kernel, mms: readonly Mm[]): string[] {
  const pm = k.physMem;
  const ps = k.pageSize;
  const bad: string[] = [];
  const maps = new Map<number, number>();
  const objects = new Set<ShmemObject>();
  const slots = new Set<number>();
  for (const mm of mms) {
    let resident = 0;
    let swap = 0;
    for (const v of mm.vmas.list) if (v.shmem !== null) objects.add(v.shmem);
    mm.pageTable.forEachLeaf(0, mm.taskSize / ps + 1, (leaf, base, from, to) => {
      for (let j = from; j < to; j++) {
        const fl = leaf.flags[j] as number;
        if (fl === 0) continue;
        const addr = (base + j) * ps;
        const val = leaf.val[j] as number;
        const vma = mm.vmas.find(addr);
        const where = `${mm.name} 0x${addr.toString(16)}`;
        if (vma === undefined) bad.push(`${where}: a PTE outside every area`);
        if (fl & (PTE_PRESENT | PTE_PROTNONE | PTE_DEVICE_ENTRY)) {
          if (val === ZERO_FRAME) continue;
          resident++;
          maps.set(val, (maps.get(val) ?? 0) + 1);
          if (!pm.isLive(val)) bad.push(`${where}: maps freed frame ${val}`);
          if (vma?.shmem != null && vma.shmem.pages.get(vma.pgoffOf(addr, ps)) !== val) {
            bad.push(`${where}: maps frame ${val}, not its object's page`);
          }
        } else if (fl & PTE_SWAP) {
          swap++;
          slots.add(val);
          if (vma?.shmem != null) bad.push(`${where}: a swap entry in shared memory`);
        }
      }
    });
    if (mm.rss !== resident || mm.swapEntries !== swap) {
      bad.push(`${mm.name}: rss ${mm.rss} / swap ${mm.swapEntries}, its PTEs say ${resident} / ${swap}`);
    }
  }
  const owned = new Set<number>();
  for (const o of objects) {
    for (const f of o.pages.values()) {
      owned.add(f);
      if (!pm.isLive(f)) bad.push(`a shared object holds freed frame ${f}`);
    }
    for (const s of o.swapped.values()) slots.add(s);
  }
  const frames = new Set([...maps.keys(), ...owned]);
  for (const f of frames) {
    const m = maps.get(f) ?? 0;
    const r = m + (owned.has(f) ? 1 : 0);
    if (pm.mapcount[f] !== m || pm.refcount[f] !== r) {
      bad.push(`frame ${f}: mapcount ${pm.mapcount[f]}, refcount ${pm.refcount[f]}; expected ${m}, ${r}`);
    }
  }
  const st = pm.stats();
  const device = [...frames].filter((f) => pm.isDevice(f)).length;
  if (st.inUse !== frames.size - device)
    bad.push(`${st.inUse} frames in use, ${frames.size - device} reachable`);
  if (st.deviceInUse !== device) bad.push(`${st.deviceInUse} device frames in use, ${device} reachable`);
  if (st.swapSlots !== slots.size) bad.push(`${st.swapSlots} swap slots in use, ${slots.size} reachable`);
  return bad;
}
