// The pre-2019 hmm_mirror scheme (kernel-spec §6.4 bug 1), as a driver would use it: instead of a
// sequence count, each fault registers a range with a `valid` flag; a classic notifier clears it at
// invalidate start (and zaps the device) and sets it again at invalidate end, once no invalidation
// is in flight; the fault waits for `valid`, snapshots the CPU's pages, and programs the device if
// `valid` still holds under its lock. One mistake, the scheme itself: a whole start/end pair that
// runs between the snapshot and the check leaves `valid` true (ABA), and the stale snapshot is
// programmed.
//
// Seen: mm/hmm.c's hmm_range->valid and hmm_range_valid() until the 2019 consolidation replaced them
// with mmu_interval_notifier's sequence count (kernel-spec §6.4 bug 1, §7).
// Found as: stale-mapping (the device maps a frame the CPU no longer has there).

import { EAGAIN, EFAULT, EPERM } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Kernel } from "../../mm/kernel.js";
import { faultIn } from "../../mm/memory.js";
import type { Mm } from "../../mm/mm.js";
import { PTE_PRESENT, PTE_WRITE } from "../../mm/pageTable.js";
import { PROT_WRITE } from "../../mm/vma.js";
import { MmuNotifier } from "../../notifier/classicNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";
import type { WaitQueue } from "../../sync/waitQueue.js";
import type { MirrorRangeSpec } from "../patterns/device.js";

/** A fault in flight (`struct hmm_range` of 2019): its pages and its validity. */
interface LegacyRange {
  start: number;
  end: number;
  valid: boolean;
}

export class ValidFlag {
  readonly pt: DevicePageTable;
  readonly lock: Mutex;
  /** Invalidations in flight (`hmm->notifiers`). */
  private notifiers = 0;
  private readonly ranges = new Set<LegacyRange>();
  private readonly wq: WaitQueue;
  private readonly mirror: MmuNotifier;
  private mirrored: MirrorRangeSpec[] = [];

  constructor(
    readonly kernel: Kernel,
    readonly mm: Mm,
  ) {
    this.pt = kernel.devicePageTable("gpu");
    this.lock = kernel.mutex("gpu_pt_mutex");
    this.wq = kernel.waitQueue("hmm range valid");
    this.mirror = new MmuNotifier({
      name: "hmm mirror",
      invalidateRangeStart: (_n, r) => this.start(r),
      invalidateRangeEnd: (_n, r) => this.end(r),
    });
  }

  /** `hmm_mirror_register()` over `options.ranges`. Pairs with `close`. */
  static async open(kernel: Kernel, mm: Mm, options: { ranges: MirrorRangeSpec[] }): Promise<ValidFlag> {
    const d = new ValidFlag(kernel, mm);
    d.mirrored = options.ranges;
    await mm.notifiers.register(d.mirror);
    return d;
  }

  /** Drops the device's translations, then unregisters. */
  async close(): Promise<void> {
    const l = this.lock.lock();
    if (l !== undefined) await l;
    this.pt.unmapAll(this.mm);
    this.lock.unlock();
    await this.mm.notifiers.unregister(this.mirror);
  }

  /** hmm_invalidate_range_start: the ranges in flight become invalid; the device is zapped. */
  private async start(r: MmuNotifierRange): Promise<number> {
    this.notifiers++;
    for (const range of this.ranges) if (range.start < r.end && r.start < range.end) range.valid = false;
    const p = this.lock.lock();
    if (p !== undefined) await p;
    this.pt.unmapRange(this.mm, r.start, r.end);
    this.lock.unlock();
    return 0;
  }

  /** hmm_invalidate_range_end: once no invalidation is in flight, every range is valid again. */
  private end(_r: MmuNotifierRange): void {
    if (--this.notifiers !== 0) return;
    for (const range of this.ranges) range.valid = true;
    this.wq.wakeUpAll();
  }

  /** The 2019 fault path: register the range, wait until valid, snapshot, check `valid` under the lock. */
  async fault(addr: number, write: boolean): Promise<number> {
    const k = this.kernel;
    const ps = k.pageSize;
    const spec = this.mirrored.find((m) => addr >= m.start && addr < m.start + m.length);
    if (spec === undefined) return -EFAULT;
    const start = addr - (addr % ps);
    const range: LegacyRange = { start, end: spec.start + spec.length, valid: this.notifiers === 0 };
    this.ranges.add(range);
    try {
      for (;;) {
        const w = this.wq.waitEvent(() => range.valid);
        if (w !== undefined) await w;
        const snap = await this.snapshot(range, write);
        if (snap === -EAGAIN) continue;
        if (typeof snap === "number") return snap;
        const l = this.lock.lock();
        if (l !== undefined) await l;
        // BUG (the scheme): true again after a whole start/end pair ran since the snapshot.
        if (!range.valid) {
          this.lock.unlock();
          continue;
        }
        for (const [a, frame, w] of snap) this.pt.map(this.mm, a, frame, { write: w });
        this.lock.unlock();
        return 0;
      }
    } finally {
      this.ranges.delete(range);
    }
  }

  /** The 2019 hmm_range_fault: faults each page in and reads its PTE, under the mmap read lock. */
  private async snapshot(range: LegacyRange, write: boolean): Promise<[number, number, boolean][] | number> {
    const mm = this.mm;
    const ps = this.kernel.pageSize;
    const lk = mm.mmapLock;
    const p = lk.downRead();
    if (p !== undefined) await p;
    try {
      const out: [number, number, boolean][] = [];
      for (let a = range.start; a < range.end; a += ps) {
        const vma = mm.vmas.find(a);
        if (vma === undefined) return -EFAULT;
        if (write && (vma.prot & PROT_WRITE) === 0) return -EPERM;
        let r = faultIn(mm, a, write);
        if (typeof r !== "number") r = await r;
        if (r < 0 && r !== -EAGAIN) return r;
        const fl = mm.pageTable.flagsAt(a / ps);
        if (!(fl & PTE_PRESENT)) return -EAGAIN;
        out.push([a, mm.pageTable.valAt(a / ps), (fl & PTE_WRITE) !== 0]);
      }
      return out;
    } finally {
      lk.upRead();
    }
  }

  toString(): string {
    return `legacy hmm mirror ${this.pt.name} of ${this.mm.name}`;
  }
}
