// The simulated address space (src/mm): faults, page-table lookups, munmap and fork, and the metadata
// a mapped page costs.
//
// npm run bench -- mm [--pages 16384]
//
//   write fault     mm.write32 to a page never touched: a CPU write fault that allocates a frame, maps
//                   it, and writes the word into its contents (physical memory is warm: each round
//                   reuses the frames and contents slots the previous round's dontneed freed, as a
//                   machine's RAM exists before a process faults it)
//   faultIn write   faultIn(mm, addr, true) with the mmap lock held (what hmm_range_fault calls): the
//                   same fault without the CPU access around it
//   read fault      mm.read32 of a page never touched: maps the shared zero page
//   lookup          the PTE of a page of a populated 256 MiB range, in address order and in random
//                   order; beside a Map keyed by page number (a hash page table) in the same run
//   munmap 1 GiB    munmap of a populated 1 GiB range (262,144 PTEs, one UNMAP invalidation)
//   fork 256 MiB    fork of an mm with 256 MiB populated (65,536 PTEs write-protected and shared)
// and bytes of metadata per mapped page: frame metadata (refcount, mapcount, state, contents slot,
// rmap), page tables, VMAs; measured (heap + ArrayBuffer growth after gc) and counted from the shape.
//
// Targets (issue: the simulated address space): 1,000,000 faults/s, 20,000,000 lookups/s, 72 bytes of
// metadata per mapped page (Linux: a 64-byte struct page and an 8-byte PTE), contents aside.
// Direct runtime, code outside any task, lockdep and trace off: the library-use configuration.

import { parseArgs } from "node:util";
import { Rng } from "../src/lib/rng.js";
import { Kernel } from "../src/mm/kernel.js";
import { faultIn } from "../src/mm/memory.js";
import type { Mm } from "../src/mm/mm.js";
import { PhysMem } from "../src/mm/physMem.js";
import { PROT_READ, PROT_WRITE } from "../src/mm/vma.js";
import { fmt, fmtRatio, gc, measure, memoryInUse, printTable } from "./harness.js";

const RW = PROT_READ | PROT_WRITE;

function kernel(): Kernel {
  return new Kernel({ runtime: "direct", lockdep: false });
}

async function populate(mm: Mm, addr: number, pages: number, ps: number): Promise<void> {
  const lk = mm.mmapLock;
  const p = lk.downRead();
  if (p) await p;
  for (let i = 0; i < pages; i++) {
    const r = faultIn(mm, addr + i * ps, true);
    if (typeof r !== "number") await r;
  }
  lk.upRead();
}

async function faults(pages: number): Promise<string[][]> {
  const k = kernel();
  const ps = k.pageSize;
  const mm = k.createMm({ name: "bench" });
  const len = pages * ps;
  const a = await mm.mmap({ length: len, prot: RW });
  const reset = async () => {
    await mm.madvise(a, len, "dontneed");
  };
  // Warm the machine's memory once: frames and contents slots exist, as RAM does.
  for (let i = 0; i < pages; i++) {
    const r = mm.write32(a + i * ps, i);
    if (r) await r;
  }
  await reset();
  const write = await measure(
    "write fault",
    () => {
      for (let i = 0; i < pages; i++) mm.write32(a + i * ps, i);
    },
    { opsPerCall: pages, beforeEach: reset },
  );
  const fin = await measure(
    "faultIn write",
    () => {
      mm.mmapLock.downRead();
      for (let i = 0; i < pages; i++) faultIn(mm, a + i * ps, true);
      mm.mmapLock.upRead();
    },
    { opsPerCall: pages, beforeEach: reset },
  );
  const read = await measure(
    "read fault",
    () => {
      for (let i = 0; i < pages; i++) mm.read32(a + i * ps);
    },
    { opsPerCall: pages, beforeEach: reset },
  );
  const stats = k.physMem.stats();
  if (stats.inUse !== 0) throw new Error(`bench: ${stats.inUse} frames left in use after dontneed`);
  const target = 1_000_000;
  return [write, fin, read].map((m, i) => [
    ["write fault (mm.write32)", "faultIn write", "read fault (mm.read32, zero page)"][i] as string,
    fmt(m.nsPerOp, 0),
    fmt(m.opsPerSec / 1e6, 2),
    fmtRatio(m.opsPerSec / target),
  ]);
}

async function lookups(): Promise<string[][]> {
  const k = kernel();
  const ps = k.pageSize;
  const mm = k.createMm({ name: "bench" });
  const pages = (256 * 2 ** 20) / ps;
  const a = await mm.mmap({ length: pages * ps, prot: RW });
  await populate(mm, a, pages, ps);
  const base = a / ps;
  const pt = mm.pageTable;
  const order = new Float64Array(1 << 16);
  const rng = new Rng(7);
  for (let i = 0; i < order.length; i++) order[i] = base + rng.int(pages);
  const map = new Map<number, number>();
  for (let i = 0; i < pages; i++) map.set(base + i, pt.valAt(base + i));
  let sink = 0;
  const batch = 1 << 16;
  const seq = await measure(
    "lookup sequential",
    () => {
      for (let i = 0; i < batch; i++) sink += pt.valAt(base + (i % pages));
    },
    { opsPerCall: batch },
  );
  const rnd = await measure(
    "lookup random",
    () => {
      for (let i = 0; i < batch; i++) sink += pt.valAt(order[i] as number);
    },
    { opsPerCall: batch },
  );
  const mapSeq = await measure(
    "map sequential",
    () => {
      for (let i = 0; i < batch; i++) sink += map.get(base + (i % pages)) as number;
    },
    { opsPerCall: batch },
  );
  const mapRnd = await measure(
    "map random",
    () => {
      for (let i = 0; i < batch; i++) sink += map.get(order[i] as number) as number;
    },
    { opsPerCall: batch },
  );
  if (sink === 0) throw new Error("bench: lookups found nothing");
  const target = 20_000_000;
  return [
    ["lookup, address order", seq, mapSeq],
    ["lookup, random order", rnd, mapRnd],
  ].map(([name, ours, peer]) => {
    const o = ours as Awaited<ReturnType<typeof measure>>;
    const p = peer as Awaited<ReturnType<typeof measure>>;
    return [
      name as string,
      fmt(o.nsPerOp, 1),
      fmt(o.opsPerSec / 1e6, 1),
      fmtRatio(o.opsPerSec / target),
      `${fmt(p.nsPerOp, 1)} (${fmtRatio(o.opsPerSec / p.opsPerSec)})`,
    ];
  });
}

async function bulk(): Promise<string[][]> {
  const rows: string[][] = [];
  const GiB = 2 ** 30;
  for (const [name, bytes, op] of [
    ["munmap 1 GiB populated", GiB, "munmap"],
    ["fork 256 MiB populated", 256 * 2 ** 20, "fork"],
  ] as const) {
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const k = kernel();
      const ps = k.pageSize;
      const mm = k.createMm({ name: "bench" });
      const a = await mm.mmap({ length: bytes, prot: RW });
      await populate(mm, a, bytes / ps, ps);
      gc();
      const t0 = performance.now();
      if (op === "munmap") await mm.munmap(a, bytes);
      else {
        const child = await mm.fork();
        times.push(performance.now() - t0);
        await child.exit();
        await mm.exit();
        continue;
      }
      times.push(performance.now() - t0);
      await mm.exit();
    }
    const best = Math.min(...times);
    const pages = bytes / 4096;
    rows.push([name, fmt(best, 1), fmt((best * 1e6) / pages, 0)]);
  }
  return rows;
}

async function metadata(): Promise<string[][]> {
  const k = kernel();
  const ps = k.pageSize;
  const pages = (256 * 2 ** 20) / ps;
  const before = memoryInUse();
  const mm = k.createMm({ name: "bench" });
  const a = await mm.mmap({ length: pages * ps, prot: RW });
  await populate(mm, a, pages, ps);
  const after = memoryInUse();
  const stats = k.physMem.stats();
  const counted = PhysMem.METADATA_BYTES_PER_FRAME + mm.pageTable.bytes() / pages;
  const measured = (after - before) / pages;
  if (stats.withData !== 0) throw new Error("bench: metadata run holds contents");
  return [
    ["measured (heap + ArrayBuffers)", fmt(measured, 1), measured <= 72 ? "ok" : "over"],
    ["counted: frame metadata + page tables", fmt(counted, 1), counted <= 72 ? "ok" : "over"],
  ];
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { pages: { type: "string" } } });
  const pages = Number(values.pages ?? 16384);
  console.log(`mm benchmark: ${fmt(pages)} pages per fault round, 4 KiB pages, direct runtime`);
  printTable(
    `faults (target 1,000,000/s; ${fmt(pages)} fresh pages per round)`,
    ["workload", "ns/op", "M/s", "vs target"],
    await faults(pages),
  );
  printTable(
    "page-table lookups on a populated 256 MiB range (target 20,000,000/s)",
    ["workload", "ns/op", "M/s", "vs target", "Map<vpn> ns (ours vs Map)"],
    await lookups(),
  );
  printTable("bulk operations (best of 3)", ["workload", "ms", "ns/page"], await bulk());
  printTable(
    "metadata per mapped page, 256 MiB populated, no contents (target at most 72 bytes)",
    ["how", "bytes/page", ""],
    await metadata(),
  );
}
