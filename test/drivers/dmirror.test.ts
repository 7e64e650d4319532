// The dmirror device (src/drivers/dmirror/), beyond the ported self-test: the ioctl prologue and the
// errno of each command, the device page table's entries, the invalidate callback (the MIGRATE
// self-filter, the inclusive erase, trylock when it may not block), the fault path's timeout on the
// logical clock, SNAPSHOT's temporary notifiers, two devices, and misuse.

import { describe, expect, it } from "vitest";
import { DmirrorDevice } from "../../src/drivers/dmirror/device.js";
import type { Dmirror } from "../../src/drivers/dmirror/mirror.js";
import {
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
} from "../../src/drivers/dmirror/uapi.js";
import { EBUSY, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from "../../src/lib/errno.js";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../../src/notifier/range.js";

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;

/** A direct-runtime kernel, a process with `pages` pages of pattern i, and a mirror on device 0. */
async function setup(
  pages = 8,
): Promise<{ k: Kernel; mm: Mm; dev: DmirrorDevice; m: Dmirror; addr: number }> {
  const k = new Kernel();
  const mm = k.createMm({ name: "proc" });
  const dev = new DmirrorDevice(k, { memory: "private" });
  const m = await dev.open(mm);
  const addr = await mm.mmap({ length: pages * PS, prot: RW });
  const w = new Int32Array((pages * PS) / 4).map((_, i) => i);
  await mm.write(addr, new Uint8Array(w.buffer));
  return { k, mm, dev, m, addr };
}

describe("the ioctl prologue and each command's errno", () => {
  it("answers -EINVAL for an unaligned address, npages 0, a range past the end, and an unknown command", async () => {
    const { m, addr } = await setup();
    const buf = new Uint8Array(8 * PS);
    expect((await m.read(addr + 4, 1, buf)).ret).toBe(-EINVAL);
    expect((await m.read(addr, 0, buf)).ret).toBe(-EINVAL);
    expect((await m.read(2 ** 53 - PS, 1, buf)).ret).toBe(-EINVAL);
    expect((await m.ioctl(0x42, { addr, npages: 1, buf })).ret).toBe(-EINVAL);
    // The prologue comes first for every command.
    expect((await m.migrateToDev(addr + 4, 1, buf)).ret).toBe(-EINVAL);
  });

  it("gives cpages and faults only on success", async () => {
    const { m, mm, addr } = await setup();
    await mm.munmap(addr + 4 * PS, 4 * PS);
    expect(await m.read(addr, 8, new Uint8Array(8 * PS))).toEqual({ ret: -EFAULT, cpages: 0, faults: 0 });
    expect(await m.read(addr, 4, new Uint8Array(4 * PS))).toEqual({ ret: 0, cpages: 4, faults: 1 });
  });

  it("answers -EFAULT when the user buffer cannot hold the data, and leaves memory alone for WRITE", async () => {
    const { m, mm, addr } = await setup();
    expect((await m.read(addr, 8, new Uint8Array(PS))).ret).toBe(-EFAULT);
    expect((await m.write(addr, 8, new Uint8Array(PS))).ret).toBe(-EFAULT);
    expect(await mm.read32(addr + 4)).toBe(1);
    expect((await m.snapshot(addr, 8, new Uint8Array(4))).ret).toBe(-EFAULT);
  });

  it("answers -EINVAL for a migration over a hole or an unreadable area, and -EFAULT when the buffer is short", async () => {
    const { k, mm, m, addr } = await setup();
    const buf = new Uint8Array(8 * PS);
    await mm.munmap(addr + 7 * PS, PS);
    expect((await m.migrateToDev(addr, 8, buf)).ret).toBe(-EINVAL);
    expect((await m.migrateToSys(addr, 8)).ret).toBe(-EINVAL);
    await mm.mprotect(addr + 6 * PS, PS, PROT_NONE);
    expect((await m.migrateToDev(addr + 6 * PS, 1, buf)).ret).toBe(-EINVAL);
    // The pages before the hole moved: only the copy out failed.
    expect((await m.migrateToDev(addr, 6, new Uint8Array(PS))).ret).toBe(-EFAULT);
    expect(k.physMem.stats().deviceInUse).toBe(6);
    expect(await mm.read32(addr + 5 * PS + 4)).toBe(5 * 1024 + 1);
  });

  it("FAIL_ALLOC is one-shot: MIGRATE_TO_SYS answers -ENOMEM and the page stays on the device, a CPU fault-back is out of memory", async () => {
    const { k, mm, m, addr } = await setup(2);
    const buf = new Uint8Array(2 * PS);
    expect(await m.migrateToDev(addr, 2, buf)).toEqual({ ret: 0, cpages: 2, faults: 0 });
    expect((await m.flags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
    expect((await m.migrateToSys(addr, 2)).ret).toBe(-ENOMEM);
    expect(m.flagBits).toBe(0);
    expect(k.physMem.stats().deviceInUse).toBe(2);
    expect((await m.flags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
    await expect(mm.read32(addr)).rejects.toMatchObject({ code: "ENOMEM" });
    expect(await mm.read32(addr + 4)).toBe(1);
    expect(await m.migrateToSys(addr, 2)).toEqual({ ret: 0, cpages: 1, faults: 0 });
  });

  it("EXCLUSIVE answers make_device_exclusive's errno: -EFAULT in a read-only area, -EOPNOTSUPP in shared memory", async () => {
    const { mm, m, addr } = await setup();
    const buf = new Uint8Array(8 * PS);
    await mm.mprotect(addr, PS, PROT_READ);
    expect((await m.exclusive(addr, 1, buf)).ret).toBe(-EFAULT);
    const shared = await mm.mmap({ length: PS, prot: RW, shared: true });
    expect((await m.exclusive(shared, 1, buf)).ret).toBe(-EOPNOTSUPP);
    expect(await m.checkExclusive(addr, 8)).toEqual({ ret: 0, cpages: 0, faults: 0 });
  });

  it("RELEASE succeeds; FLAGS sets the flags and, with 0 flags, fails the prologue as the kernel's does", async () => {
    const { m } = await setup();
    expect((await m.release()).ret).toBe(0);
    expect((await m.flags(HMM_DMIRROR_FLAG_FAIL_ALLOC)).ret).toBe(0);
    expect(m.flagBits).toBe(HMM_DMIRROR_FLAG_FAIL_ALLOC);
    expect((await m.flags(0)).ret).toBe(-EINVAL);
  });

  it("throws EINVAL for arguments of the wrong type and for a closed mirror", async () => {
    const { m, addr } = await setup();
    await expect(m.read(addr, 1.5, new Uint8Array(PS))).rejects.toMatchObject({ code: "EINVAL" });
    await expect(m.read(-PS, 1, new Uint8Array(PS))).rejects.toMatchObject({ code: "EINVAL" });
    await expect(
      m.ioctl(HMM_DMIRROR_READ, { addr, npages: 1, buf: [] as unknown as Uint8Array }),
    ).rejects.toMatchObject({ code: "EINVAL" });
    await m.close();
    await expect(m.read(addr, 1, new Uint8Array(PS))).rejects.toMatchObject({ code: "EINVAL" });
    await expect(m.close()).rejects.toMatchObject({ code: "EINVAL" });
  });

  it("rejects a device without a valid memory kind", () => {
    const k = new Kernel();
    expect(() => new DmirrorDevice(k, { memory: "shared" as "private" })).toThrow(/memory/);
  });

  it("answers -EFAULT (READ) and -EINVAL (SNAPSHOT) once the address space is gone", async () => {
    const { m, mm, addr } = await setup();
    await mm.exit();
    expect((await m.read(addr, 1, new Uint8Array(PS))).ret).toBe(-EFAULT);
    expect((await m.snapshot(addr, 1, new Uint8Array(1))).ret).toBe(-EINVAL);
    await m.close();
  });
});

describe("the device page table", () => {
  it("maps what HMM reported: writable for CPU-written pages even on READ, read-only for the zero page", async () => {
    const { m, mm, addr } = await setup(4);
    const zero = await mm.mmap({ length: PS, prot: RW });
    await m.read(addr, 4, new Uint8Array(4 * PS));
    await m.read(zero, 1, new Uint8Array(PS));
    expect(m.pt.lookup(mm, addr)?.write).toBe(true);
    expect(m.pt.lookup(mm, zero)).toEqual({ frame: 0, write: false });
  });

  it("is erased from start to end inclusive: the page just past an invalidated range goes too", async () => {
    const { m, mm, addr } = await setup(4);
    await m.read(addr, 4, new Uint8Array(4 * PS));
    const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, addr, addr + PS);
    await mm.notifiers.invalidateRangeStart(range);
    await mm.notifiers.invalidateRangeEnd(range);
    expect([0, 1, 2, 3].map((p) => m.pt.lookup(mm, addr + p * PS) !== undefined)).toEqual([
      false,
      false,
      true,
      true,
    ]);
  });

  it("keeps its entries through the device's own MIGRATE invalidation and drops them for another device's", async () => {
    const { k, m, mm, addr, dev } = await setup(2);
    const other = new DmirrorDevice(k, { memory: "private" });
    await m.read(addr, 2, new Uint8Array(2 * PS));
    const seq = m.notifier.invalidateSeq;
    for (const [owner, kept] of [
      [dev, true],
      [other, false],
    ] as const) {
      const r = mmuNotifierRangeInit(MmuNotifierEvent.MIGRATE, mm, addr, addr + 2 * PS, owner);
      await mm.notifiers.invalidateRangeStart(r);
      await mm.notifiers.invalidateRangeEnd(r);
      expect(m.pt.size, `owner ${owner.name}`).toBe(kept ? 2 : 0);
      // The own migration does not even record the sequence.
      if (kept) expect(m.notifier.invalidateSeq).toBe(seq);
    }
  });

  it("belongs to one open file: two opens of two devices have distinct owners and tables", async () => {
    const { k, m, mm, addr } = await setup(2);
    const m1 = await new DmirrorDevice(k, { memory: "private" }).open(mm);
    expect(m1.device).not.toBe(m.device);
    expect(m1.device.name).toBe("hmm_dmirror1");
    await m.read(addr, 2, new Uint8Array(2 * PS));
    expect([m.pt.size, m1.pt.size]).toEqual([2, 0]);
    await m.close();
    expect(m.pt.size).toBe(0);
    expect((await m1.read(addr, 2, new Uint8Array(2 * PS))).faults).toBe(1);
  });
});

describe("SNAPSHOT", () => {
  it("reports without faulting or touching the device page table, and leaves no notifier behind", async () => {
    const { m, mm, addr } = await setup(2);
    const empty = await mm.mmap({ length: 2 * PS, prot: RW });
    await mm.read32(empty);
    const tree = mm.notifiers.state().tree.length;
    const bytes = new Uint8Array(4);
    expect(await m.snapshot(addr, 2, bytes.subarray(0, 2))).toEqual({ ret: 0, cpages: 2, faults: 0 });
    expect(await m.snapshot(empty, 2, bytes.subarray(2))).toEqual({ ret: 0, cpages: 2, faults: 0 });
    expect([...bytes]).toEqual([
      HMM_DMIRROR_PROT_WRITE,
      HMM_DMIRROR_PROT_WRITE,
      HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
      0,
    ]);
    expect(m.pt.size).toBe(0);
    expect(mm.notifiers.state().tree.length).toBe(tree);
  });

  it("works in chunks of 32 pages: 33 pages give 33 bytes", async () => {
    const { m, addr } = await setup(33);
    const bytes = new Uint8Array(33);
    expect(await m.snapshot(addr, 33, bytes)).toEqual({ ret: 0, cpages: 33, faults: 0 });
    expect(bytes.every((b) => b === HMM_DMIRROR_PROT_WRITE)).toBe(true);
  });
});

describe("the fault path", () => {
  it("gives up with -EBUSY once invalidations kept it retrying for 1000 ms of logical time", async () => {
    const { k, m, mm, addr } = await setup(1);
    let rounds = 0;
    m.hooks.afterRangeFault = async () => {
      rounds++;
      k.advanceClock(300);
      // An invalidation between hmmRangeFault and readRetry: the attempt must be retried.
      const r = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, addr, addr + PS);
      await mm.notifiers.invalidateRangeStart(r);
      await mm.notifiers.invalidateRangeEnd(r);
    };
    expect((await m.read(addr, 1, new Uint8Array(PS))).ret).toBe(-EBUSY);
    expect(rounds).toBe(4);
  });

  it("takes the mutex by trylock in a non-blocking invalidation and answers false when it is busy", async () => {
    const { m, mm, addr } = await setup(1);
    await m.mutex.lock();
    const r = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, mm, addr, addr + PS);
    expect(await mm.notifiers.invalidateRangeStartNonblock(r)).toBe(-11);
    m.mutex.unlock();
    expect(await mm.notifiers.invalidateRangeStartNonblock(r)).toBe(0);
    await mm.notifiers.invalidateRangeEnd(r);
  });
});

describe("device memory", () => {
  it("maps the device page itself after MIGRATE_TO_DEV, writable where the source page was", async () => {
    const { k, m, mm, addr } = await setup(2);
    await mm.mprotect(addr + PS, PS, PROT_READ);
    expect(await m.migrateToDev(addr, 2, new Uint8Array(2 * PS))).toEqual({ ret: 0, cpages: 2, faults: 0 });
    const [p0, p1] = [m.pt.lookup(mm, addr), m.pt.lookup(mm, addr + PS)];
    expect([p0?.write, p1?.write]).toEqual([true, false]);
    expect(k.pagemapOf(p0?.frame as number)?.owner).toBe(m.device);
    expect(m.pt.read32(mm, addr + PS + 4)).toBe(1025);
    // The device page holds the contents: a device write shows in the CPU's read after the fault-back.
    expect(m.pt.write32(mm, addr + 8, 77)).toBe(0);
    expect(await mm.read32(addr + 8)).toBe(77);
    expect(m.pt.lookup(mm, addr)).toBeUndefined();
  });

  it("close evicts every page of the device back to RAM, and the data survives", async () => {
    const { k, m, mm, addr, dev } = await setup(8);
    expect((await m.migrateToDev(addr, 8, new Uint8Array(8 * PS))).ret).toBe(0);
    expect(k.physMem.stats().deviceInUse).toBe(8);
    await m.close();
    expect(k.physMem.stats().deviceInUse).toBe(0);
    expect(dev.devmem.chunks.length).toBe(1);
    expect(await mm.read32(addr + 7 * PS + 4)).toBe(7 * 1024 + 1);
  });

  it("RELEASE removes the chunks; the next allocation makes a new one", async () => {
    const { m, addr, dev } = await setup(2);
    const buf = new Uint8Array(2 * PS);
    expect((await m.migrateToDev(addr, 2, buf)).ret).toBe(0);
    const first = dev.devmem.chunks[0]?.pagemap;
    expect((await m.release()).ret).toBe(0);
    expect([dev.devmem.chunks.length, first?.removed]).toEqual([0, true]);
    expect((await m.migrateToDev(addr, 2, buf)).ret).toBe(0);
    expect(dev.devmem.chunks.length).toBe(1);
    expect(dev.devmem.chunks[0]?.pagemap).not.toBe(first);
  });

  it("a device with chunks of 2 pages makes a chunk per 2 pages it needs, and frees them all on close", async () => {
    const k = new Kernel();
    const mm = k.createMm({ name: "proc" });
    const dev = new DmirrorDevice(k, { memory: "private", chunkPages: 2 });
    const m = await dev.open(mm);
    const addr = await mm.mmap({ length: 5 * PS, prot: RW });
    expect(await m.migrateToDev(addr, 5, new Uint8Array(5 * PS))).toMatchObject({ ret: 0, cpages: 5 });
    expect(dev.devmem.chunks.map((c) => c.pagemap.nr)).toEqual([2, 2, 2]);
    expect([dev.devmem.pagesInUse, k.physMem.stats().deviceInUse]).toEqual([5, 5]);
    await m.close();
    await mm.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new DmirrorDevice(k, { memory: "private", chunkPages: bad })).toThrow(
        expect.objectContaining({ code: "EINVAL" }),
      );
    }
  });

  it("a coherent device's pages are read and written by the CPU in place, and copy on write copies out of them", async () => {
    const k = new Kernel();
    const mm = k.createMm({ name: "proc" });
    const m = await new DmirrorDevice(k, { memory: "coherent" }).open(mm);
    const addr = await mm.mmap({ length: PS, prot: RW });
    await mm.write32(addr, 5);
    expect((await m.migrateToDev(addr, 1, new Uint8Array(PS))).ret).toBe(0);
    const frame = mm.pageTable.valAt(addr / PS);
    expect(k.pagemapOf(frame)?.isPrivate).toBe(false);
    await mm.write32(addr, 6);
    expect(mm.pageTable.valAt(addr / PS)).toBe(frame);
    const child = await mm.fork();
    await child.write32(addr, 7);
    expect(k.pagemapOf(child.pageTable.valAt(addr / PS))).toBeUndefined();
    expect([await mm.read32(addr), await child.read32(addr)]).toEqual([6, 7]);
    await child.exit();
    await m.close();
    await mm.exit();
    expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0 });
  });
});
