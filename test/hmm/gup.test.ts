// get_user_pages / pin_user_pages (src/hmm/gup.ts, kernel mm/gup.c): references and pins on the pages
// of a range, faulting device-private pages back to RAM, a long-term pin migrating device-coherent
// pages out of device memory (migrate_device_coherent_folio), a pin keeping a page from migrating,
// the errors, and every reference given back.

import { describe, expect, it } from "vitest";
import { DmirrorDevice } from "../../src/drivers/dmirror/device.js";
import type { Dmirror } from "../../src/drivers/dmirror/mirror.js";
import {
  FOLL_LONGTERM,
  FOLL_WRITE,
  getUserPages,
  getUserPagesFast,
  pinUserPages,
  pinUserPagesFast,
  putPages,
  unpinUserPages,
} from "../../src/hmm/gup.js";
import { EBUSY, EFAULT, ENOENT } from "../../src/lib/errno.js";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { mmInvariants } from "../mm/invariants.js";

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;

/** A process with `pages` pages holding word k = 100 * page + k, moved to a dmirror device of `memory`. */
async function world(memory: "private" | "coherent", pages = 4) {
  const k = new Kernel();
  const mm = k.createMm({ name: "proc" });
  const mirror = await new DmirrorDevice(k, { memory, chunkPages: 16 }).open(mm);
  const addr = await mm.mmap({ length: pages * PS, prot: RW });
  for (let p = 0; p < pages; p++)
    for (let w = 0; w < 4; w++) await mm.write32(addr + p * PS + 4 * w, 100 * p + w);
  const r = await mirror.migrateToDev(addr, pages, new Uint8Array(pages * PS));
  expect(r).toMatchObject({ ret: 0, cpages: pages });
  return { k, mm, mirror, addr, pages };
}

/** Checks the contents, then closes the file and ends the process: nothing may be left in use. */
async function teardown(k: Kernel, mm: Mm, mirror: Dmirror, addr: number, pages: number): Promise<void> {
  for (let p = 0; p < pages; p++) expect(await mm.read32(addr + p * PS + 4)).toBe(100 * p + 1);
  expect(mmInvariants(k, [mm])).toEqual([]);
  await mirror.close();
  await mm.exit();
  expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
}

/** `fn` with the mmap lock held for read. */
async function locked<T>(mm: Mm, fn: () => Promise<T>): Promise<T> {
  await mm.mmapLock.downRead();
  try {
    return await fn();
  } finally {
    mm.mmapLock.upRead();
  }
}

const isDevice = (k: Kernel, f: number) => k.physMem.isDevice(f);

describe("get_user_pages", () => {
  it("faults device-private pages back to RAM and references them; putPages gives the references back", async () => {
    const { k, mm, mirror, addr, pages } = await world("private");
    expect(mm.pageTable.flagsAt(addr / PS) & PTE_DEVICE_PRIVATE).not.toBe(0);
    const got: number[] = [];
    expect(await locked(mm, () => getUserPages(mm, addr, 2, FOLL_WRITE, got))).toBe(2);
    for (const [i, f] of got.entries()) {
      expect(isDevice(k, f)).toBe(false);
      expect(mm.pageTable.valAt(addr / PS + i)).toBe(f);
      expect(mm.pageTable.flagsAt(addr / PS + i) & (PTE_PRESENT | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
      expect(k.physMem.refcount[f]).toBe(2); // the mapping's and ours
    }
    // The pages GUP did not ask for stay on the device.
    expect(mm.pageTable.flagsAt(addr / PS + 2) & PTE_DEVICE_PRIVATE).not.toBe(0);
    putPages(k, got);
    for (const f of got) expect(k.physMem.refcount[f]).toBe(1);
    await teardown(k, mm, mirror, addr, pages);
  });

  it("leaves device-coherent pages where they are (the CPU reaches them)", async () => {
    const { k, mm, mirror, addr, pages } = await world("coherent");
    const before = mm.pageTable.valAt(addr / PS);
    const got: number[] = [];
    expect(await locked(mm, () => getUserPages(mm, addr, 1, FOLL_WRITE, got))).toBe(1);
    expect(got).toEqual([before]);
    expect(isDevice(k, before)).toBe(true);
    putPages(k, got);
    const fast: number[] = [];
    expect(await getUserPagesFast(mm, addr, pages, FOLL_WRITE, fast)).toBe(pages);
    expect(fast.every((f) => isDevice(k, f))).toBe(true);
    putPages(k, fast);
    await teardown(k, mm, mirror, addr, pages);
  });

  it("stops at the first page it cannot get: the count so far, or the errno when it got none", async () => {
    const k = new Kernel();
    const mm = k.createMm({ name: "proc" });
    const ro = await mm.mmap({ length: PS, prot: PROT_READ });
    const addr = await mm.mmap({ length: 3 * PS, prot: RW });
    await mm.munmap(addr + PS, PS);
    const got: number[] = [];
    expect(await locked(mm, () => getUserPages(mm, addr, 3, FOLL_WRITE, got))).toBe(1);
    putPages(k, got);
    expect(await locked(mm, () => getUserPages(mm, addr + PS, 1, 0, got))).toBe(-EFAULT);
    expect(await locked(mm, () => getUserPages(mm, ro, 1, FOLL_WRITE, got))).toBe(-EFAULT);
    // A read of an untouched page is the zero page, which nobody frees.
    expect(await locked(mm, () => getUserPages(mm, ro, 1, 0, got))).toBe(1);
    putPages(k, got);
    expect(await getUserPagesFast(mm, addr, 2, FOLL_WRITE, got)).toBe(1);
    putPages(k, got);
    await mm.exit();
    expect(k.physMem.stats().inUse).toBe(0);
  });

  it("refuses bad arguments with EINVAL (FOLL_LONGTERM needs a pin)", async () => {
    const k = new Kernel();
    const mm = k.createMm({ name: "proc" });
    const addr = await mm.mmap({ length: PS, prot: RW });
    await mm.mmapLock.downRead();
    const pages: number[] = [];
    await expect(async () => getUserPages(mm, addr, 1, FOLL_LONGTERM, pages)).rejects.toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    await expect(async () => pinUserPages(mm, addr, 1, 0x4000, pages)).rejects.toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    await expect(async () => pinUserPages(mm, addr + 1, 1, 0, pages)).rejects.toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    await expect(async () => pinUserPages(mm, addr, -1, 0, pages)).rejects.toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    mm.mmapLock.upRead();
    expect(pages).toEqual([]);
  });
});

describe("pin_user_pages with FOLL_LONGTERM", () => {
  it("migrates device-coherent pages to RAM first (contents kept, device pages freed)", async () => {
    const { k, mm, mirror, addr, pages } = await world("coherent");
    const pins: number[] = [];
    expect(await locked(mm, () => pinUserPages(mm, addr, 2, FOLL_WRITE | FOLL_LONGTERM, pins))).toBe(2);
    for (const [i, f] of pins.entries()) {
      expect(isDevice(k, f)).toBe(false);
      expect(mm.pageTable.valAt(addr / PS + i)).toBe(f);
      expect(mm.pageTable.flagsAt(addr / PS + i) & PTE_WRITE).toBe(PTE_WRITE);
    }
    expect(mirror.device.devmem.pagesInUse).toBe(pages - 2);
    // The fast variant takes the lock itself and moves the rest.
    const more: number[] = [];
    expect(await pinUserPagesFast(mm, addr, pages, FOLL_WRITE | FOLL_LONGTERM, more)).toBe(pages);
    expect(more.slice(0, 2)).toEqual(pins);
    expect(more.some((f) => isDevice(k, f))).toBe(false);
    expect(mirror.device.devmem.pagesInUse).toBe(0);
    unpinUserPages(k, pins);
    unpinUserPages(k, more);
    await teardown(k, mm, mirror, addr, pages);
  });

  it("gives -EBUSY when a device-coherent page is held by someone else, and the page stays", async () => {
    const { k, mm, mirror, addr, pages } = await world("coherent");
    const held: number[] = [];
    expect(await locked(mm, () => getUserPages(mm, addr, 1, 0, held))).toBe(1);
    const pins: number[] = [];
    expect(await locked(mm, () => pinUserPages(mm, addr, 1, FOLL_LONGTERM, pins))).toBe(-EBUSY);
    expect(pins).toEqual([]);
    expect(mm.pageTable.valAt(addr / PS)).toBe(held[0]);
    expect(k.physMem.refcount[held[0] as number]).toBe(2);
    putPages(k, held);
    await teardown(k, mm, mirror, addr, pages);
  });
});

describe("a pinned page does not migrate", () => {
  it("MIGRATE_TO_DEV leaves a page with an extra reference in RAM (-ENOENT), and moves it once unpinned", async () => {
    const k = new Kernel();
    const mm = k.createMm({ name: "proc" });
    const mirror = await new DmirrorDevice(k, { memory: "private", chunkPages: 16 }).open(mm);
    const addr = await mm.mmap({ length: 2 * PS, prot: RW });
    await mm.write32(addr, 7);
    await mm.write32(addr + PS, 8);
    const pins: number[] = [];
    expect(await pinUserPagesFast(mm, addr, 1, FOLL_WRITE, pins)).toBe(1);
    const buf = new Uint8Array(2 * PS);
    expect((await mirror.migrateToDev(addr, 2, buf)).ret).toBe(-ENOENT);
    expect(mm.pageTable.valAt(addr / PS)).toBe(pins[0]);
    expect(mm.pageTable.flagsAt(addr / PS + 1) & PTE_DEVICE_PRIVATE).not.toBe(0);
    unpinUserPages(k, pins);
    expect(await mirror.migrateToDev(addr, 2, buf)).toMatchObject({ ret: 0, cpages: 2 });
    expect(await mm.read32(addr)).toBe(7);
    await mirror.close();
    await mm.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
  });
});
