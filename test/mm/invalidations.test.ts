// Each system call raises the invalidations Linux raises (kernel-spec §2.3): the event, the range,
// the blockable flag, and the mmap lock mode held while the callbacks run. Seen by a classic
// notifier (every invalidation of the mm) and by interval notifiers over parts of the range (only the
// invalidations that intersect them, with the whole range).

import { describe, expect, it } from "vitest";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { MmuNotifier } from "../../src/notifier/classicNotifier.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { ADDRESS_SPACE_END } from "../../src/notifier/range.js";
import { classicRecorder, describe as d, intervalRecorder, PAGE, pageOf, starts, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

/** An mm with `pages` private read-write pages at `base`, every page written (so all are resident). */
async function populated(pages = 4, options: { shared?: boolean } = {}) {
  const { k, mm } = world();
  const base = await mm.mmap({ length: pages * PAGE, prot: RW, shared: options.shared === true });
  await mm.write(base, pageOf(7, pages * PAGE));
  return { k, mm, base };
}

describe("mmap", () => {
  it("a new mapping raises no invalidation", async () => {
    const { mm } = world();
    const log = await classicRecorder(mm);
    const a = await mm.mmap({ length: 4 * PAGE, prot: RW });
    await mm.mmap({ addr: a - 8 * PAGE, length: PAGE, prot: RW, fixed: true });
    expect(log).toEqual([]);
  });

  it("fixed over an existing mapping unmaps it first: one UNMAP over the new range, write-locked", async () => {
    const { mm, base } = await populated(4);
    const log = await classicRecorder(mm);
    const before = await intervalRecorder(mm, base, PAGE);
    const inside = await intervalRecorder(mm, base + 2 * PAGE, PAGE);
    await mm.mmap({ addr: base + PAGE, length: 2 * PAGE, prot: PROT_READ, fixed: true });
    expect(starts(log, base)).toEqual(["UNMAP [+0x1000, +0x3000) blockable write"]);
    expect(log.map((s) => s.op)).toEqual(["start", "end"]);
    expect(before.log).toEqual([]);
    expect(starts(inside.log, base)).toEqual(["UNMAP [+0x1000, +0x3000) blockable write"]);
    expect(await mm.read(base + PAGE, 4)).toEqual(new Uint8Array(4));
    expect(await mm.read(base, 1)).toEqual(new Uint8Array([7]));
  });
});

describe("munmap", () => {
  it("raises one UNMAP over the range, with the mmap lock downgraded to read (vms_complete_munmap_vmas)", async () => {
    const { mm, base } = await populated(4);
    const log = await classicRecorder(mm);
    const outside = await intervalRecorder(mm, base + 3 * PAGE, PAGE);
    const inside = await intervalRecorder(mm, base + 2 * PAGE, 2);
    await mm.munmap(base + PAGE, 2 * PAGE);
    expect(starts(log, base)).toEqual(["UNMAP [+0x1000, +0x3000) blockable read"]);
    expect(outside.log).toEqual([]);
    expect(starts(inside.log, base)).toEqual(["UNMAP [+0x1000, +0x3000) blockable read"]);
    expect(mm.mmapLock.isLocked()).toBe(false);
  });

  it("over two areas and the hole between them raises one UNMAP over the whole range", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    await mm.munmap(a + PAGE, PAGE);
    const b = await mm.mmap({ addr: a - PAGE, length: PAGE, prot: PROT_READ, fixed: true });
    const log = await classicRecorder(mm);
    await mm.munmap(b, 3 * PAGE);
    expect(starts(log, b)).toEqual(["UNMAP [+0x0, +0x3000) blockable read"]);
    expect(mm.vmas.size).toBe(0);
  });

  it("of a range where nothing is mapped raises nothing", async () => {
    const { mm, base } = await populated(1);
    const log = await classicRecorder(mm);
    await mm.munmap(base + 4 * PAGE, 4 * PAGE);
    expect(log).toEqual([]);
  });
});

describe("mprotect", () => {
  it("removing write raises PROTECTION_VMA over each area part, write-locked", async () => {
    const { mm, base } = await populated(4);
    const log = await classicRecorder(mm);
    const sub = await intervalRecorder(mm, base + 2 * PAGE, PAGE);
    await mm.mprotect(base + PAGE, 2 * PAGE, PROT_READ);
    expect(starts(log, base)).toEqual(["PROTECTION_VMA [+0x1000, +0x3000) blockable write"]);
    expect(starts(sub.log, base)).toEqual(["PROTECTION_VMA [+0x1000, +0x3000) blockable write"]);
  });

  it("to PROT_NONE, and back, raises PROTECTION_VMA each time", async () => {
    const { mm, base } = await populated(2);
    const log = await classicRecorder(mm);
    await mm.mprotect(base, 2 * PAGE, PROT_NONE);
    await mm.mprotect(base, 2 * PAGE, RW);
    expect(starts(log, base)).toEqual([
      "PROTECTION_VMA [+0x0, +0x2000) blockable write",
      "PROTECTION_VMA [+0x0, +0x2000) blockable write",
    ]);
  });

  it("over two areas of different protections raises one PROTECTION_VMA per area", async () => {
    const { mm, base } = await populated(4);
    await mm.mprotect(base + 2 * PAGE, 2 * PAGE, PROT_READ);
    const log = await classicRecorder(mm);
    await mm.mprotect(base + PAGE, 2 * PAGE, PROT_NONE);
    expect(starts(log, base)).toEqual([
      "PROTECTION_VMA [+0x1000, +0x2000) blockable write",
      "PROTECTION_VMA [+0x2000, +0x3000) blockable write",
    ]);
  });

  it("to the protection an area already has raises nothing (mprotect_fixup returns early)", async () => {
    const { mm, base } = await populated(4);
    await mm.mprotect(base, PAGE, PROT_READ);
    const log = await classicRecorder(mm);
    await mm.mprotect(base + PAGE, 2 * PAGE, RW);
    expect(log).toEqual([]);
    await mm.mprotect(base, 2 * PAGE, PROT_READ);
    expect(starts(log, base)).toEqual(["PROTECTION_VMA [+0x1000, +0x2000) blockable write"]);
  });

  it("of an area whose page tables were never populated raises nothing (change_pud_range is lazy)", async () => {
    const { mm } = world();
    const far = await mm.mmap({ addr: 2 ** 40, length: 4 * PAGE, prot: RW, fixed: true });
    const log = await classicRecorder(mm);
    await mm.mprotect(far, 4 * PAGE, PROT_READ);
    expect(log).toEqual([]);
    await mm.read(far, 1); // the zero page: the page tables now exist
    await mm.mprotect(far, 4 * PAGE, PROT_NONE);
    expect(starts(log, far)).toEqual(["PROTECTION_VMA [+0x0, +0x4000) blockable write"]);
  });
});

describe("madvise(dontneed)", () => {
  it("raises CLEAR over each area part, read-locked, mapped pages or not", async () => {
    const { mm, base } = await populated(4);
    await mm.mprotect(base + 2 * PAGE, 2 * PAGE, PROT_READ);
    await mm.madvise(base + 2 * PAGE, PAGE, "dontneed");
    const log = await classicRecorder(mm);
    const sub = await intervalRecorder(mm, base + 3 * PAGE, PAGE);
    await mm.madvise(base + PAGE, 3 * PAGE, "dontneed");
    expect(starts(log, base)).toEqual([
      "CLEAR [+0x1000, +0x2000) blockable read",
      "CLEAR [+0x2000, +0x4000) blockable read",
    ]);
    expect(starts(sub.log, base)).toEqual(["CLEAR [+0x2000, +0x4000) blockable read"]);
  });
});

describe("mremap", () => {
  it("shrinking unmaps the tail: UNMAP over it, with the mmap lock downgraded to read", async () => {
    const { mm, base } = await populated(4);
    const log = await classicRecorder(mm);
    expect(await mm.mremap(base, 4 * PAGE, PAGE)).toBe(base);
    expect(starts(log, base)).toEqual(["UNMAP [+0x1000, +0x4000) blockable read"]);
  });

  it("growing in place raises nothing", async () => {
    const { mm, base } = await populated(2);
    await mm.munmap(base + PAGE, PAGE);
    const log = await classicRecorder(mm);
    expect(await mm.mremap(base, PAGE, 2 * PAGE)).toBe(base);
    expect(log).toEqual([]);
  });

  it("moving raises UNMAP over the old range while the PTEs move, then UNMAP when the old range is unmapped, write-locked", async () => {
    const { mm, base } = await populated(2);
    await mm.mmap({ addr: base + 2 * PAGE, length: PAGE, prot: PROT_READ, fixed: true });
    const log = await classicRecorder(mm);
    const old = await intervalRecorder(mm, base, PAGE);
    const to = await mm.mremap(base, 2 * PAGE, 3 * PAGE, { mayMove: true });
    expect(to).not.toBe(base);
    const moved = ["UNMAP [+0x0, +0x2000) blockable write", "UNMAP [+0x0, +0x2000) blockable write"];
    expect(starts(log, base)).toEqual(moved);
    expect(starts(old.log, base)).toEqual(moved);
  });

  it("moving to a fixed address unmaps the destination first, and a shrinking move unmaps the tail before moving the rest", async () => {
    const { mm, base } = await populated(4);
    const dest = await mm.mmap({ length: 2 * PAGE, prot: RW });
    const log = await classicRecorder(mm);
    expect(await mm.mremap(base, 4 * PAGE, 2 * PAGE, { mayMove: true, newAddr: dest })).toBe(dest);
    expect(log.filter((s) => s.op === "start").map((s) => d(s, s.start === dest ? dest : base))).toEqual([
      "UNMAP [+0x0, +0x2000) blockable write", // the destination (relative to dest)
      "UNMAP [+0x2000, +0x4000) blockable write", // the tail that does not move (mremap_to)
      "UNMAP [+0x0, +0x2000) blockable write", // move_page_tables
      "UNMAP [+0x0, +0x2000) blockable write", // the old range
    ]);
  });
});

describe("fork", () => {
  it("raises PROTECTION_PAGE on the parent over each private area holding anonymous pages, write-locked", async () => {
    const { mm, base } = await populated(2);
    // Read only: the zero page, no anon_vma. (Away from base, or it would merge with base's area.)
    const zero = await mm.mmap({ addr: base - 16 * PAGE, length: PAGE, prot: RW, fixed: true });
    await mm.read(zero, 1);
    const shared = await mm.mmap({ length: PAGE, prot: RW, shared: true });
    await mm.write(shared, pageOf(1, 1));
    const log = await classicRecorder(mm);
    const sub = await intervalRecorder(mm, base + PAGE, PAGE);
    const child = await mm.fork();
    expect(starts(log, base)).toEqual(["PROTECTION_PAGE [+0x0, +0x2000) blockable write"]);
    expect(log.every((s) => s.mm === "mm")).toBe(true);
    expect(starts(sub.log, base)).toEqual(["PROTECTION_PAGE [+0x0, +0x2000) blockable write"]);
    await child.exit();
  });

  it("a write after fork copies the page: CLEAR over that page in the writer's mm only, read-locked", async () => {
    const { k, mm, base } = await populated(2);
    const child = await mm.fork();
    const parentLog = await classicRecorder(mm);
    const childLog = await classicRecorder(child);
    await child.write(base, pageOf(1, 1));
    expect(starts(childLog, base)).toEqual(["CLEAR [+0x0, +0x1000) blockable read"]);
    expect(childLog[0]?.mm).toBe(child.name);
    await mm.write(base + PAGE, pageOf(2, 1));
    expect(starts(parentLog, base)).toEqual(["CLEAR [+0x1000, +0x2000) blockable read"]);
    // The parent's page 0 is now mapped once: the write reuses it in place, with no invalidation.
    await mm.write(base, pageOf(3, 1));
    expect(parentLog).toHaveLength(2);
    await child.exit();
    expect(k.physMem.stats().inUse).toBe(2);
  });

  it("a write to the zero page copies it: CLEAR over the page; a first write to an empty PTE raises nothing", async () => {
    const { mm } = world();
    const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
    const log = await classicRecorder(mm);
    await mm.write(a + PAGE, pageOf(1, 1));
    expect(log).toEqual([]);
    await mm.read(a, 1);
    await mm.write(a, pageOf(1, 1));
    expect(starts(log, a)).toEqual(["CLEAR [+0x0, +0x1000) blockable read"]);
  });
});

describe("reclaim", () => {
  it("raises CLEAR over each page it unmaps, holding no mmap lock, in every mm that maps the page", async () => {
    const { mm, base } = await populated(2);
    const child = await mm.fork();
    await child.write(base + PAGE, pageOf(9, 1)); // the child's own copy of page 1
    const parentLog = await classicRecorder(mm);
    const childLog = await classicRecorder(child);
    expect(await mm.reclaim(base, 2 * PAGE)).toBe(2);
    expect(starts(parentLog, base)).toEqual([
      "CLEAR [+0x0, +0x1000) blockable none",
      "CLEAR [+0x1000, +0x2000) blockable none",
    ]);
    expect(starts(childLog, base)).toEqual(["CLEAR [+0x0, +0x1000) blockable none"]);
    expect(mm.swapEntries).toBe(2);
    expect(child.swapEntries).toBe(1);
    await child.exit();
  });
});

describe("the OOM reaper", () => {
  it("raises a non-blocking UNMAP over each private area, read-locked by trylock; shared areas are left", async () => {
    const { k, mm, base } = await populated(2);
    const shared = await mm.mmap({ length: PAGE, prot: RW, shared: true });
    await mm.write(shared, pageOf(1, 1));
    const log = await classicRecorder(mm);
    expect(await mm.oomReap()).toBe(0);
    expect(starts(log, base)).toEqual(["UNMAP [+0x0, +0x2000) non-blocking read"]);
    expect(mm.rss).toBe(1);
    expect(k.physMem.stats().inUse).toBe(1);
  });

  it("skips an area whose interval notifier cannot invalidate without sleeping, and gives up when the mmap lock is busy", async () => {
    const { mm, base } = await populated(2);
    const other = await mm.mmap({ addr: base - 16 * PAGE, length: PAGE, prot: RW, fixed: true });
    await mm.write(other, pageOf(1, 1));
    const sub = await MmuIntervalNotifier.insert(mm, base, PAGE, {
      invalidate: (_s, r) => r.blockable,
    });
    expect(await mm.oomReap()).toBe(1);
    expect(mm.rss).toBe(2);
    await mm.mmapLock.downWrite();
    expect(await mm.oomReap()).toBe(-11);
    mm.mmapLock.upWrite();
    await sub.remove();
  });
});

describe("exit", () => {
  it("interval notifiers get RELEASE over everything with no mmap lock, then the UNMAP of exit_mmap read-locked; classic ones get release only", async () => {
    const { mm, base } = await populated(2);
    const log = await classicRecorder(mm);
    const sub = await intervalRecorder(mm, base, PAGE);
    let released = 0;
    await mm.notifiers.register(new MmuNotifier({ release: () => void released++ }));
    await mm.exit();
    expect(log).toEqual([]);
    expect(released).toBe(1);
    expect(sub.log.map((s) => [s.event, s.start, s.end, s.blockable, s.lock])).toEqual([
      ["RELEASE", 0, ADDRESS_SPACE_END, true, "none"],
      ["UNMAP", 0, ADDRESS_SPACE_END, true, "read"],
    ]);
    await sub.sub.remove();
  });

  it("of an mm without areas raises only RELEASE", async () => {
    const { mm } = world();
    const sub = await intervalRecorder(mm, 0, PAGE);
    await mm.exit();
    expect(sub.log.map((s) => s.event)).toEqual(["RELEASE"]);
    await sub.sub.remove();
  });
});
