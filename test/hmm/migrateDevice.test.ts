// migrate_vma (src/hmm/migrateDevice.ts, kernel mm/migrate_device.c) driven by hand, as a driver
// does: what setup collects and invalidates under each selection flag, the migration entries that
// CPU faults wait on, a migration to a private device and back, the partial and failed paths and
// the restoration they end in, other mappings after fork, and every reference given back.

import { describe, expect, it } from "vitest";
import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaInit,
  migrateVmaPages,
  migrateVmaSetup,
} from "../../src/hmm/migrateDevice.js";
import { EINVAL } from "../../src/lib/errno.js";
import { folioTestLocked, folioTrylock, folioUnlock } from "../../src/mm/filemap.js";
import { Kernel } from "../../src/mm/kernel.js";
import {
  type DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  zoneDevicePageInit,
} from "../../src/mm/memremap.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { intervalRecorder } from "../mm/helpers.js";
import { mmInvariants } from "../mm/invariants.js";

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;

/** A minimal device driver: one pagemap of `type`, a bump allocator and a free list. */
function device(k: Kernel, type = MEMORY_DEVICE_PRIVATE, owner: unknown = { name: "gpu" }) {
  const free: number[] = [];
  let next = -1;
  const pagemap: DevPagemap = memremapPages(k, {
    type,
    owner,
    nr: 64,
    ops: {
      pageFree: (_p, f) => free.push(f),
      // A CPU fault: migrate the page back (the driver's migrate_to_ram).
      migrateToRam: async (_p, mm, addr, frame) => {
        const vma = mm.vmas.find(addr);
        if (vma === undefined) return -14;
        const args = migrateVmaInit(mm, vma, addr, addr + PS, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, owner);
        args.faultPage = frame;
        if ((await migrateVmaSetup(args)) !== 0) return -14;
        toSystem(k, args);
        await migrateVmaPages(args);
        await migrateVmaFinalize(args);
        return 0;
      },
    },
  });
  next = pagemap.first;
  const alloc = (): number => {
    const f = free.pop() ?? next++;
    zoneDevicePageInit(pagemap, f);
    return f;
  };
  return { pagemap, owner, alloc };
}

/** The driver's copy to device pages: every collected entry gets one (`skip`: entries to leave out). */
function toDevice(k: Kernel, args: MigrateVma, alloc: () => number, skip: number[] = []): void {
  for (let i = 0; i < args.npages; i++) {
    const sf = args.srcFlags[i] as number;
    if (!(sf & MIGRATE_PFN_MIGRATE) || skip.includes(i)) continue;
    const d = alloc();
    if (sf & MIGRATE_PFN_VALID) k.physMem.copy(args.src[i] as number, d);
    args.dst[i] = d;
    args.dstFlags[i] = MIGRATE_PFN_VALID | (sf & MIGRATE_PFN_WRITE);
  }
}

/** The driver's copy back to system pages (locked, as migrate_vma wants them). */
function toSystem(k: Kernel, args: MigrateVma): void {
  for (let i = 0; i < args.npages; i++) {
    const sf = args.srcFlags[i] as number;
    if (!(sf & MIGRATE_PFN_MIGRATE) || !(sf & MIGRATE_PFN_VALID)) continue;
    const f = k.physMem.alloc();
    folioTrylock(k, f);
    k.physMem.copy(args.src[i] as number, f);
    args.dst[i] = f;
    args.dstFlags[i] = MIGRATE_PFN_VALID | (sf & MIGRATE_PFN_WRITE);
  }
}

/** A kernel, a process with `pages` pages of which the first `written` hold word 0 = page number + 1. */
async function world(pages = 4, written = pages): Promise<{ k: Kernel; mm: Mm; addr: number }> {
  const k = new Kernel();
  const mm = k.createMm({ name: "proc" });
  const addr = await mm.mmap({ length: pages * PS, prot: RW });
  for (let p = 0; p < written; p++) await mm.write32(addr + p * PS, p + 1);
  return { k, mm, addr };
}

/** setup, the driver's copy, pages, finalize, with the mmap lock held for read. */
async function migrate(mm: Mm, args: MigrateVma, copy: () => void): Promise<number> {
  await mm.mmapLock.downRead();
  try {
    const r = await migrateVmaSetup(args);
    if (r !== 0) return r;
    copy();
    await migrateVmaPages(args);
    await migrateVmaFinalize(args);
    return 0;
  } finally {
    mm.mmapLock.upRead();
  }
}

/** migrate_vma arguments for `pages` pages from `addr` (in the area holding it), selecting `flags`. */
function vmaArgs(mm: Mm, addr: number, pages: number, flags: number, owner?: unknown): MigrateVma {
  return migrateVmaInit(mm, mm.vmas.find(addr) as never, addr, addr + pages * PS, flags, owner);
}

const flagsAt = (mm: Mm, addr: number) => mm.pageTable.flagsAt(addr / PS);

describe("migrate_vma_setup", () => {
  it("refuses a range that is unaligned, empty, past its area, or arrays too short", async () => {
    const { mm, addr } = await world(4);
    const vma = mm.vmas.find(addr);
    if (vma === undefined) throw new Error("no area");
    await mm.mmapLock.downRead();
    for (const [s, e, cap] of [
      [addr + 1, addr + PS, 4],
      [addr, addr, 4],
      [addr, addr + 5 * PS, 8],
      [addr, addr + 4 * PS, 2],
    ] as const) {
      const args = migrateVmaInit(mm, vma, s, e, MIGRATE_VMA_SELECT_SYSTEM, undefined, cap);
      expect(await migrateVmaSetup(args), `[${s - addr}, ${e - addr})`).toBe(-EINVAL);
    }
    mm.mmapLock.upRead();
  });

  it("collects system pages, the zero page and empty PTEs under one MIGRATE invalidation with the owner", async () => {
    const { k, mm, addr } = await world(4, 2);
    await mm.read32(addr + 2 * PS); // the zero page
    const { log } = await intervalRecorder(mm, addr, 4 * PS);
    const owner = { name: "gpu" };
    const args = vmaArgs(mm, addr, 4, MIGRATE_VMA_SELECT_SYSTEM, owner);
    await mm.mmapLock.downRead();
    expect(await migrateVmaSetup(args)).toBe(0);
    expect([args.npages, args.cpages]).toEqual([4, 4]);
    const want = MIGRATE_PFN_VALID | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_WRITE;
    expect([...args.srcFlags.subarray(0, 4)]).toEqual([want, want, MIGRATE_PFN_MIGRATE, MIGRATE_PFN_MIGRATE]);
    expect(log.map((s) => `${s.event} ${(s.start - addr) / PS}-${(s.end - addr) / PS}`)).toEqual([
      "MIGRATE 0-4",
    ]);
    // The present pages are locked behind writable migration entries; the zero page stays.
    expect(flagsAt(mm, addr)).toBe(PTE_MIGRATION | PTE_WRITE);
    expect(folioTestLocked(k, args.src[0] as number)).toBe(true);
    expect(flagsAt(mm, addr + 2 * PS) & PTE_PRESENT).toBeTruthy();
    // Nothing copied: finalize restores every page.
    await migrateVmaPages(args);
    expect((args.srcFlags[0] as number) & MIGRATE_PFN_MIGRATE).toBe(0);
    await migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect(flagsAt(mm, addr) & (PTE_PRESENT | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
    expect(folioTestLocked(k, args.src[0] as number)).toBe(false);
    expect(await mm.read32(addr + PS)).toBe(2);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("selects device pages by kind and owner only, and no page whose lock is taken", async () => {
    const { k, mm, addr } = await world(2);
    const dev = device(k);
    const coh = device(k, MEMORY_DEVICE_COHERENT, dev.owner);
    const vma = mm.vmas.find(addr) as never;
    const one = (flags: number, owner: unknown = dev.owner) =>
      migrateVmaInit(mm, vma, addr, addr + PS, flags, owner);
    // Page 0 to the private device, page 1 to the coherent one.
    expect(await migrate(mm, one(MIGRATE_VMA_SELECT_SYSTEM), () => {})).toBe(0);
    const a0 = one(MIGRATE_VMA_SELECT_SYSTEM);
    expect(await migrate(mm, a0, () => toDevice(k, a0, dev.alloc))).toBe(0);
    const a1 = migrateVmaInit(mm, vma, addr + PS, addr + 2 * PS, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    expect(await migrate(mm, a1, () => toDevice(k, a1, coh.alloc))).toBe(0);
    expect(flagsAt(mm, addr)).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(k.pagemapOf(mm.pageTable.valAt(addr / PS + 1))).toBe(coh.pagemap);
    await mm.mmapLock.downRead();
    const collected = async (flags: number, owner: unknown) => {
      const args = migrateVmaInit(mm, vma, addr, addr + 2 * PS, flags, owner);
      await migrateVmaSetup(args);
      const n = args.cpages;
      await migrateVmaFinalize(args);
      return n;
    };
    expect(await collected(MIGRATE_VMA_SELECT_SYSTEM, dev.owner)).toBe(0);
    expect(await collected(MIGRATE_VMA_SELECT_DEVICE_PRIVATE, { name: "other" })).toBe(0);
    expect(await collected(MIGRATE_VMA_SELECT_DEVICE_PRIVATE, dev.owner)).toBe(1);
    expect(await collected(MIGRATE_VMA_SELECT_DEVICE_COHERENT, dev.owner)).toBe(1);
    const d = mm.pageTable.valAt(addr / PS);
    expect(folioTrylock(k, d)).toBe(true);
    expect(await collected(MIGRATE_VMA_SELECT_DEVICE_PRIVATE, dev.owner)).toBe(0);
    folioUnlock(k, d);
    mm.mmapLock.upRead();
    expect(flagsAt(mm, addr)).toBe(PTE_DEVICE_PRIVATE | PTE_WRITE);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("puts back a page someone else holds a reference to, and leaves shared memory's pages where they are", async () => {
    const { k, mm, addr } = await world(2);
    const dev = device(k);
    const held = mm.pageTable.valAt(addr / PS);
    k.physMem.get(held); // a pin (GUP, reclaim's isolation...)
    const args = vmaArgs(mm, addr, 2, MIGRATE_VMA_SELECT_SYSTEM);
    expect(await migrate(mm, args, () => toDevice(k, args, dev.alloc))).toBe(0);
    expect(args.cpages).toBe(1);
    expect(mm.pageTable.valAt(addr / PS)).toBe(held);
    expect(flagsAt(mm, addr + PS) & PTE_DEVICE_PRIVATE).toBeTruthy();
    k.physMem.put(held);
    const shared = await mm.mmap({ length: PS, prot: RW, shared: true });
    await mm.write32(shared, 9);
    const s = vmaArgs(mm, shared, 1, MIGRATE_VMA_SELECT_SYSTEM);
    expect(await migrate(mm, s, () => toDevice(k, s, dev.alloc))).toBe(0);
    expect([s.cpages, flagsAt(mm, shared) & PTE_PRESENT]).toEqual([0, PTE_PRESENT]);
    expect(await mm.read32(shared)).toBe(9);
    expect(dev.pagemap.pagesInUse).toBe(1);
  });
});

describe("migration entries", () => {
  it("make a CPU access wait until the migration ends, then it sees the page where it went", async () => {
    const { k, mm, addr } = await world(1);
    const dev = device(k);
    const args = vmaArgs(mm, addr, 1, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    await mm.mmapLock.downRead();
    await migrateVmaSetup(args);
    mm.mmapLock.upRead();
    let seen: number | undefined;
    const reader = (async () => {
      seen = await mm.read32(addr);
    })();
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(seen).toBeUndefined();
    await mm.mmapLock.downRead();
    toDevice(k, args, dev.alloc);
    await migrateVmaPages(args);
    await migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    await reader;
    // The access found a device-private entry and faulted it back through migrate_to_ram.
    expect(seen).toBe(1);
    expect(flagsAt(mm, addr) & PTE_PRESENT).toBeTruthy();
    expect(k.physMem.stats().deviceInUse).toBe(0);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("reach every mapping after fork: the child's entry moves too, read-only in both (copy on write on the way back)", async () => {
    const { k, mm, addr } = await world(1);
    const dev = device(k);
    const child = await mm.fork({ name: "child" });
    const { log } = await intervalRecorder(child, addr, PS);
    const args = vmaArgs(mm, addr, 1, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    expect(await migrate(mm, args, () => toDevice(k, args, dev.alloc))).toBe(0);
    const d = mm.pageTable.valAt(addr / PS);
    expect(child.pageTable.valAt(addr / PS)).toBe(d);
    expect([flagsAt(mm, addr), flagsAt(child, addr)]).toEqual([PTE_DEVICE_PRIVATE, PTE_DEVICE_PRIVATE]);
    expect(log.map((s) => s.event)).toEqual(["CLEAR"]);
    expect([k.physMem.mapcount[d], k.physMem.refcount[d]]).toEqual([2, 2]);
    await child.write32(addr, 7);
    expect([await mm.read32(addr), await child.read32(addr)]).toEqual([1, 7]);
    await child.exit();
    expect(k.physMem.stats().deviceInUse).toBe(0);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });
});

describe("a round trip", () => {
  it("moves pages to a private device and back, empty PTEs included, keeping write permission and giving every page back", async () => {
    const { k, mm, addr } = await world(4, 2);
    const dev = device(k);
    await mm.mprotect(addr + PS, PS, PROT_READ);
    const vma = () => mm.vmas.find(addr) as never;
    const there = migrateVmaInit(mm, vma(), addr, addr + PS, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    expect(await migrate(mm, there, () => toDevice(k, there, dev.alloc))).toBe(0);
    const all = [0, 1, 2, 3].map((p) => {
      const a = mm.vmas.find(addr + p * PS) as never;
      return migrateVmaInit(mm, a, addr + p * PS, addr + (p + 1) * PS, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    });
    for (const a of all.slice(1)) expect(await migrate(mm, a, () => toDevice(k, a, dev.alloc))).toBe(0);
    expect([0, 1, 2, 3].map((p) => flagsAt(mm, addr + p * PS))).toEqual([
      PTE_DEVICE_PRIVATE | PTE_WRITE,
      PTE_DEVICE_PRIVATE,
      PTE_DEVICE_PRIVATE | PTE_WRITE,
      PTE_DEVICE_PRIVATE | PTE_WRITE,
    ]);
    expect([k.physMem.stats().inUse, dev.pagemap.pagesInUse]).toEqual([0, 4]);
    for (let p = 0; p < 4; p++) {
      const back = vmaArgs(mm, addr + p * PS, 1, MIGRATE_VMA_SELECT_DEVICE_PRIVATE, dev.owner);
      expect(await migrate(mm, back, () => toSystem(k, back))).toBe(0);
    }
    expect([k.physMem.stats().inUse, dev.pagemap.pagesInUse]).toEqual([4, 0]);
    expect([await mm.read32(addr), await mm.read32(addr + PS), await mm.read32(addr + 3 * PS)]).toEqual([
      1, 2, 0,
    ]);
    expect(flagsAt(mm, addr + PS) & PTE_WRITE).toBe(0);
    await mm.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
  });

  it("gives up an entry the driver did not copy, and an empty PTE that filled meanwhile", async () => {
    const { k, mm, addr } = await world(3, 1);
    const dev = device(k);
    const args = vmaArgs(mm, addr, 3, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    await mm.mmapLock.downRead();
    expect(await migrateVmaSetup(args)).toBe(0);
    mm.mmapLock.upRead();
    // A CPU write fills the empty PTE of page 2 (no migration entry there) before the insert.
    await mm.write32(addr + 2 * PS, 3);
    await mm.mmapLock.downRead();
    toDevice(k, args, dev.alloc, [1]);
    await migrateVmaPages(args);
    expect([0, 1, 2].map((i) => (args.srcFlags[i] as number) & MIGRATE_PFN_MIGRATE)).toEqual([
      MIGRATE_PFN_MIGRATE,
      0,
      0,
    ]);
    await migrateVmaFinalize(args);
    mm.mmapLock.upRead();
    expect([
      flagsAt(mm, addr) & PTE_DEVICE_PRIVATE,
      flagsAt(mm, addr + PS),
      flagsAt(mm, addr + 2 * PS) & PTE_PRESENT,
    ]).toEqual([PTE_DEVICE_PRIVATE, 0, PTE_PRESENT]);
    expect(await mm.read32(addr + 2 * PS)).toBe(3);
    expect(dev.pagemap.pagesInUse).toBe(1);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });
});

describe("migrate_device_range", () => {
  it("evicts device pages from every address space that maps them, under CLEAR invalidations", async () => {
    const { k, mm, addr } = await world(2);
    const dev = device(k);
    const args = vmaArgs(mm, addr, 2, MIGRATE_VMA_SELECT_SYSTEM, dev.owner);
    expect(await migrate(mm, args, () => toDevice(k, args, dev.alloc))).toBe(0);
    const child = await mm.fork({ name: "child" });
    const { log } = await intervalRecorder(mm, addr, 2 * PS);
    const m = {
      src: new Uint32Array(8),
      srcFlags: new Uint8Array(8),
      dst: new Uint32Array(8),
      dstFlags: new Uint8Array(8),
      npages: 0,
    };
    await migrateDeviceRange(k, m, dev.pagemap.first, 8);
    expect([...m.srcFlags].filter((f) => f & MIGRATE_PFN_MIGRATE).length).toBe(2);
    for (let i = 0; i < 2; i++) {
      const f = k.physMem.alloc();
      folioTrylock(k, f);
      k.physMem.copy(m.src[i] as number, f);
      m.dst[i] = f;
      m.dstFlags[i] = MIGRATE_PFN_VALID;
    }
    migrateDevicePages(k, m);
    await migrateDeviceFinalize(k, m);
    expect(log.map((s) => s.event)).toEqual(["CLEAR", "CLEAR"]);
    expect(dev.pagemap.pagesInUse).toBe(0);
    expect([await mm.read32(addr + PS), await child.read32(addr + PS)]).toEqual([2, 2]);
    expect(mm.pageTable.valAt(addr / PS)).toBe(child.pageTable.valAt(addr / PS));
    expect(mmInvariants(k, [mm, child])).toEqual([]);
  });
});
