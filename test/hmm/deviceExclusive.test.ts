// make_device_exclusive (src/hmm/deviceExclusive.ts, kernel mm/rmap.c) and the CPU side that undoes
// it (mm/memory.c's remove_device_exclusive_entry, in src/mm/memory.ts): the EXCLUSIVE invalidation
// with the owner, the page kept mapped and handed back locked, the CLEAR invalidation (owner NULL) of
// a CPU access, fork restoring the parent's entries, mprotect and munmap, and the oracle's rule that
// atomic translations and device-exclusive entries go together.

import { describe, expect, it } from "vitest";
import { makeDeviceExclusive } from "../../src/hmm/deviceExclusive.js";
import { EFAULT, EOPNOTSUPP } from "../../src/lib/errno.js";
import { folioTestLocked, folioUnlock } from "../../src/mm/filemap.js";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_EXCLUSIVE, PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { intervalRecorder } from "../mm/helpers.js";
import { mmInvariants } from "../mm/invariants.js";

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;

async function world(): Promise<{ k: Kernel; mm: Mm; addr: number }> {
  // Reports are recorded, not thrown.
  const k = new Kernel({ failOn: [] });
  const mm = k.createMm({ name: "proc" });
  const addr = await mm.mmap({ length: 2 * PS, prot: RW });
  await mm.write32(addr, 41);
  return { k, mm, addr };
}

/** make_device_exclusive with the mmap lock held for read, then the caller's unlock and put. */
async function exclusive(mm: Mm, addr: number, owner?: unknown): Promise<number> {
  await mm.mmapLock.downRead();
  const f = await makeDeviceExclusive(mm, addr, owner);
  mm.mmapLock.upRead();
  if (f > 0) {
    expect(folioTestLocked(mm.kernel, f)).toBe(true);
    folioUnlock(mm.kernel, f);
    mm.kernel.physMem.put(f);
  }
  return f;
}

const flagsAt = (mm: Mm, addr: number) => mm.pageTable.flagsAt(addr / PS);

describe("make_device_exclusive", () => {
  it("replaces a writable PTE by a device-exclusive entry under an EXCLUSIVE invalidation carrying the owner; the page stays mapped", async () => {
    const { k, mm, addr } = await world();
    const { log, sub } = await intervalRecorder(mm, addr, 2 * PS);
    const owner = { name: "gpu" };
    let seenOwner: unknown;
    const inv = sub.ops.invalidate;
    sub.ops.invalidate = (s, r, c) => {
      seenOwner = r.owner;
      return inv(s, r, c);
    };
    const frame = mm.pageTable.valAt(addr / PS);
    expect(await exclusive(mm, addr, owner)).toBe(frame);
    expect(log.map((s) => `${s.event} ${(s.end - s.start) / PS}`)).toEqual(["EXCLUSIVE 1"]);
    expect(seenOwner).toBe(owner);
    expect(flagsAt(mm, addr)).toBe(PTE_DEVICE_EXCLUSIVE | PTE_WRITE);
    expect([k.physMem.mapcount[frame], k.physMem.refcount[frame], mm.rss]).toEqual([1, 1, 1]);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("write-faults an untouched page first, and refuses a read-only area (-EFAULT) and shared memory (-EOPNOTSUPP)", async () => {
    const { k, mm, addr } = await world();
    expect(await exclusive(mm, addr + PS)).toBeGreaterThan(0);
    expect(flagsAt(mm, addr + PS) & PTE_DEVICE_EXCLUSIVE).toBeTruthy();
    const ro = await mm.mmap({ length: PS, prot: PROT_READ });
    expect(await exclusive(mm, ro)).toBe(-EFAULT);
    const shared = await mm.mmap({ length: PS, prot: RW, shared: true });
    expect(await exclusive(mm, shared)).toBe(-EOPNOTSUPP);
    expect(mmInvariants(k, [mm])).toEqual([]);
  });
});

describe("the CPU side", () => {
  it("a CPU access restores the PTE under a CLEAR invalidation without an owner", async () => {
    const { mm, addr } = await world();
    await exclusive(mm, addr, { name: "gpu" });
    const { log, sub } = await intervalRecorder(mm, addr, 2 * PS);
    let owner: unknown = "unset";
    const inv = sub.ops.invalidate;
    sub.ops.invalidate = (s, r, c) => {
      owner = r.owner;
      return inv(s, r, c);
    };
    expect(await mm.read32(addr)).toBe(41);
    expect(log.map((s) => s.event)).toEqual(["CLEAR"]);
    expect(owner).toBeUndefined();
    expect(flagsAt(mm, addr) & (PTE_PRESENT | PTE_WRITE)).toBe(PTE_PRESENT | PTE_WRITE);
  });

  it("fork restores the parent's entries, then shares the pages copy-on-write", async () => {
    const { k, mm, addr } = await world();
    await exclusive(mm, addr);
    const child = await mm.fork({ name: "child" });
    expect(flagsAt(mm, addr)).toBe(flagsAt(child, addr));
    expect(flagsAt(mm, addr) & (PTE_PRESENT | PTE_WRITE)).toBe(PTE_PRESENT);
    await child.write32(addr, 7);
    expect([await mm.read32(addr), await child.read32(addr)]).toEqual([41, 7]);
    await child.exit();
    expect(mmInvariants(k, [mm])).toEqual([]);
  });

  it("mprotect takes write from the entry, the restore comes back read-only, munmap frees the page", async () => {
    const { k, mm, addr } = await world();
    await exclusive(mm, addr);
    await mm.mprotect(addr, 2 * PS, PROT_READ);
    expect(flagsAt(mm, addr)).toBe(PTE_DEVICE_EXCLUSIVE);
    expect(await mm.read32(addr)).toBe(41);
    expect(flagsAt(mm, addr) & PTE_WRITE).toBe(0);
    await mm.mprotect(addr, 2 * PS, RW);
    await exclusive(mm, addr);
    await mm.munmap(addr, 2 * PS);
    expect(k.physMem.stats().inUse).toBe(0);
  });
});

describe("the oracle and atomic translations", () => {
  it("accepts an atomic translation of a device-exclusive entry, and reports one that outlives it", async () => {
    const { k, mm, addr } = await world();
    const pt = k.devicePageTable("gpu");
    const f = await exclusive(mm, addr);
    pt.map(mm, addr, f, { atomic: true });
    expect(k.reports).toEqual([]);
    expect(pt.lookup(mm, addr)).toEqual({ frame: f, write: false, atomic: true });
    // The device ignores the CPU access's invalidation: its exclusive access is now stale.
    expect(await mm.read32(addr)).toBe(41);
    expect(k.reports.map((r) => r.kind)).toEqual(["stale-mapping"]);
    expect(k.reports[0]?.message).toContain(`to frame ${f} atomic after the CPU PTE changed (event CLEAR)`);
  });

  it("reports an atomic translation without a device-exclusive entry, and an ordinary one with it", async () => {
    const { k, mm, addr } = await world();
    const pt = k.devicePageTable("gpu");
    const f = mm.pageTable.valAt(addr / PS);
    pt.map(mm, addr, f, { atomic: true });
    pt.unmap(mm, addr);
    await exclusive(mm, addr);
    pt.map(mm, addr, f);
    expect(k.reports.map((r) => r.kind)).toEqual(["stale-mapping", "stale-mapping"]);
    expect(k.reports[1]?.message).toContain("while the CPU PTE is a device-exclusive entry");
  });
});
