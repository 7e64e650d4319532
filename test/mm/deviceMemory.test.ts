// Device memory in the mm layer (src/mm/memremap.ts, physMem's device frames, filemap.ts's page
// lock) and what the system calls do with device-private and migration entries: frame numbers apart
// from system frames, allocation and free through the pagemap, accounting, memunmap waiting for the
// last page, mprotect, mremap (with MREMAP_DONTUNMAP), munmap and MADV_FREE.

import { describe, expect, it } from "vitest";
import { folioLock, folioTrylock, folioUnlock } from "../../src/mm/filemap.js";
import { Kernel } from "../../src/mm/kernel.js";
import {
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  zoneDevicePageInit,
} from "../../src/mm/memremap.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_PRIVATE, PTE_DIRTY, PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { rmapAdd } from "../../src/mm/rmap.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { PAGE, world } from "./helpers.js";
import { mmInvariants } from "./invariants.js";

const RW = PROT_READ | PROT_WRITE;

/** Puts device page `d` of `mm` at `addr` as a device-private entry (what a migration would), writable. */
function mapPrivate(mm: Mm, addr: number, d: number): void {
  mm.pageTable.set(addr / PAGE, d, PTE_DEVICE_PRIVATE | PTE_WRITE);
  rmapAdd(mm.kernel.physMem, d, mm, addr);
  mm.rss++;
}

describe("device pagemaps", () => {
  it("lend frame numbers apart from system frames, counted apart, given back through pageFree", () => {
    const { k } = world();
    const freed: number[] = [];
    const p = memremapPages(k, {
      type: MEMORY_DEVICE_PRIVATE,
      owner: "gpu",
      nr: 65536,
      ops: { pageFree: (_p, f) => freed.push(f) },
    });
    const sys = k.physMem.alloc();
    expect(sys).toBeGreaterThanOrEqual(p.first + p.nr);
    expect([k.physMem.isLive(p.first), k.pagemapOf(p.first + 7), k.pagemapOf(sys)]).toEqual([
      false,
      p,
      undefined,
    ]);
    zoneDevicePageInit(p, p.first + 7);
    expect(k.physMem.stats()).toMatchObject({ inUse: 1, deviceInUse: 1 });
    expect(k.devicePrivateOwner(p.first + 7)).toBe(p);
    expect(() => zoneDevicePageInit(p, p.first + 7)).toThrow(/not a free device frame/);
    folioUnlock(k, p.first + 7);
    k.physMem.write32(p.first + 7, 0, 5);
    k.physMem.put(p.first + 7);
    expect([freed, p.pagesInUse, k.physMem.stats().deviceInUse]).toEqual([[p.first + 7], 0, 0]);
    expect(k.physMem.describe(p.first + 7)).toBe(`device frame ${p.first + 7} (freed)`);
    // A device frame comes back zeroed.
    zoneDevicePageInit(p, p.first + 7);
    expect(k.physMem.read32(p.first + 7, 0)).toBe(0);
  });

  it("coherent memory is no one's private memory, and memunmap waits for the last page", async () => {
    const { k } = world();
    const p = memremapPages(k, { type: MEMORY_DEVICE_COHERENT, owner: "gpu", nr: 4 });
    expect(k.devicePrivateOwner(p.first)).toBeUndefined();
    zoneDevicePageInit(p, p.first);
    let done = false;
    const unmapped = memunmapPages(p).then(() => {
      done = true;
    });
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(done).toBe(false);
    folioUnlock(k, p.first);
    k.physMem.put(p.first);
    await unmapped;
    expect([p.removed, k.pagemapOf(p.first)]).toEqual([true, undefined]);
    expect(() => zoneDevicePageInit(p, p.first + 1)).toThrow(/not a frame of/);
  });
});

describe("the page lock", () => {
  it("trylock fails while held, lock sleeps until the unlock", async () => {
    const { k } = world();
    const f = k.physMem.alloc();
    expect(folioTrylock(k, f)).toBe(true);
    expect(folioTrylock(k, f)).toBe(false);
    let got = false;
    const waiter = (async () => {
      await folioLock(k, f);
      got = true;
    })();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(got).toBe(false);
    folioUnlock(k, f);
    await waiter;
    expect(got).toBe(true);
    folioUnlock(k, f);
  });
});

describe("system calls over device-private entries", () => {
  async function withDevicePage() {
    const { k, mm } = world();
    const p = memremapPages(k, { type: MEMORY_DEVICE_PRIVATE, owner: "gpu", nr: 8 });
    const addr = await mm.mmap({ length: 4 * PAGE, prot: RW });
    await mm.write32(addr + 3 * PAGE, 9); // the area has anonymous pages (fork copies it)
    zoneDevicePageInit(p, p.first);
    folioUnlock(k, p.first);
    mapPrivate(mm, addr + PAGE, p.first);
    return { k, mm, p, addr, d: p.first };
  }

  it("mprotect takes write from the entry; munmap frees the device page", async () => {
    const { k, mm, p, addr, d } = await withDevicePage();
    await mm.mprotect(addr, 4 * PAGE, PROT_READ);
    expect(mm.pageTable.flagsAt(addr / PAGE + 1)).toBe(PTE_DEVICE_PRIVATE);
    expect(mmInvariants(k, [mm])).toEqual([]);
    await mm.munmap(addr, 4 * PAGE);
    expect([p.pagesInUse, k.physMem.isLive(d), mm.rss]).toEqual([0, false, 0]);
  });

  it("mremap moves the entry and its reverse map; MREMAP_DONTUNMAP leaves the old area mapped and empty", async () => {
    const { k, mm, addr, d } = await withDevicePage();
    await mm.write32(addr, 3);
    const to = await mm.mremap(addr, 4 * PAGE, 4 * PAGE, { mayMove: true, dontUnmap: true });
    expect(mm.pageTable.valAt(to / PAGE + 1)).toBe(d);
    expect(k.physMem.rmapAddr[d]).toBe(to + PAGE);
    expect(mm.vmas.find(addr)).toBeDefined();
    expect([await mm.read32(addr), await mm.read32(to)]).toEqual([0, 3]);
    expect(mmInvariants(k, [mm])).toEqual([]);
    await expect(mm.mremap(to, 4 * PAGE, 8 * PAGE, { mayMove: true, dontUnmap: true })).rejects.toMatchObject(
      {
        code: "EINVAL",
      },
    );
  });

  it("MADV_FREE marks pages mapped once clean, drops swap entries, leaves device entries, refuses shared memory", async () => {
    const { k, mm, addr, d } = await withDevicePage();
    await mm.write32(addr, 3);
    await mm.write32(addr + 2 * PAGE, 4);
    await mm.reclaim(addr + 2 * PAGE, PAGE);
    expect(mm.swapEntries).toBe(1);
    await mm.madvise(addr, 4 * PAGE, "free");
    expect(mm.pageTable.flagsAt(addr / PAGE) & (PTE_PRESENT | PTE_DIRTY)).toBe(PTE_PRESENT);
    expect([mm.swapEntries, mm.pageTable.valAt(addr / PAGE + 1), k.physMem.stats().swapSlots]).toEqual([
      0,
      d,
      0,
    ]);
    expect([await mm.read32(addr), await mm.read32(addr + 2 * PAGE)]).toEqual([3, 0]);
    const shared = await mm.mmap({ length: PAGE, prot: RW, shared: true });
    await expect(mm.madvise(shared, PAGE, "free")).rejects.toMatchObject({ code: "EINVAL" });
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("fork shares the device page read-only, one more reference and mapping", async () => {
    const { k, mm, addr, d } = await withDevicePage();
    const child = await mm.fork({ name: "child" });
    expect([mm.pageTable.flagsAt(addr / PAGE + 1), child.pageTable.flagsAt(addr / PAGE + 1)]).toEqual([
      PTE_DEVICE_PRIVATE,
      PTE_DEVICE_PRIVATE,
    ]);
    expect([k.physMem.refcount[d], k.physMem.mapcount[d], child.rss]).toEqual([2, 2, 2]);
    expect(mmInvariants(k, [mm, child])).toEqual([]);
    await child.exit();
    await mm.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
  });
});

describe("physical memory", () => {
  it("zeroes a reused contents slot where it is not overwritten", () => {
    const k = new Kernel();
    const pm = k.physMem;
    const a = pm.alloc();
    pm.write32(a, 100, 7);
    pm.put(a);
    // The slot comes back for b: a partial write sees zeroes elsewhere, a full one replaces all.
    const b = pm.alloc();
    pm.write32(b, 0, 1);
    expect([pm.read32(b, 0), pm.read32(b, 100)]).toEqual([1, 0]);
  });
});
