// Accounting: every frame and swap slot comes back when the last mm mapping it exits, in either
// order, and each mm's rss and swap-entry counts match its page table along the way.

import { describe, expect, it } from "vitest";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { countPtes, expectBytes, PAGE, pageOf, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

/** `mm.rss` and `mm.swapEntries` agree with the PTEs of its page table. */
function expectCounts(mm: Mm): void {
  const { resident, swap } = countPtes(mm);
  expect({ rss: mm.rss, swap: mm.swapEntries }).toEqual({ rss: resident, swap });
}

describe("physMem and rss accounting", () => {
  for (const first of ["parent", "child"] as const) {
    it(`return to zero after the ${first} exits first, with private, shared and swapped pages`, async () => {
      const { k, mm } = world();
      const priv = await mm.mmap({ length: 4 * PAGE, prot: RW });
      const shared = await mm.mmap({ length: 2 * PAGE, prot: RW, shared: true });
      await mm.write(priv, pageOf(1, 4 * PAGE));
      await mm.write(shared, pageOf(2, 2 * PAGE));
      expect(mm.rss).toBe(6);
      expect(k.physMem.stats().inUse).toBe(6);
      expectCounts(mm);

      await mm.reclaim(priv, PAGE); // private page 0 in swap before fork: the child shares the entry
      expect({ rss: mm.rss, swap: mm.swapEntries }).toEqual({ rss: 5, swap: 1 });
      const child = await mm.fork();
      expect({ rss: child.rss, swap: child.swapEntries }).toEqual({ rss: 3, swap: 1 });
      expectCounts(child);
      expect(k.physMem.stats()).toMatchObject({ inUse: 5, swapSlots: 1 });

      await child.write(priv + PAGE, pageOf(3, 1)); // COW: one more frame
      await child.read(shared, 2 * PAGE); // the child maps the shared pages
      await mm.reclaim(priv + 2 * PAGE, PAGE); // a page both map: one slot, two entries
      await mm.reclaim(shared + PAGE, PAGE); // a shared page: out of both mms, into its object's swap
      await mm.mprotect(priv + 3 * PAGE, PAGE, PROT_NONE); // a PROT_NONE page still counts
      for (const m of [mm, child]) expectCounts(m);
      expect({ rss: mm.rss, swap: mm.swapEntries }).toEqual({ rss: 3, swap: 2 });
      expect({ rss: child.rss, swap: child.swapEntries }).toEqual({ rss: 3, swap: 2 });
      expect(k.physMem.stats()).toMatchObject({ inUse: 4, swapSlots: 3 });

      const [a, b] = first === "parent" ? [mm, child] : [child, mm];
      await a.exit();
      expect(a.rss + a.swapEntries).toBe(0);
      expectCounts(b);
      expectBytes(await b.read(shared, 2 * PAGE), pageOf(2, 2 * PAGE));
      expectBytes(await b.read(priv + 2 * PAGE, PAGE), pageOf(1));
      await b.exit();
      expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0, withData: 0 });
    });
  }

  it("munmap, dontneed, mremap and the OOM reaper give back what they unmap", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 8 * PAGE, prot: RW });
    await mm.write(a, pageOf(1, 8 * PAGE));
    await mm.reclaim(a + 6 * PAGE, 2 * PAGE);
    await mm.munmap(a, PAGE);
    await mm.madvise(a + PAGE, PAGE, "dontneed");
    expect(k.physMem.stats()).toMatchObject({ inUse: 4, swapSlots: 2 });
    const b = await mm.mremap(a + 2 * PAGE, 6 * PAGE, 2 * PAGE, { mayMove: true, newAddr: a - 64 * PAGE });
    expect(k.physMem.stats()).toMatchObject({ inUse: 2, swapSlots: 0 });
    expectCounts(mm);
    expectBytes(await mm.read(b, 2 * PAGE), pageOf(1, 2 * PAGE));
    await mm.oomReap();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0 });
    expectCounts(mm);
    expect(mm.rss).toBe(0);
  });

  it("exit frees the page tables and every area", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    await mm.mmap({ addr: 2 ** 40, length: PAGE, prot: RW, fixed: true });
    await mm.write32(a, 1);
    await mm.write32(2 ** 40, 1);
    expect(mm.pageTable.leaves).toBe(2);
    await mm.exit();
    expect({ vmas: mm.vmas.size, leaves: mm.pageTable.leaves, uppers: mm.pageTable.uppers }).toEqual({
      vmas: 0,
      leaves: 0,
      uppers: 0,
    });
  });
});
