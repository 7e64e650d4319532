// What a process reads back: copy-on-write isolation after fork, the zero page, swap round trips,
// mremap moving data, MADV_DONTNEED, and shared memory across fork.

import { describe, expect, it } from "vitest";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { expectBytes, PAGE, pageOf, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

describe("copy-on-write after fork", () => {
  for (const writer of ["parent", "child"] as const) {
    for (const first of ["parent", "child"] as const) {
      it(`a write by the ${writer} is not seen by the other, and the other keeps its data after the ${first} exits`, async () => {
        const { k, mm } = world();
        const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
        await mm.write(a, pageOf(1, 2 * PAGE));
        const child = await mm.fork();
        const [w, other] = writer === "parent" ? [mm, child] : [child, mm];
        await w.write(a + 100, pageOf(2, 8));
        expect(await w.read(a + 96, 16)).toEqual(
          new Uint8Array([1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1]),
        );
        expectBytes(await other.read(a + 96, 16), pageOf(1, 16));
        const [gone, stays] = first === "parent" ? [mm, child] : [child, mm];
        await gone.exit();
        expectBytes(await stays.read(a + 100, 8), pageOf(stays === w ? 2 : 1, 8));
        expectBytes(await stays.read(a + PAGE, PAGE), pageOf(1, PAGE));
        // The survivor's pages are its own now: a write reuses them in place.
        await stays.write(a + PAGE, pageOf(3, 1));
        expect(k.physMem.stats().inUse).toBe(2);
        await stays.exit();
        expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0 });
      });
    }
  }

  it("a child forked from a child keeps the data of the moment of its fork", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.write32(a, 1);
    const child = await mm.fork();
    await child.write32(a, 2);
    const grandchild = await child.fork();
    await child.write32(a, 3);
    await mm.write32(a, 4);
    expect([await mm.read32(a), await child.read32(a), await grandchild.read32(a)]).toEqual([4, 3, 2]);
    await Promise.all([mm.exit(), child.exit(), grandchild.exit()]);
  });
});

describe("the zero page", () => {
  it("reads of untouched private memory return zeroes and allocate no frame", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 16 * PAGE, prot: RW });
    expectBytes(await mm.read(a, 16 * PAGE), new Uint8Array(16 * PAGE));
    expect(await mm.read32(a + 8 * PAGE)).toBe(0);
    expect(k.physMem.stats().inUse).toBe(0);
    expect(mm.rss).toBe(0);
    await mm.write32(a + 4, 5);
    expect(k.physMem.stats().inUse).toBe(1);
    expect(await mm.read32(a + 4)).toBe(5);
    expect(await mm.read32(a + PAGE + 4)).toBe(0);
  });
});

describe("swap", () => {
  it("reclaim then read back returns the data (private memory)", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 3 * PAGE, prot: RW });
    const data = Uint8Array.from({ length: 3 * PAGE }, (_, i) => (i * 7) % 251);
    await mm.write(a, data);
    expect(await mm.reclaim(a, 3 * PAGE)).toBe(3);
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 3 });
    expect(mm.rss).toBe(0);
    expectBytes(await mm.read(a, 3 * PAGE), data);
    expect(k.physMem.stats()).toMatchObject({ inUse: 3, swapSlots: 0 });
    await mm.write32(a, 0xdeadbeef);
    expect(await mm.read32(a)).toBe(0xdeadbeef);
  });

  it("a page shared after fork goes to one swap slot and comes back to each mm with its data; COW still holds", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.write(a, pageOf(6));
    const child = await mm.fork();
    expect(await mm.reclaim(a, PAGE)).toBe(1);
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 1 });
    expectBytes(await child.read(a, PAGE), pageOf(6));
    await child.write(a, pageOf(8, 4));
    expectBytes(await mm.read(a, PAGE), pageOf(6));
    expect(await child.read32(a)).toBe(0x08080808);
    expect(k.physMem.stats()).toMatchObject({ inUse: 2, swapSlots: 0 });
    await Promise.all([mm.exit(), child.exit()]);
  });

  it("shared memory goes to swap and comes back, to every mm that maps it", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW, shared: true });
    await mm.write(a, pageOf(4, 2 * PAGE));
    const child = await mm.fork();
    expectBytes(await child.read(a, 1), pageOf(4, 1)); // the child maps page 0 too
    expect(await mm.reclaim(a, 2 * PAGE)).toBe(2);
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 2 });
    expect(child.rss).toBe(0);
    expectBytes(await child.read(a, 2 * PAGE), pageOf(4, 2 * PAGE));
    await child.write(a + PAGE, pageOf(5, 4));
    expectBytes(await mm.read(a + PAGE, 4), pageOf(5, 4));
    expect(k.physMem.stats()).toMatchObject({ inUse: 2, swapSlots: 0 });
    await Promise.all([mm.exit(), child.exit()]);
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0 });
  });
});

describe("mremap", () => {
  it("a move carries the data to the new address; the old one faults", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    await mm.mmap({ addr: a + 2 * PAGE, length: PAGE, prot: PROT_READ, fixed: true });
    const data = Uint8Array.from({ length: 2 * PAGE }, (_, i) => i % 256);
    await mm.write(a, data);
    await mm.reclaim(a + PAGE, PAGE); // one page in swap: its entry moves too
    const b = await mm.mremap(a, 2 * PAGE, 4 * PAGE, { mayMove: true });
    expect(b).not.toBe(a);
    expectBytes(await mm.read(b, 2 * PAGE), data);
    expectBytes(await mm.read(b + 2 * PAGE, 2 * PAGE), new Uint8Array(2 * PAGE));
    await expect(async () => mm.read(a, 1)).rejects.toMatchObject({ code: "EFAULT" });
  });

  it("a child forked after a move gets the moved pages (the area keeps its anon_vma)", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.write32(a, 42);
    const b = await mm.mremap(a, PAGE, PAGE, { mayMove: true, newAddr: a - 64 * PAGE });
    const child = await mm.fork();
    expect(await child.read32(b)).toBe(42);
    await child.write32(b, 43);
    expect(await mm.read32(b)).toBe(42);
  });

  it("shrinking keeps the head's data, growing in place reads zeroes past the old end", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: 3 * PAGE, prot: RW });
    await mm.write(a, pageOf(9, 3 * PAGE));
    expect(await mm.mremap(a, 3 * PAGE, PAGE)).toBe(a);
    await expect(async () => mm.read(a + PAGE, 1)).rejects.toMatchObject({ code: "EFAULT" });
    expect(await mm.mremap(a, PAGE, 3 * PAGE)).toBe(a);
    expectBytes(await mm.read(a + PAGE - 2, 4), new Uint8Array([9, 9, 0, 0]));
  });
});

describe("madvise(dontneed)", () => {
  it("private memory reads back as zeroes; shared memory keeps its data", async () => {
    const { k, mm } = world();
    const priv = await mm.mmap({ length: 2 * PAGE, prot: RW });
    const shared = await mm.mmap({ length: 2 * PAGE, prot: RW, shared: true });
    await mm.write(priv, pageOf(1, 2 * PAGE));
    await mm.write(shared, pageOf(2, 2 * PAGE));
    await mm.madvise(priv, PAGE, "dontneed");
    await mm.madvise(shared, 2 * PAGE, "dontneed");
    expectBytes(await mm.read(priv, 2 * PAGE), new Uint8Array([...new Uint8Array(PAGE), ...pageOf(1)]));
    expectBytes(await mm.read(shared, 2 * PAGE), pageOf(2, 2 * PAGE));
    expect(k.physMem.stats().inUse).toBe(3);
  });

  it("after fork, dontneed in the child drops its view only", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.write32(a, 7);
    const child = await mm.fork();
    await child.madvise(a, PAGE, "dontneed");
    expect(await child.read32(a)).toBe(0);
    expect(await mm.read32(a)).toBe(7);
  });
});

describe("shared memory", () => {
  it("is shared across fork both ways, and outlives the mm that created it", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW, shared: true });
    await mm.write32(a, 1);
    const child = await mm.fork();
    expect(await child.read32(a)).toBe(1);
    await child.write32(a, 2);
    expect(await mm.read32(a)).toBe(2);
    await mm.write32(a + PAGE, 3); // a page the child never faulted in
    expect(await child.read32(a + PAGE)).toBe(3);
    await mm.exit();
    expect(await child.read32(a)).toBe(2);
    expect(k.physMem.stats().inUse).toBe(2);
    await child.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0 });
  });

  it("a private mapping's pages are not shared across fork, a shared one's are, side by side", async () => {
    const { mm } = world();
    const priv = await mm.mmap({ length: PAGE, prot: RW });
    const shared = await mm.mmap({ length: PAGE, prot: RW, shared: true });
    await mm.write32(priv, 1);
    await mm.write32(shared, 1);
    const child = await mm.fork();
    await child.write32(priv, 2);
    await child.write32(shared, 2);
    expect([await mm.read32(priv), await mm.read32(shared)]).toEqual([1, 2]);
  });
});
