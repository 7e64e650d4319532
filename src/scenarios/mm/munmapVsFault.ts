// munmap racing a CPU write fault on the page it unmaps (mm/mmap.c, mm/memory.c).
//
// munmap detaches the area with the mmap lock held for write, then zaps with it downgraded to read;
// the fault runs under the read side. So the write either lands before munmap takes the lock (and
// goes away with the page) or finds no area and faults (SIGSEGV): it never installs a PTE in the
// unmapped range, never touches the neighbouring page, and no frame outlives the address space.

import { defineScenario } from "../../explore/scenario.js";
import { MmunError } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";
import { accountingClean, expectWord } from "./checks.js";

interface World {
  mm: Mm;
  /** The page munmap removes; the page after it stays. */
  a: number;
  /** How the racing write ended. */
  write: "done" | "SIGSEGV" | null;
}

const KEPT = 0x5a5a5a5a;

export const munmapVsWriteFault = defineScenario({
  name: "mm/munmap-vs-write-fault",
  description:
    "One task munmaps the first of two pages while another writes to it (faulting it in) and then to the " +
    "second. The write either completes before the unmap or faults with SIGSEGV; the unmapped range keeps no " +
    "PTE, the second page keeps its data, and exit gives every frame back.",
  async setup(k: Kernel): Promise<World> {
    const mm = k.createMm({ name: "mm" });
    const a = await mm.mmap({ length: 2 * k.pageSize, prot: PROT_READ | PROT_WRITE });
    await mm.write32(a + k.pageSize, KEPT);
    mm.mmget(); // one user per task; the last mmput tears the mm down
    return { mm, a, write: null };
  },
  tasks: {
    async munmap(w: World, k: Kernel) {
      await w.mm.munmap(w.a, k.pageSize);
      if (w.mm.pageTable.flagsAt(w.a / k.pageSize) !== 0) throw new Error("a PTE survived munmap");
      await expectWord(w.mm, w.a + k.pageSize, KEPT, "the page next to the unmapped one");
      await w.mm.mmput();
    },
    async writer(w: World, k: Kernel) {
      try {
        await w.mm.write32(w.a, 1);
        w.write = "done";
      } catch (e) {
        if (!(e instanceof MmunError) || e.code !== "EFAULT") throw e;
        w.write = "SIGSEGV";
      }
      await w.mm.write32(w.a + k.pageSize + 4, 2);
      await expectWord(w.mm, w.a + k.pageSize, KEPT, "the page next to the unmapped one");
      await w.mm.mmput();
    },
  },
  check: (w: World, k: Kernel) => w.write !== null && accountingClean(k, [w.mm]),
  expect: "pass",
  module: import.meta.url,
});
