// The three driver patterns' open and close (drivers/patterns/device.ts insertMirrorRanges and
// removeMirrorRanges): one interval notifier per range, inserted in order and removed by close; an
// open that fails on a bad range (EOVERFLOW: length 0) removes the notifiers it had inserted, and rethrows.

import { describe, expect, it } from "vitest";
import { CmdqMirror } from "../../src/drivers/patterns/cmdq.js";
import type { MirrorRangeSpec } from "../../src/drivers/patterns/device.js";
import { FenceDriver } from "../../src/drivers/patterns/fence.js";
import { PtlockMirror } from "../../src/drivers/patterns/ptlock.js";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";

const PS = 4096;

/** Each pattern's open over `specs` (its option's name differs), and what it keeps of them. */
const PATTERNS = [
  {
    name: "ptlock",
    open: (k: Kernel, mm: Mm, specs: MirrorRangeSpec[]) => PtlockMirror.open(k, mm, { ranges: specs }),
    subs: (d: PtlockMirror) => d.ranges,
  },
  {
    name: "cmdq",
    open: (k: Kernel, mm: Mm, specs: MirrorRangeSpec[]) => CmdqMirror.open(k, mm, { regions: specs }),
    subs: (d: CmdqMirror) => d.regions,
  },
  {
    name: "fence",
    open: (k: Kernel, mm: Mm, specs: MirrorRangeSpec[]) => FenceDriver.open(k, mm, { bos: specs }),
    subs: (d: FenceDriver) => d.bos,
  },
] as const;

async function process(): Promise<{ k: Kernel; mm: Mm; addr: number }> {
  const k = new Kernel();
  const mm = k.createMm({ name: "proc" });
  const addr = await mm.mmap({ length: 4 * PS, prot: PROT_READ | PROT_WRITE });
  return { k, mm, addr };
}

describe.each(PATTERNS.map((p) => [p.name, p] as const))("%s: open and close", (_name, pattern) => {
  it("inserts one notifier per range, in order, and close removes them all", async () => {
    const { k, mm, addr } = await process();
    const specs = [0, 1, 2].map((i) => ({ start: addr + i * PS, length: PS }));
    // biome-ignore lint/suspicious/noExplicitAny: the three drivers' types differ; each row pairs its own.
    const d: any = await pattern.open(k, mm, specs);
    const subs = pattern.subs(d) as { start: number; last: number }[];
    expect(subs.map((s) => [s.start, s.last])).toEqual(specs.map((s) => [s.start, s.start + PS - 1]));
    expect(mm.notifiers.itree.size).toBe(3);
    await d.close();
    expect(mm.notifiers.itree.size).toBe(0);
  });

  it("removes what it inserted when a later range is bad, and rethrows EOVERFLOW", async () => {
    const { k, mm, addr } = await process();
    const specs = [
      { start: addr, length: PS },
      { start: addr + PS, length: PS },
      { start: addr + 2 * PS, length: 0 }, // mmu_interval_notifier_insert: -EOVERFLOW
    ];
    await expect(pattern.open(k, mm, specs)).rejects.toMatchObject({ code: "EOVERFLOW" });
    expect(mm.notifiers.itree.size).toBe(0);
    // The address space is usable afterwards: a good open succeeds.
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    const d: any = await pattern.open(k, mm, [{ start: addr, length: PS }]);
    expect(mm.notifiers.itree.size).toBe(1);
    await d.close();
    expect(mm.notifiers.itree.size).toBe(0);
  });
});
