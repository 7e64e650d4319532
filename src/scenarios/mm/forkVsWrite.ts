// fork racing a write by another task of the parent (kernel/fork.c, mm/memory.c).
//
// fork write-protects the parent's private pages under the mmap write lock and shares them with the
// child; a write fault runs under the read side. So the child sees the page as it was either before
// or after the write, never a mix; the parent keeps its write; writes after fork copy the page in the
// writer's mm only; and once both exit every frame is back.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";
import { accountingClean, expectWord } from "./checks.js";

interface World {
  mm: Mm;
  a: number;
  child: Mm | null;
  /** What the child read at `a`. */
  childSaw: number | null;
}

const OLD = 0x01010101;
const NEW = 0x02020202;
const CHILD = 0x03030303;

export const forkVsWrite = defineScenario({
  name: "mm/fork-vs-write",
  description:
    "One task forks the process and the child writes its second page, while another task of the parent writes " +
    "its first. The child sees the first page as before or after the parent's write; neither sees the other's " +
    "write after fork; every frame is given back when both exit.",
  async setup(k: Kernel): Promise<World> {
    const mm = k.createMm({ name: "parent" });
    const a = await mm.mmap({ length: 2 * k.pageSize, prot: PROT_READ | PROT_WRITE });
    await mm.write32(a, OLD);
    await mm.write32(a + k.pageSize, OLD);
    mm.mmget(); // one user per task
    return { mm, a, child: null, childSaw: null };
  },
  tasks: {
    async forker(w: World, k: Kernel) {
      const child = await w.mm.fork({ name: "child" });
      w.child = child;
      w.childSaw = await child.read32(w.a);
      await child.write32(w.a + k.pageSize, CHILD);
      await expectWord(child, w.a, w.childSaw, "the child's first page");
      await expectWord(child, w.a + k.pageSize, CHILD, "the child's second page");
      await child.exit();
      await w.mm.mmput();
    },
    async writer(w: World, k: Kernel) {
      await w.mm.write32(w.a, NEW);
      await expectWord(w.mm, w.a, NEW, "the parent's first page");
      await expectWord(w.mm, w.a + k.pageSize, OLD, "the parent's second page");
      await w.mm.mmput();
    },
  },
  check(w: World, k: Kernel) {
    if (w.childSaw !== OLD && w.childSaw !== NEW) {
      throw new Error(`the child read ${String(w.childSaw)}, neither the old nor the new value`);
    }
    return accountingClean(k, w.child === null ? [w.mm] : [w.mm, w.child]);
  },
  expect: "pass",
  module: import.meta.url,
});
