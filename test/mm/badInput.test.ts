// Bad arguments get the errno Linux gives and change nothing: the areas, the page tables, the frames
// and swap slots are as before. Where Linux changes part of the range before it fails (mprotect and
// madvise over a hole), the test says so.

import { describe, expect, it } from "vitest";
import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { expectBytes, PAGE, pageOf, rejection, vmaList, world } from "./helpers.js";

const RW = PROT_READ | PROT_WRITE;

/** An mm with two written private pages at `a` and a shared page at `s`. */
async function populated() {
  const { k, mm } = world();
  const a = await mm.mmap({ length: 2 * PAGE, prot: RW });
  const s = await mm.mmap({ addr: a - 16 * PAGE, length: PAGE, prot: RW, shared: true, fixed: true });
  await mm.write(a, pageOf(1, 2 * PAGE));
  await mm.write(s, pageOf(2, PAGE));
  return { k, mm, a, s };
}

function snapshot(k: Kernel, mm: Mm) {
  return {
    vmas: vmaList(mm),
    stats: k.physMem.stats(),
    rss: mm.rss,
    swap: mm.swapEntries,
    leaves: mm.pageTable.leaves,
  };
}

describe("bad arguments fail with Linux's errno and change nothing", () => {
  const cases: [string, string, (mm: Mm, a: number) => unknown][] = [
    ["munmap of an unaligned address", "EINVAL", (mm, a) => mm.munmap(a + 1, PAGE)],
    ["mprotect of an unaligned address", "EINVAL", (mm, a) => mm.mprotect(a + 1, PAGE, PROT_READ)],
    ["madvise of an unaligned address", "EINVAL", (mm, a) => mm.madvise(a + 1, PAGE, "dontneed")],
    ["mremap of an unaligned address", "EINVAL", (mm, a) => mm.mremap(a + 1, PAGE, 2 * PAGE)],
    [
      "mremap to an unaligned address",
      "EINVAL",
      (mm, a) => mm.mremap(a, PAGE, PAGE, { mayMove: true, newAddr: a - 3 * PAGE + 1 }),
    ],
    [
      "mmap fixed at an unaligned address",
      "EINVAL",
      (mm, a) => mm.mmap({ addr: a + 1, length: PAGE, prot: RW, fixed: true }),
    ],
    ["reclaim of an unaligned address", "EINVAL", (mm, a) => mm.reclaim(a + 1, PAGE)],
    ["mmap of length 0", "EINVAL", (mm) => mm.mmap({ length: 0, prot: RW })],
    ["munmap of length 0", "EINVAL", (mm, a) => mm.munmap(a, 0)],
    ["mremap to length 0", "EINVAL", (mm, a) => mm.mremap(a, PAGE, 0)],
    ["a negative length", "EINVAL", (mm, a) => mm.munmap(a, -PAGE)],
    ["a length that is not an integer", "EINVAL", (mm) => mm.mmap({ length: 1.5, prot: RW })],
    ["mmap of more than user space", "ENOMEM", (mm) => mm.mmap({ length: 2 ** 48, prot: RW })],
    ["munmap past the end of user space", "EINVAL", (mm, a) => mm.munmap(a, 2 ** 48)],
    ["mprotect of more than user space", "ENOMEM", (mm, a) => mm.mprotect(a, 2 ** 48, PROT_READ)],
    ["mremap to more than user space", "ENOMEM", (mm, a) => mm.mremap(a, PAGE, 2 ** 48, { mayMove: true })],
    ["mmap with unknown prot bits", "EINVAL", (mm) => mm.mmap({ length: PAGE, prot: 8 })],
    ["mprotect with unknown prot bits", "EINVAL", (mm, a) => mm.mprotect(a, PAGE, RW | 16)],
    [
      "mmap fixed past the end of user space",
      "ENOMEM",
      (mm) => mm.mmap({ addr: mm.taskSize, length: PAGE, prot: RW, fixed: true }),
    ],
    [
      "mmap fixed ending past user space",
      "ENOMEM",
      (mm) => mm.mmap({ addr: mm.taskSize - PAGE, length: 2 * PAGE, prot: RW, fixed: true }),
    ],
    ["mmap fixed without an address", "EINVAL", (mm) => mm.mmap({ length: PAGE, prot: RW, fixed: true })],
    [
      "mremap of an unmapped range",
      "EFAULT",
      (mm, a) => mm.mremap(a + 4 * PAGE, PAGE, 2 * PAGE, { mayMove: true }),
    ],
    [
      "mremap of a range longer than its area",
      "EFAULT",
      (mm, a) => mm.mremap(a, 3 * PAGE, 4 * PAGE, { mayMove: true }),
    ],
    ["mremap growing without room or mayMove", "ENOMEM", (mm, a) => mm.mremap(a, PAGE, 2 * PAGE)],
    [
      "mremap to a fixed address without mayMove",
      "EINVAL",
      (mm, a) => mm.mremap(a, PAGE, PAGE, { newAddr: a - 4 * PAGE }),
    ],
    [
      "mremap onto its own range",
      "EINVAL",
      (mm, a) => mm.mremap(a, 2 * PAGE, 2 * PAGE, { mayMove: true, newAddr: a + PAGE }),
    ],
    ["mprotect starting in a hole", "ENOMEM", (mm, a) => mm.mprotect(a - PAGE, 2 * PAGE, PROT_READ)],
    ["madvise with unknown advice", "EINVAL", (mm, a) => mm.madvise(a, PAGE, "cold" as "dontneed")],
    [
      "write of something that is not bytes",
      "EINVAL",
      (mm, a) => mm.write(a, [1, 2] as unknown as Uint8Array),
    ],
    ["read32 of an unaligned address", "EINVAL", (mm, a) => mm.read32(a + 2)],
    ["a CPU read of an unmapped address (SIGSEGV)", "EFAULT", (mm, a) => mm.read(a + 2 * PAGE, 1)],
    [
      "a CPU write to a read-only mapping (SIGSEGV)",
      "EFAULT",
      async (mm, a) => {
        await mm.mprotect(a, 2 * PAGE, PROT_READ);
        await mm.write32(a, 9);
      },
    ],
  ];
  for (const [what, code, call] of cases) {
    it(`${what}: ${code}`, async () => {
      const { k, mm, a } = await populated();
      const before = snapshot(k, mm);
      const e = await rejection(() => call(mm, a));
      expect(e.code).toBe(code);
      if (what.includes("read-only")) await mm.mprotect(a, 2 * PAGE, RW);
      expect(snapshot(k, mm)).toEqual(before);
      expectBytes(await mm.read(a, 2 * PAGE), pageOf(1, 2 * PAGE));
    });
  }

  it("mprotect and madvise of length 0 succeed without looking at the range or the protection", async () => {
    const { k, mm, a } = await populated();
    const before = snapshot(k, mm);
    await mm.mprotect(a + 64 * PAGE, 0, 0xff);
    await mm.madvise(a + 64 * PAGE, 0, "dontneed");
    expect(snapshot(k, mm)).toEqual(before);
  });
});

describe("a range with a hole", () => {
  it("mprotect changes the areas before the hole, then fails with ENOMEM (do_mprotect_pkey)", async () => {
    const { mm, a, s } = await populated();
    const e = await rejection(() => mm.mprotect(s, 17 * PAGE, PROT_READ));
    expect(e.code).toBe("ENOMEM");
    expect(vmaList(mm, s)).toEqual(["[+0x0, +0x1000) 1s", "[+0x10000, +0x12000) 3p"]);
    expect((await rejection(() => mm.write32(s, 1))).code).toBe("EFAULT");
    await mm.write32(a, 1);
  });

  it("mprotect of a range running past the last area changes it all, then fails with ENOMEM", async () => {
    const { mm, a } = await populated();
    const e = await rejection(() => mm.mprotect(a, 4 * PAGE, PROT_NONE));
    expect(e.code).toBe("ENOMEM");
    expect(mm.vmas.find(a)?.prot).toBe(PROT_NONE);
  });

  it("madvise(dontneed) zaps every mapped part, then fails with ENOMEM", async () => {
    const { k, mm, a, s } = await populated();
    const e = await rejection(() => mm.madvise(s, 18 * PAGE, "dontneed"));
    expect(e.code).toBe("ENOMEM");
    expectBytes(await mm.read(a, 2 * PAGE), new Uint8Array(2 * PAGE));
    expectBytes(await mm.read(s, PAGE), pageOf(2));
    expect(k.physMem.stats().inUse).toBe(1);
  });
});

describe("an mm after exit", () => {
  it("refuses every call with EFAULT and changes nothing", async () => {
    const { k, mm, a } = await populated();
    await mm.exit();
    const before = snapshot(k, mm);
    const calls: (() => unknown)[] = [
      () => mm.mmap({ length: PAGE, prot: RW }),
      () => mm.munmap(a, PAGE),
      () => mm.mprotect(a, PAGE, PROT_READ),
      () => mm.madvise(a, PAGE, "dontneed"),
      () => mm.mremap(a, PAGE, 2 * PAGE, { mayMove: true }),
      () => mm.fork(),
      () => mm.reclaim(a, PAGE),
      () => mm.read(a, 1),
      () => mm.write(a, pageOf(1, 1)),
      () => mm.read32(a),
      () => mm.write32(a, 1),
    ];
    for (const call of calls) expect((await rejection(call)).code).toBe("EFAULT");
    expect(await mm.oomReap()).toBe(0);
    await expect(mm.exit()).rejects.toMatchObject({ code: "EINVAL" });
    expect(snapshot(k, mm)).toEqual(before);
    expect(before).toMatchObject({ vmas: [], rss: 0, leaves: 0, stats: { inUse: 0 } });
  });
});
