// HMM (src/hmm) and the dmirror device (src/drivers/dmirror): hmmRangeFault over a populated and over
// a cold range, and dmirror READ of 1024 pages.
//
// npm run bench -- hmm [--pages 16384]
//
//   populated, snapshot     hmmRangeFault with no request bits over a range whose every page is
//                           present and writable: the pure walk, writing every page's result
//   populated, fault        the same with HMM_PFN_REQ_FAULT | REQ_WRITE in defaultFlags (what a
//                           driver's write fault asks): every page already satisfies it, nothing
//                           faults
//   cold, read fault        REQ_FAULT over a range whose PTEs are all empty: every page is faulted
//                           (the zero page), then the walk runs again over the faulted chunk
//   cold, write fault       REQ_FAULT | REQ_WRITE over an empty range: every page gets a new frame
//                           (physical memory is warm: each round reuses the frames the previous
//                           round's dontneed freed)
//   dmirror READ, mirrored  READ of 1024 pages the device page table already maps: the copy only
//   dmirror READ, cold      READ of 1024 pages after an invalidation emptied the device page table
//                           (an mprotect that keeps the protection): one fault round of 32 chunks
//                           through the canonical loop, then the copy
//
// Each hmmRangeFault call is one readBegin, the mmap lock for read, the call, the unlock, as a driver
// makes it. Targets (issue 24): 20,000,000 pages/s populated, 1,000,000 pages/s cold.
// Direct runtime, code outside any task, lockdep and trace off: the library-use configuration.

import { parseArgs } from "node:util";
import { DmirrorDevice } from "../src/drivers/dmirror/device.js";
import { HMM_PFN_REQ_FAULT, HMM_PFN_REQ_WRITE, type HmmRange, hmmRangeFault } from "../src/hmm/hmm.js";
import { Kernel } from "../src/mm/kernel.js";
import type { Mm } from "../src/mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../src/mm/vma.js";
import { MmuIntervalNotifier } from "../src/notifier/intervalNotifier.js";
import { fmt, fmtRatio, measure, printTable } from "./harness.js";

const RW = PROT_READ | PROT_WRITE;

function kernel(): Kernel {
  return new Kernel({ runtime: "direct", lockdep: false });
}

/** An mm with `pages` mapped read-write, and a notifier over them that only records the sequence. */
async function world(pages: number): Promise<{ mm: Mm; addr: number; range: HmmRange<Mm> }> {
  const k = kernel();
  const ps = k.pageSize;
  const mm = k.createMm({ name: "bench" });
  const addr = await mm.mmap({ length: pages * ps, prot: RW });
  const notifier = await MmuIntervalNotifier.insert(mm, addr, pages * ps, {
    invalidate(sub, _range, cur) {
      sub.setSeq(cur);
      return true;
    },
  });
  const range: HmmRange<Mm> = {
    notifier,
    notifierSeq: 0,
    start: addr,
    end: addr + pages * ps,
    pfns: new Uint32Array(pages),
    flags: new Uint16Array(pages),
    defaultFlags: 0,
    pfnFlagsMask: 0,
  };
  return { mm, addr, range };
}

/** One driver-style call: readBegin, mmap read lock, hmmRangeFault, unlock; throws unless it returned 0. */
function fault(mm: Mm, range: HmmRange<Mm>): void {
  for (;;) {
    range.notifierSeq = range.notifier.readBegin() as number;
    mm.mmapLock.downRead();
    const r = hmmRangeFault(range);
    mm.mmapLock.upRead();
    if (typeof r !== "number") throw new Error("bench: hmmRangeFault waited in the direct runtime");
    if (r === 0) return;
    if (r !== -16) throw new Error(`bench: hmmRangeFault returned ${r}`);
  }
}

async function rangeFault(pages: number): Promise<string[][]> {
  const rows: string[][] = [];
  const row = (name: string, m: Awaited<ReturnType<typeof measure>>, target: number) =>
    rows.push([name, fmt(m.nsPerOp, 1), fmt(m.opsPerSec / 1e6, 2), fmtRatio(m.opsPerSec / target)]);

  const { mm, addr, range } = await world(pages);
  const ps = mm.kernel.pageSize;
  const bytes = new Uint8Array(pages * ps);
  await mm.write(addr, bytes);
  range.defaultFlags = 0;
  row(
    "populated, snapshot",
    await measure("populated snapshot", () => fault(mm, range), { opsPerCall: pages }),
    20e6,
  );
  range.defaultFlags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
  row(
    "populated, fault requested",
    await measure("populated fault", () => fault(mm, range), { opsPerCall: pages }),
    20e6,
  );

  const reset = async () => {
    await mm.madvise(addr, pages * ps, "dontneed");
  };
  range.defaultFlags = HMM_PFN_REQ_FAULT;
  row(
    "cold, read fault (zero page)",
    await measure("cold read", () => fault(mm, range), { opsPerCall: pages, beforeEach: reset }),
    1e6,
  );
  range.defaultFlags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
  row(
    "cold, write fault (new frames)",
    await measure("cold write", () => fault(mm, range), { opsPerCall: pages, beforeEach: reset }),
    1e6,
  );
  return rows;
}

async function dmirrorRead(): Promise<string[][]> {
  const k = kernel();
  const ps = k.pageSize;
  const pages = 1024;
  const mm = k.createMm({ name: "bench" });
  const addr = await mm.mmap({ length: pages * ps, prot: RW });
  await mm.write(addr, new Uint8Array(pages * ps).fill(1));
  const mirror = await new DmirrorDevice(k, { memory: "private" }).open(mm);
  const buf = new Uint8Array(pages * ps);
  const check = (r: { ret: number; faults: number }, faults: number) => {
    if (r.ret !== 0 || r.faults !== faults) throw new Error(`bench: READ gave ${JSON.stringify(r)}`);
  };
  check(await mirror.read(addr, pages, buf), 1);
  const warm = await measure(
    "dmirror read mirrored",
    async () => check(await mirror.read(addr, pages, buf), 0),
    {
      opsPerCall: pages,
    },
  );
  const cold = await measure("dmirror read cold", async () => check(await mirror.read(addr, pages, buf), 1), {
    opsPerCall: pages,
    beforeEach: async () => {
      await mm.mprotect(addr, pages * ps, RW);
    },
  });
  return [
    ["READ 1024 pages, mirrored (faults 0)", warm],
    ["READ 1024 pages, cold device PT (faults 1)", cold],
  ].map(([name, m]) => {
    const x = m as Awaited<ReturnType<typeof measure>>;
    return [name as string, fmt((x.nsPerOp * pages) / 1000, 1), fmt(x.opsPerSec / 1e6, 2)];
  });
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { pages: { type: "string" } } });
  const pages = Number(values.pages ?? 16384);
  console.log(`hmm benchmark: hmmRangeFault over ${fmt(pages)} pages, 4 KiB pages, direct runtime`);
  printTable(
    "hmmRangeFault pages/s (targets: 20,000,000/s populated, 1,000,000/s cold)",
    ["workload", "ns/page", "M pages/s", "vs target"],
    await rangeFault(pages),
  );
  printTable("dmirror READ (4 MiB)", ["workload", "µs/READ", "M pages/s"], await dmirrorRead());
}
