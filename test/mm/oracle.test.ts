// The coherence oracle (DESIGN.md §3.7): a device that keeps a translation the CPU no longer grants
// is reported `stale-mapping` at the PTE change, whatever changed it; a device that zaps in its
// interval notifier is not; a device access through a translation to a freed frame is a
// `use-after-free`.

import { describe, expect, it } from "vitest";
import type { DevicePageTable } from "../../src/mm/devicePageTable.js";
import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { PAGE, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

/** The device mirrors the CPU's translation of `addr` (the frame its PTE maps), with `write`. */
function mirror(dev: DevicePageTable, mm: Mm, addr: number, write: boolean): number {
  const frame = mm.pageTable.valAt(Math.floor(addr / PAGE));
  dev.map(mm, addr, frame, { write });
  return frame;
}

/** A kernel that records reports instead of failing, an mm with one written page, and a device mirroring it. */
async function setup(write = true) {
  const { k, mm } = world({ failOn: [] });
  const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
  await mm.write32(a, 1);
  const dev = k.devicePageTable("gpu");
  const frame = mirror(dev, mm, a, write);
  return { k, mm, a, dev, frame };
}

const kinds = (k: Kernel) => k.reports.map((r) => r.kind);

/** Inserts the correct driver: its invalidate zaps the device's translations of the range under its lock. */
async function zappingDriver(k: Kernel, mm: Mm, dev: DevicePageTable, start: number, length: number) {
  const lock = k.mutex("gpu_lock");
  return await MmuIntervalNotifier.insert(mm, start, length, {
    name: "gpu",
    async invalidate(sub, range, cur) {
      await lock.lock();
      dev.unmapRange(mm, range.start, range.end);
      sub.setSeq(cur);
      lock.unlock();
      return true;
    },
  });
}

describe("a device that ignores invalidations is reported stale-mapping", () => {
  const cases: [string, (w: Awaited<ReturnType<typeof setup>>) => Promise<unknown>, string][] = [
    ["munmap", ({ mm, a }) => mm.munmap(a, PAGE), "UNMAP"],
    ["mprotect removing write", ({ mm, a }) => mm.mprotect(a, PAGE, PROT_READ), "PROTECTION_VMA"],
    ["mprotect to PROT_NONE", ({ mm, a }) => mm.mprotect(a, PAGE, PROT_NONE), "PROTECTION_VMA"],
    ["fork write-protecting the parent", ({ mm }) => mm.fork(), "PROTECTION_PAGE"],
    ["reclaim", ({ mm, a }) => mm.reclaim(a, PAGE), "CLEAR"],
    ["madvise(dontneed)", ({ mm, a }) => mm.madvise(a, PAGE, "dontneed"), "CLEAR"],
    ["the OOM reaper", ({ mm }) => mm.oomReap(), "UNMAP"],
    ["exit", ({ mm }) => mm.exit() ?? Promise.resolve(), "UNMAP"],
  ];
  for (const [what, op, event] of cases) {
    it(`at ${what} (event ${event})`, async () => {
      const w = await setup();
      await op(w);
      expect(kinds(w.k)).toEqual(["stale-mapping"]);
      expect(w.k.reports[0]?.message).toContain(`event ${event}`);
      expect(w.k.reports[0]?.message).toContain(`to frame ${w.frame} writable`);
    });
  }

  it("at mprotect to PROT_NONE even for a read-only translation, but not at mprotect removing write", async () => {
    const w = await setup(false);
    await w.mm.mprotect(w.a, PAGE, PROT_READ);
    expect(kinds(w.k)).toEqual([]);
    await w.mm.mprotect(w.a, PAGE, PROT_NONE);
    expect(kinds(w.k)).toEqual(["stale-mapping"]);
  });

  it("at fork only for a writable translation: a read-only one stays valid", async () => {
    const w = await setup(false);
    const child = await w.mm.fork();
    expect(kinds(w.k)).toEqual([]);
    await child.exit();
  });

  it("at copy-on-write of the zero page, and of a page shared after fork", async () => {
    const { k, mm } = world({ failOn: [] });
    const dev = k.devicePageTable("gpu");
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    expect(await mm.read32(a)).toBe(0);
    expect(mirror(dev, mm, a, false)).toBe(0);
    await mm.write32(a, 1);
    expect(kinds(k)).toEqual(["stale-mapping"]);
    expect(k.reports[0]?.message).toContain("event CLEAR");
    dev.unmap(mm, a);
    await mm.write32(a + PAGE, 1);
    const child = await mm.fork();
    mirror(dev, child, a + PAGE, false);
    await child.write32(a + PAGE, 2);
    expect(kinds(k)).toEqual(["stale-mapping", "stale-mapping"]);
    expect(k.reports[1]?.message).toContain(`${child.name} 0x`);
  });

  it("and run() of the direct runtime rejects with the report", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.write32(a, 1);
    mirror(k.devicePageTable("gpu"), mm, a, true);
    k.spawn("munmap", () => mm.munmap(a, PAGE));
    await expect(k.run()).rejects.toThrow(/\[stale-mapping\] device "gpu" still maps mm 0x/);
  });
});

describe("a device that zaps in its interval notifier is never reported", () => {
  it("through munmap, mprotect, fork, COW, reclaim, dontneed, the reaper and exit", async () => {
    const { k, mm } = world();
    const a = await mm.mmap({ length: 4 * PAGE, prot: RW });
    const dev = k.devicePageTable("gpu");
    const sub = await zappingDriver(k, mm, dev, a, 4 * PAGE);
    const remap = async () => {
      for (let p = 0; p < 4; p++) {
        await mm.write32(a + p * PAGE, p + 1);
        mirror(dev, mm, a + p * PAGE, true);
      }
    };
    await remap();
    const child = await mm.fork();
    expect(dev.size).toBe(0);
    await remap(); // COW: each write copies the page first
    await mm.mprotect(a, 4 * PAGE, PROT_READ);
    await mm.mprotect(a, 4 * PAGE, RW);
    await remap();
    await mm.reclaim(a, 2 * PAGE);
    await mm.madvise(a + 2 * PAGE, PAGE, "dontneed");
    await remap();
    await mm.munmap(a + 3 * PAGE, PAGE);
    await mm.oomReap();
    expect(dev.size).toBe(0);
    await mm.mmap({ addr: a + 3 * PAGE, length: PAGE, prot: RW, fixed: true });
    await remap();
    await mm.exit();
    await child.exit();
    expect(k.reports).toEqual([]);
    expect(dev.size).toBe(0);
    await sub.remove();
  });
});

describe("use-after-free", () => {
  it("a device access after munmap through the translation it kept reaches a freed frame", async () => {
    const w = await setup();
    await w.mm.munmap(w.a, PAGE);
    expect(w.k.physMem.isLive(w.frame)).toBe(false);
    expect(w.dev.access(w.mm, w.a, false)).toBe(-14);
    expect(w.dev.read32(w.mm, w.a)).toBe(-14);
    expect(w.dev.write32(w.mm, w.a, 5)).toBe(-14);
    expect(kinds(w.k)).toEqual(["stale-mapping", "use-after-free", "use-after-free", "use-after-free"]);
    expect(w.k.reports[1]?.message).toContain(`frame ${w.frame} (freed)`);
  });

  it("a device access through a translation that is still valid is not one", async () => {
    const w = await setup();
    expect(w.dev.read32(w.mm, w.a)).toBe(1);
    expect(w.dev.write32(w.mm, w.a, 2)).toBe(0);
    expect(await w.mm.read32(w.a)).toBe(2);
    expect(kinds(w.k)).toEqual([]);
  });
});

describe("a device that publishes a translation the CPU no longer has is reported when it maps", () => {
  it("mapping the frame a COW replaced (the driver skipped readRetry) is a stale-mapping at map()", async () => {
    const { k, mm } = world({ failOn: [] });
    const a = await mm.mmap({ length: PAGE, prot: RW });
    await mm.read32(a); // the zero page
    const dev = k.devicePageTable("gpu");
    const seen = mm.pageTable.valAt(a / PAGE); // what hmmRangeFault returned, before the collision
    await mm.write32(a, 7); // COW: the PTE now maps a new frame
    dev.map(mm, a, seen, { write: false });
    expect(kinds(k)).toEqual(["stale-mapping"]);
    expect(k.reports[0]?.message).toMatch(
      /maps .* to frame 0 read-only while the CPU PTE maps frame \d+ writable/,
    );
  });

  it("mapping for write a page the CPU maps read-only, or a page not mapped at all, is one too", async () => {
    const { k, mm } = world({ failOn: [] });
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    await mm.write32(a, 1);
    await mm.mprotect(a, 2 * PAGE, PROT_READ);
    const dev = k.devicePageTable("gpu");
    const frame = mm.pageTable.valAt(a / PAGE);
    dev.map(mm, a, frame, { write: false });
    expect(kinds(k)).toEqual([]);
    dev.map(mm, a, frame, { write: true });
    dev.map(mm, a + PAGE, frame, { write: false });
    expect(kinds(k)).toEqual(["stale-mapping", "stale-mapping"]);
  });
});
