// A device mirroring a page while the process unmaps it or takes write access away: the correct
// driver zaps in its invalidate callback and retries on a collision; the broken one zaps only for
// UNMAP, the mistake of a driver that reads the event as "the range goes away" and ignores the
// others (kernel-spec §2.3: PROTECTION_VMA means the mirror must drop write access).

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";
import { MmuNotifierEvent } from "../../notifier/range.js";
import { accountingClean } from "./checks.js";
import { createMirror, type Mirror, mirrorPage, releaseMirror } from "./deviceMirror.js";

interface World {
  mm: Mm;
  a: number;
  mirror: Mirror;
}

async function setup(k: Kernel, onlyUnmap: boolean): Promise<World> {
  const mm = k.createMm({ name: "mm" });
  const a = await mm.mmap({ length: k.pageSize, prot: PROT_READ | PROT_WRITE });
  await mm.write32(a, 1);
  const mirror = await createMirror(
    k,
    mm,
    a,
    k.pageSize,
    (r) => !onlyUnmap || r.event === MmuNotifierEvent.UNMAP,
  );
  mm.mmget(); // one user per task
  return { mm, a, mirror };
}

/** The device task: mirrors the page writable, writes through it, then lets go. */
async function device(w: World): Promise<void> {
  if ((await mirrorPage(w.mirror, w.a, true)) === 0) w.mirror.dev.write32(w.mm, w.a, 2);
  await releaseMirror(w.mirror);
  await w.mm.mmput();
}

/** Correct: the device and munmap race; the device never keeps the unmapped page. */
export const mirrorVsMunmap = defineScenario({
  name: "mm/mirror-vs-munmap",
  description:
    "A device faults a page in and mirrors it writable (readBegin, fault, driver lock, readRetry, map) while " +
    "the process munmaps it. Its invalidate callback zaps under the driver lock, so the device never holds " +
    "the page after the CPU PTE is gone, and once munmap returns it cannot map it again.",
  setup: (k: Kernel) => setup(k, false),
  tasks: {
    device,
    async munmap(w: World, k: Kernel) {
      await w.mm.munmap(w.a, k.pageSize);
      if (w.mirror.dev.lookup(w.mm, w.a) !== undefined)
        throw new Error("the device maps the page after munmap");
      await w.mm.mmput();
    },
  },
  check: (w: World, k: Kernel) => accountingClean(k, [w.mm]),
  expect: "pass",
  module: import.meta.url,
});

/** Broken: the callback zaps only for UNMAP; mprotect(PROT_READ) leaves the device writing. */
export const mirrorZapsOnlyUnmap = defineScenario({
  name: "mm/mirror-zaps-only-unmap",
  description:
    "The same device, but its invalidate callback zaps only for UNMAP events. When the process makes the " +
    "page read-only (mprotect, a PROTECTION_VMA invalidation) after the device mapped it writable, the device " +
    "keeps write access the CPU no longer has: the coherence oracle reports a stale mapping.",
  setup: (k: Kernel) => setup(k, true),
  tasks: {
    device,
    async mprotect(w: World, k: Kernel) {
      await w.mm.mprotect(w.a, k.pageSize, PROT_READ);
      await w.mm.mmput();
    },
  },
  expect: "stale-mapping",
  module: import.meta.url,
});
