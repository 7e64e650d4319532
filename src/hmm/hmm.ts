// Follows mm/hmm.c (hmm_range_fault and its page walk) and include/linux/hmm.h: what a mirror
// driver calls to learn, and fault in, the CPU's translations of a range before it maps them on its
// device.
//
// The kernel packs a page's pfn and flags into one 64-bit word. Here they live in two parallel typed
// arrays with the same meaning: `pfns` (the frame) and `flags` (a 16-bit word: the request bits on
// input, the result bits on output). The walk follows kernel-spec §4.3 rule by rule: the sequence is
// re-checked before each walk; a hole or an unreadable area is ERROR (or -EFAULT when a fault was
// requested there); a fault needs the area's permission (-EPERM for a write it lacks); a fault runs
// `faultIn` (handle_mm_fault) for the rest of the walked chunk and then restarts the walk with -EBUSY
// internally, from the page that needed it; a migration entry waits for the migration, then
// restarts; another owner's device-private page is faulted back to RAM, the caller's own is reported
// as a device page. 0 means every page's result is meaningful.

import { EAGAIN, EBUSY, EFAULT, EINVAL, EPERM } from "../lib/errno.js";
import { faultIn } from "../mm/memory.js";
import type { Mm } from "../mm/mm.js";
import {
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_WRITE,
  PTRS_PER_TABLE,
  type PteTable,
} from "../mm/pageTable.js";
import { PROT_READ, PROT_WRITE, type Vma } from "../mm/vma.js";
import type { MmuIntervalNotifier } from "../notifier/intervalNotifier.js";

/** Output: the pfn is valid (at least readable). Input: `HMM_PFN_REQ_FAULT`. */
export const HMM_PFN_VALID = 0x8000;
/** Output: writable. Input: `HMM_PFN_REQ_WRITE` (meaningful with REQ_FAULT). */
export const HMM_PFN_WRITE = 0x4000;
/** Output: not accessible; the device must fail an access. */
export const HMM_PFN_ERROR = 0x2000;
/** Sticky (kept from input to output): the driver DMA-mapped the page. */
export const HMM_PFN_DMA_MAPPED = 0x1000;
/** Sticky: a peer-to-peer DMA mapping. */
export const HMM_PFN_P2PDMA = 0x0800;
/** Sticky: a peer-to-peer DMA mapping through the bus address. */
export const HMM_PFN_P2PDMA_BUS = 0x0400;
/** The page must end up valid (readable). */
export const HMM_PFN_REQ_FAULT = HMM_PFN_VALID;
/** The page must end up writable. */
export const HMM_PFN_REQ_WRITE = HMM_PFN_WRITE;
/** The map order (log2 of the CPU mapping size in pages) sits in bits 5..9. */
export const HMM_PFN_ORDER_SHIFT = 5;
const STICKY = HMM_PFN_DMA_MAPPED | HMM_PFN_P2PDMA | HMM_PFN_P2PDMA_BUS;

/** `hmm_pfn_to_map_order()`: log2 of the size in pages of the CPU mapping a result came from. */
export function hmmPfnToMapOrder(flags: number): number {
  return (flags >>> HMM_PFN_ORDER_SHIFT) & 31;
}

/** A range to fault (kernel `struct hmm_range`). */
export interface HmmRange<M extends Mm = Mm> {
  /** The interval notifier covering the range; its mm is the one walked. */
  notifier: MmuIntervalNotifier<M>;
  /** What `notifier.readBegin()` returned for this attempt. */
  notifierSeq: number;
  /** Page-aligned start (bytes). */
  start: number;
  /** Page-aligned end, exclusive. */
  end: number;
  /** One frame per page: the result. */
  pfns: Uint32Array;
  /** One word per page: request bits on input, result bits on output (the sticky DMA bits kept). */
  flags: Uint16Array;
  /** Request bits OR-ed into every page's. */
  defaultFlags: number;
  /** Which bits of each page's own request count. */
  pfnFlagsMask: number;
  /** Device-private pages of this owner are reported (VALID, WRITE as the entry), never faulted. */
  devPrivateOwner?: unknown;
}

/** Continue the walk. */
const GO = 1;

/**
 * `hmm_range_fault()`: fills `range.pfns` / `range.flags` for `[range.start, range.end)`, faulting
 * pages as requested. The caller holds `mm.mmapLock` (read or write). Returns 0, -EBUSY (the
 * notifier's sequence moved: restart from `readBegin`), -EFAULT (a requested page cannot be made
 * valid), -EPERM (a write was requested in an area without PROT_WRITE) or -EINVAL (bad range), or a
 * promise of one of these when a fault or a migration had to wait.
 */
export function hmmRangeFault(range: HmmRange): number | Promise<number> {
  const mm = range.notifier.mm;
  const k = mm.kernel;
  k.assertHeld(mm.mmapLock);
  const ps = k.pageSize;
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(end) ||
    start % ps !== 0 ||
    end % ps !== 0 ||
    start >= end ||
    range.pfns.length < (end - start) / ps ||
    range.flags.length < (end - start) / ps
  ) {
    return -EINVAL;
  }
  const walk = new HmmWalk(range, mm);
  return walk.run();
}

/**
 * `hmm_range_fault()` as every mirroring driver calls it (nouveau, mlx5, amdgpu, test_hmm): between
 * `mmap_read_lock()` and `mmap_read_unlock()` of the range's address space. Waits for the lock (a
 * sleep: not from a non-blockable context); returns what `hmmRangeFault` returned.
 */
export async function hmmRangeFaultMmapRead(range: HmmRange): Promise<number> {
  const lk = range.notifier.mm.mmapLock;
  const p = lk.downRead();
  if (p !== undefined) await p;
  try {
    const r = hmmRangeFault(range);
    return typeof r === "number" ? r : await r;
  } finally {
    lk.upRead();
  }
}

/** One call's walk state (kernel `struct hmm_vma_walk`). */
class HmmWalk {
  private last: number;
  private readonly ps: number;
  private readonly snapshot: boolean;

  constructor(
    private readonly range: HmmRange,
    private readonly mm: Mm,
  ) {
    this.last = range.start;
    this.ps = mm.kernel.pageSize;
    this.snapshot = ((range.defaultFlags | range.pfnFlagsMask) & HMM_PFN_REQ_FAULT) === 0;
  }

  /** The loop of hmm_range_fault: check the sequence, walk, and walk again after -EBUSY. */
  run(): number | Promise<number> {
    const r = this.range;
    for (;;) {
      if (r.notifier.checkRetry(r.notifierSeq)) return -EBUSY;
      const ret = this.walk();
      if (typeof ret !== "number") return ret.then((v) => (v === -EBUSY ? this.run() : v));
      if (ret !== -EBUSY) return ret;
    }
  }

  /**
   * The request of page `i`: `(flags & mask) | default`; 0 in a pure snapshot, and 0 without
   * REQ_FAULT (REQ_WRITE alone asks for nothing, as in hmm_pte_need_fault).
   */
  private request(i: number): number {
    const r = this.range;
    if (this.snapshot) return 0;
    const req = ((r.flags[i] as number) & r.pfnFlagsMask) | r.defaultFlags;
    return req & HMM_PFN_REQ_FAULT ? req & (HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE) : 0;
  }

  /** Writes page `i`'s result, keeping its sticky bits. */
  private put(i: number, pfn: number, flags: number): void {
    const r = this.range;
    r.pfns[i] = pfn;
    r.flags[i] = ((r.flags[i] as number) & STICKY) | flags;
  }

  /** One page-table walk from `last`: 0 when every page is written, or an error / -EBUSY. */
  private walk(): number | Promise<number> {
    const { mm, range } = this;
    let addr = this.last;
    while (addr < range.end) {
      const vma = mm.vmas.find(addr);
      if (vma === undefined) {
        // A hole: up to the next area, or the end.
        const next = mm.vmas.list[mm.vmas.indexAfter(addr)];
        const to = Math.min(range.end, next === undefined ? range.end : next.start);
        const r = this.errorOrFault(addr, to);
        if (r !== GO) return r;
        addr = to;
        continue;
      }
      const to = Math.min(range.end, vma.end);
      if ((vma.prot & PROT_READ) === 0) {
        const r = this.errorOrFault(addr, to);
        if (r !== GO) return r;
      } else {
        const r = this.walkVma(vma, addr, to);
        if (r !== GO) return r;
      }
      addr = to;
    }
    return 0;
  }

  /** Pages `[from, to)` that cannot be valid: -EFAULT if any requested a fault, else ERROR. */
  private errorOrFault(from: number, to: number): number {
    const base = this.range.start;
    for (let a = from; a < to; a += this.ps) {
      if (this.request((a - base) / this.ps) !== 0) return -EFAULT;
    }
    for (let a = from; a < to; a += this.ps) this.put((a - base) / this.ps, 0, HMM_PFN_ERROR);
    return GO;
  }

  /** The PTE-level walk of `[from, to)` in a readable area, a leaf table at a time. */
  private walkVma(vma: Vma, from: number, to: number): number | Promise<number> {
    const { mm, ps, range } = this;
    const pt = mm.pageTable;
    const owner = range.devPrivateOwner;
    const pfns = range.pfns;
    const out = range.flags;
    // When no page's own bits count (the usual driver setup), every page asks the same.
    const perPage = !this.snapshot && (range.pfnFlagsMask & (HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)) !== 0;
    const same = perPage ? 0 : this.request(0);
    let vpn = from / ps;
    const endVpn = to / ps;
    const first = range.start / ps;
    while (vpn < endVpn) {
      // The walk chunk: the rest of this PMD-sized (leaf-table) span.
      const chunkEnd = Math.min(endVpn, vpn - (vpn % PTRS_PER_TABLE) + PTRS_PER_TABLE);
      const leaf: PteTable | undefined = pt.leaf(vpn);
      if (leaf === undefined) {
        // No page table here: every PTE of the chunk is empty.
        for (; vpn < chunkEnd; vpn++) {
          const req = perPage ? this.request(vpn - first) : same;
          if (req !== 0) return this.fault(vma, vpn, chunkEnd, (req & HMM_PFN_REQ_WRITE) !== 0);
          this.put(vpn - first, 0, 0);
        }
        continue;
      }
      const lf = leaf.flags;
      const lv = leaf.val;
      const base = leaf.base;
      const jEnd = chunkEnd - base;
      while (vpn < chunkEnd) {
        // The hot path, on small integer indices: present pages are reported, unless a write is asked
        // of a read-only one.
        let i = vpn - first;
        let j = vpn - base;
        for (; j < jEnd; i++, j++) {
          const fl = lf[j] as number;
          if (!(fl & PTE_PRESENT)) break;
          let res = HMM_PFN_VALID | HMM_PFN_WRITE;
          if (!(fl & PTE_WRITE)) {
            if ((perPage ? this.request(i) : same) & HMM_PFN_REQ_WRITE) break;
            res = HMM_PFN_VALID;
          }
          pfns[i] = lv[j] as number;
          out[i] = ((out[i] as number) & STICKY) | res;
        }
        vpn = base + j;
        if (vpn >= chunkEnd) break;
        // The page at vpn is not present, or needs a write fault.
        const fl = lf[j] as number;
        const req = perPage ? this.request(i) : same;
        if (fl & PTE_PRESENT) return this.fault(vma, vpn, chunkEnd, true);
        if (fl & PTE_DEVICE_PRIVATE) {
          const frame = lv[j] as number;
          if (owner !== undefined && mm.kernel.devicePrivateOwner(frame)?.owner === owner) {
            this.put(i, frame, fl & PTE_WRITE ? HMM_PFN_VALID | HMM_PFN_WRITE : HMM_PFN_VALID);
            vpn++;
            continue;
          }
        }
        if (req === 0) {
          this.put(i, 0, 0);
          vpn++;
          continue;
        }
        if (fl & PTE_MIGRATION) return this.migrationWait(vpn);
        // Empty, PROT_NONE, swap, another owner's device-private page: fault it in.
        return this.fault(vma, vpn, chunkEnd, (req & HMM_PFN_REQ_WRITE) !== 0);
      }
    }
    return GO;
  }

  /**
   * `hmm_vma_fault()`: faults every page of `[vpn, chunkEnd)` (read, or write when the first page
   * needing a fault asked for it), then -EBUSY so the walk restarts from `vpn` after a sequence check.
   */
  private fault(vma: Vma, vpn: number, chunkEnd: number, write: boolean): number | Promise<number> {
    const ps = this.ps;
    this.last = vpn * ps;
    if (write && (vma.prot & PROT_WRITE) === 0) return -EPERM;
    const mm = this.mm;
    for (let v = vpn; v < chunkEnd; v++) {
      const r = faultIn(mm, v * ps, write);
      if (typeof r !== "number")
        return r.then((x) => (x < 0 && x !== -EAGAIN ? -EFAULT : this.faultFrom(v + 1, chunkEnd, write)));
      if (r < 0 && r !== -EAGAIN) return -EFAULT;
    }
    return -EBUSY;
  }

  /** The rest of a fault chunk after a fault that waited. */
  private faultFrom(vpn: number, chunkEnd: number, write: boolean): number | Promise<number> {
    const mm = this.mm;
    for (let v = vpn; v < chunkEnd; v++) {
      const r = faultIn(mm, v * this.ps, write);
      if (typeof r !== "number")
        return r.then((x) => (x < 0 && x !== -EAGAIN ? -EFAULT : this.faultFrom(v + 1, chunkEnd, write)));
      if (r < 0 && r !== -EAGAIN) return -EFAULT;
    }
    return -EBUSY;
  }

  /** A migration entry: wait until the migration ends, then restart the walk from this page. */
  private migrationWait(vpn: number): number | Promise<number> {
    this.last = vpn * this.ps;
    const pt = this.mm.pageTable;
    const w = this.mm.kernel.migrationWait.waitEvent(() => !(pt.flagsAt(vpn) & PTE_MIGRATION));
    return w === undefined ? -EBUSY : w.then(() => -EBUSY);
  }
}
