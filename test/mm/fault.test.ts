// faultIn (handle_mm_fault) called directly, as HMM and drivers do, with the mmap lock held: the
// PTE it installs for each kind of fault, its errno outcomes, and that in the direct runtime a fault
// that needs no sleep returns a plain number (no promise, no microtask).

import { describe, expect, it } from "vitest";
import { faultIn } from "../../src/mm/memory.js";
import { PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { ZERO_FRAME } from "../../src/mm/physMem.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { PAGE, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

async function locked() {
  const { k, mm } = world();
  const a = await mm.mmap({ length: 4 * PAGE, prot: RW });
  const ro = await mm.mmap({ addr: a - 8 * PAGE, length: PAGE, prot: PROT_READ, fixed: true });
  const none = await mm.mmap({ addr: a - 16 * PAGE, length: PAGE, prot: PROT_NONE, fixed: true });
  await mm.mmapLock.downRead();
  const pte = (addr: number) => ({
    flags: mm.pageTable.flagsAt(addr / PAGE) & (PTE_PRESENT | PTE_WRITE),
    frame: mm.pageTable.valAt(addr / PAGE),
  });
  return { k, mm, a, ro, none, pte };
}

describe("faultIn with the mmap lock held", () => {
  it("a read fault maps the zero page read-only and allocates nothing; a plain number comes back", async () => {
    const { k, mm, a, pte } = await locked();
    const r = faultIn(mm, a, false);
    expect(r).toBe(0);
    expect(pte(a)).toEqual({ flags: PTE_PRESENT, frame: ZERO_FRAME });
    expect(k.physMem.stats().inUse).toBe(0);
    expect(mm.rss).toBe(0);
    expect(faultIn(mm, a, false)).toBe(0); // already there
    mm.mmapLock.upRead();
  });

  it("a write fault allocates a frame and maps it writable; a write to the zero page copies it", async () => {
    const { k, mm, a, pte } = await locked();
    expect(faultIn(mm, a + PAGE, true)).toBe(0);
    const p = pte(a + PAGE);
    expect(p.flags).toBe(PTE_PRESENT | PTE_WRITE);
    expect(p.frame).not.toBe(ZERO_FRAME);
    expect(k.physMem.stats().inUse).toBe(1);
    expect(faultIn(mm, a, false)).toBe(0);
    expect(faultIn(mm, a, true)).toBe(0);
    expect(pte(a).frame).not.toBe(ZERO_FRAME);
    expect(pte(a).flags).toBe(PTE_PRESENT | PTE_WRITE);
    expect({ inUse: k.physMem.stats().inUse, rss: mm.rss }).toEqual({ inUse: 2, rss: 2 });
    mm.mmapLock.upRead();
  });

  it("returns -EFAULT for a write to a read-only area, any access to PROT_NONE, and no area; installs nothing", async () => {
    const { k, mm, a, ro, none, pte } = await locked();
    expect(faultIn(mm, ro, true)).toBe(-14);
    expect(faultIn(mm, none, false)).toBe(-14);
    expect(faultIn(mm, none, true)).toBe(-14);
    expect(faultIn(mm, a + 4 * PAGE, false)).toBe(-14);
    expect([pte(ro).flags, pte(none).flags]).toEqual([0, 0]);
    expect(faultIn(mm, ro, false)).toBe(0);
    expect(pte(ro)).toEqual({ flags: PTE_PRESENT, frame: ZERO_FRAME });
    expect(k.physMem.stats().inUse).toBe(0);
    mm.mmapLock.upRead();
  });

  it("returns -ENOMEM when no frame can be allocated, and the fault succeeds once one can", async () => {
    const { k, mm, a, pte } = await locked();
    k.physMem.failNextAllocations(1);
    expect(faultIn(mm, a, true)).toBe(-12);
    expect(pte(a).flags).toBe(0);
    expect(faultIn(mm, a, true)).toBe(0);
    mm.mmapLock.upRead();
  });

  it("a fault on a swap entry sleeps (the swap-in is a scheduling point) and then maps the data", async () => {
    const { mm, a } = await locked();
    mm.mmapLock.upRead();
    await mm.write32(a, 77);
    await mm.reclaim(a, PAGE);
    await mm.mmapLock.downRead();
    const r = faultIn(mm, a, false);
    expect(r).toBeInstanceOf(Promise);
    expect(await r).toBe(0);
    mm.mmapLock.upRead();
    expect(await mm.read32(a)).toBe(77);
  });
});
