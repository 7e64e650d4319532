// hmmRangeFault (src/hmm/hmm.ts, kernel mm/hmm.c) rule by rule (kernel-spec §4.3), and against a
// brute-force model of what it must report and return over random layouts and requests.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  HMM_PFN_DMA_MAPPED,
  HMM_PFN_ERROR,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmRangeFault,
} from "../../src/hmm/hmm.js";
import { EBUSY, EFAULT, EINVAL, EPERM } from "../../src/lib/errno.js";
import { folioUnlock } from "../../src/mm/filemap.js";
import { Kernel } from "../../src/mm/kernel.js";
import { MEMORY_DEVICE_PRIVATE, memremapPages, zoneDevicePageInit } from "../../src/mm/memremap.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_PRIVATE, PTE_MIGRATION, PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { ZERO_FRAME } from "../../src/mm/physMem.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../../src/notifier/range.js";

const PS = 4096;
const RW = PROT_READ | PROT_WRITE;
const RESULT = HMM_PFN_VALID | HMM_PFN_WRITE | HMM_PFN_ERROR;

/** A kernel, an mm, and a notifier over `[base, base + pages)` that records the sequence. */
async function world(base: number, pages: number): Promise<{ k: Kernel; mm: Mm; range: HmmRange<Mm> }> {
  const k = new Kernel();
  const mm = k.createMm({ name: "proc" });
  const notifier = await MmuIntervalNotifier.insert(mm, base, pages * PS, {
    invalidate(sub, _r, cur) {
      sub.setSeq(cur);
      return true;
    },
  });
  const range: HmmRange<Mm> = {
    notifier,
    notifierSeq: 0,
    start: base,
    end: base + pages * PS,
    pfns: new Uint32Array(pages),
    flags: new Uint16Array(pages),
    defaultFlags: 0,
    pfnFlagsMask: 0,
  };
  return { k, mm, range };
}

/** readBegin, the mmap lock for read, hmmRangeFault; retried on -EBUSY unless `once`. */
async function fault(mm: Mm, range: HmmRange<Mm>, once = false): Promise<number> {
  for (;;) {
    range.notifierSeq = await range.notifier.readBegin();
    await mm.mmapLock.downRead();
    const r = await hmmRangeFault(range);
    mm.mmapLock.upRead();
    if (r !== -EBUSY || once) return r;
  }
}

const results = (range: HmmRange<Mm>) => [...range.flags].map((f) => f & RESULT);

describe("hmmRangeFault, rule by rule", () => {
  it("a snapshot reports holes and unreadable areas as ERROR, empty PTEs as 0, and faults nothing", async () => {
    const base = 0x100000;
    const { mm, range } = await world(base, 6);
    await mm.mmap({ addr: base + PS, length: 5 * PS, prot: RW, fixed: true });
    await mm.mprotect(base + PS, PS, PROT_NONE);
    await mm.write32(base + 3 * PS, 7);
    await mm.read32(base + 4 * PS);
    await mm.mprotect(base + 5 * PS, PS, PROT_READ);
    const rss = mm.rss;
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([
      HMM_PFN_ERROR, // no area
      HMM_PFN_ERROR, // PROT_NONE
      0, // empty PTE
      HMM_PFN_VALID | HMM_PFN_WRITE, // written
      HMM_PFN_VALID, // the zero page
      0, // read-only area, empty PTE
    ]);
    expect(range.pfns[4]).toBe(ZERO_FRAME);
    expect(mm.rss).toBe(rss);
  });

  it("with a fault requested: -EFAULT over a hole or an unreadable area, -EPERM for a write it lacks", async () => {
    const base = 0x200000;
    const { mm, range } = await world(base, 2);
    range.defaultFlags = HMM_PFN_REQ_FAULT;
    expect(await fault(mm, range)).toBe(-EFAULT);
    await mm.mmap({ addr: base, length: 2 * PS, prot: PROT_NONE, fixed: true });
    expect(await fault(mm, range)).toBe(-EFAULT);
    await mm.mprotect(base, 2 * PS, PROT_READ);
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([HMM_PFN_VALID, HMM_PFN_VALID]);
    range.defaultFlags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    expect(await fault(mm, range)).toBe(-EPERM);
  });

  it("rejects a bad range with -EINVAL", async () => {
    const { mm, range } = await world(0x300000, 2);
    await mm.mmapLock.downRead();
    expect(hmmRangeFault({ ...range, start: range.start + 1 })).toBe(-EINVAL);
    expect(hmmRangeFault({ ...range, end: range.start })).toBe(-EINVAL);
    expect(hmmRangeFault({ ...range, pfns: new Uint32Array(1) })).toBe(-EINVAL);
    mm.mmapLock.upRead();
  });

  it("returns -EBUSY, faulting nothing, when the sequence moved since readBegin", async () => {
    const base = 0x400000;
    const { mm, range } = await world(base, 1);
    await mm.mmap({ addr: base, length: PS, prot: RW, fixed: true });
    range.defaultFlags = HMM_PFN_REQ_FAULT;
    range.notifierSeq = await range.notifier.readBegin();
    const r = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, base, base + PS);
    await mm.notifiers.invalidateRangeStart(r);
    await mm.notifiers.invalidateRangeEnd(r);
    await mm.mmapLock.downRead();
    expect(await hmmRangeFault(range)).toBe(-EBUSY);
    mm.mmapLock.upRead();
    expect(mm.pageTable.flagsAt(base / PS)).toBe(0);
  });

  it("honours each page's own request through pfnFlagsMask; REQ_WRITE without REQ_FAULT asks nothing", async () => {
    const base = 0x500000;
    const { mm, range } = await world(base, 3);
    await mm.mmap({ addr: base, length: 3 * PS, prot: RW, fixed: true });
    range.pfnFlagsMask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    await mm.write32(base + 2 * PS, 1);
    await mm.mprotect(base, 3 * PS, PROT_READ);
    await mm.mprotect(base, 3 * PS, RW);
    // Page 2 is present read-only; asking it for REQ_WRITE alone must not fault it.
    range.flags.set([0, 0, HMM_PFN_REQ_WRITE]);
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([0, 0, HMM_PFN_VALID]);
    range.flags.set([0, 0, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE]);
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)[2]).toBe(HMM_PFN_VALID | HMM_PFN_WRITE);
  });

  it("faults the rest of the walked chunk with the first faulting page's access, neighbours included", async () => {
    const base = 0x600000;
    const { mm, range } = await world(base, 4);
    await mm.mmap({ addr: base, length: 4 * PS, prot: RW, fixed: true });
    range.pfnFlagsMask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    range.flags.set([HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE, 0, 0, 0]);
    expect(await fault(mm, range)).toBe(0);
    // Pages 1-3 asked nothing, but were write-faulted with page 0: the walk reports them.
    expect(results(range)).toEqual(Array(4).fill(HMM_PFN_VALID | HMM_PFN_WRITE));
  });

  it("keeps the sticky DMA bits of every page it writes", async () => {
    const base = 0x700000;
    const { mm, range } = await world(base, 2);
    await mm.mmap({ addr: base, length: 2 * PS, prot: RW, fixed: true });
    range.flags.set([HMM_PFN_DMA_MAPPED, 0]);
    expect(await fault(mm, range)).toBe(0);
    expect([...range.flags]).toEqual([HMM_PFN_DMA_MAPPED, 0]);
  });

  it("a write fault on the zero page copies it, which invalidates the caller's own range: -EBUSY, then success", async () => {
    const base = 0x800000;
    const { mm, range } = await world(base, 1);
    await mm.mmap({ addr: base, length: PS, prot: RW, fixed: true });
    await mm.read32(base);
    range.defaultFlags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    expect(await fault(mm, range, true)).toBe(-EBUSY);
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(range.pfns[0]).not.toBe(ZERO_FRAME);
  });

  it("reports a swapped-out page as 0 in a snapshot and swaps it in when a fault is requested", async () => {
    const base = 0x900000;
    const { mm, range } = await world(base, 1);
    await mm.mmap({ addr: base, length: PS, prot: RW, fixed: true });
    await mm.write32(base, 42);
    expect(await mm.reclaim(base, PS)).toBe(1);
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([0]);
    range.defaultFlags = HMM_PFN_REQ_FAULT;
    expect(await fault(mm, range)).toBe(0);
    expect(results(range)).toEqual([HMM_PFN_VALID]);
    expect(mm.kernel.physMem.read32(range.pfns[0] as number, 0)).toBe(42);
  });

  it("reports the caller's device-private page as a device page and faults another owner's back", async () => {
    const base = 0xa00000;
    const { k, mm, range } = await world(base, 1);
    await mm.mmap({ addr: base, length: PS, prot: RW, fixed: true });
    const mine = { name: "mine" };
    const calls: number[] = [];
    const pagemap = memremapPages(k, {
      type: MEMORY_DEVICE_PRIVATE,
      owner: mine,
      nr: 4,
      ops: {
        migrateToRam: (_p, _mm, addr) => {
          calls.push(addr);
          return -EFAULT;
        },
      },
    });
    const devFrame = pagemap.first;
    zoneDevicePageInit(pagemap, devFrame);
    folioUnlock(k, devFrame);
    mm.pageTable.set(base / PS, devFrame, PTE_DEVICE_PRIVATE | PTE_WRITE);
    range.defaultFlags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
    range.devPrivateOwner = mine;
    expect(await fault(mm, range)).toBe(0);
    expect([range.pfns[0], results(range)[0]]).toEqual([devFrame, HMM_PFN_VALID | HMM_PFN_WRITE]);
    expect(calls).toEqual([]);
    range.devPrivateOwner = { name: "someone else" };
    expect(await fault(mm, range)).toBe(-EFAULT);
    expect(calls).toEqual([base]);
    mm.pageTable.set(base / PS, 0, 0);
    k.physMem.put(devFrame);
    expect(pagemap.pagesInUse).toBe(0);
  });

  it("waits on a migration entry until the migration ends, then walks again", async () => {
    const base = 0xb00000;
    const { k, mm, range } = await world(base, 1);
    await mm.mmap({ addr: base, length: PS, prot: RW, fixed: true });
    await mm.write32(base, 5);
    const vpn = base / PS;
    const frame = mm.pageTable.valAt(vpn);
    const pteFlags = mm.pageTable.flagsAt(vpn);
    mm.pageTable.set(vpn, frame, PTE_MIGRATION | PTE_WRITE);
    range.defaultFlags = HMM_PFN_REQ_FAULT;
    let done = false;
    const p = fault(mm, range).then((r) => {
      done = true;
      return r;
    });
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(done).toBe(false);
    mm.pageTable.set(vpn, frame, pteFlags);
    k.migrationWait.wakeUpAll();
    expect(await p).toBe(0);
    expect([range.pfns[0], results(range)[0]]).toEqual([frame, HMM_PFN_VALID | HMM_PFN_WRITE]);
  });
});

/** A page of a random layout: no area, or an area with a prot holding an untouched, zero or written page. */
type Page = { area: false } | { area: true; prot: number; state: "empty" | "zero" | "written" };

const pageArb: fc.Arbitrary<Page> = fc.oneof(
  fc.constant<Page>({ area: false }),
  fc.record({
    area: fc.constant(true as const),
    prot: fc.constantFrom(PROT_NONE, PROT_READ, RW),
    state: fc.constantFrom("empty" as const, "zero" as const, "written" as const),
  }),
);
const requestArb = fc.constantFrom(
  0,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
  HMM_PFN_REQ_WRITE,
);

/** What hmmRangeFault must return for `pages` and per-page requests (the first offending page decides). */
function modelRet(pages: Page[], req: number[]): number {
  for (const [i, p] of pages.entries()) {
    const r = req[i] as number;
    if (!(r & HMM_PFN_REQ_FAULT)) continue;
    if (!p.area || !(p.prot & PROT_READ)) return -EFAULT;
    if (r & HMM_PFN_REQ_WRITE && !(p.prot & PROT_WRITE)) return -EPERM;
  }
  return 0;
}

describe("hmmRangeFault against a model (fast-check, seed 24)", () => {
  it("returns what the first offending page dictates, and on success reports each page as its PTE now is", async () => {
    const base = 0x40000000;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(pageArb, requestArb), { minLength: 1, maxLength: 10 }),
        async (spec) => {
          const pages = spec.map(([p]) => p);
          const req = spec.map(([, r]) => r);
          const { mm, range } = await world(base, pages.length);
          range.pfns = new Uint32Array(pages.length);
          range.flags = Uint16Array.from(req);
          range.pfnFlagsMask = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
          for (const [i, p] of pages.entries()) {
            if (!p.area) continue;
            const a = base + i * PS;
            await mm.mmap({ addr: a, length: PS, prot: RW, fixed: true });
            if (p.state === "written") await mm.write32(a, i + 1);
            if (p.state === "zero") await mm.read32(a);
            if (p.prot !== RW) await mm.mprotect(a, PS, p.prot);
          }
          const ret = await fault(mm, range);
          expect(ret).toBe(modelRet(pages, req));
          if (ret !== 0) return;
          for (const [i, p] of pages.entries()) {
            const got = (range.flags[i] as number) & RESULT;
            const r = req[i] as number;
            if (!p.area || !(p.prot & PROT_READ)) {
              expect(got, `page ${i}`).toBe(HMM_PFN_ERROR);
              continue;
            }
            const fl = mm.pageTable.flagsAt((base + i * PS) / PS);
            const cpu = fl & PTE_PRESENT ? HMM_PFN_VALID | (fl & PTE_WRITE ? HMM_PFN_WRITE : 0) : 0;
            expect(got, `page ${i}`).toBe(cpu);
            if (cpu !== 0) expect(range.pfns[i]).toBe(mm.pageTable.valAt((base + i * PS) / PS));
            if (r & HMM_PFN_REQ_FAULT) expect(got & HMM_PFN_VALID, `page ${i} requested`).toBe(HMM_PFN_VALID);
            if (r & HMM_PFN_REQ_FAULT && r & HMM_PFN_REQ_WRITE)
              expect(got & HMM_PFN_WRITE).toBe(HMM_PFN_WRITE);
          }
        },
      ),
      { seed: 24, numRuns: 300 },
    );
  });
});
