// Follows the collision-retry loop with a driver page-table lock (kernel-spec §5.a):
// drivers/gpu/drm/nouveau/nouveau_svm.c (nouveau_range_fault, nouveau_svm_range_invalidate) and
// lib/test_hmm.c. One driver mutex protects the device page table; every mirrored range has its own
// interval notifier, and all of them share that mutex (nouveau: one GPU page table, many ranges of
// the address space; the 2019 thread, reference/000_fdc4474da060c8f9.txt).
//
//   fault (the device missed a translation)            invalidate (the mm is about to change PTEs)
//   --------------------------------------------       ----------------------------------------------
//   mmgetNotZero; deadline = now + 1000 ms             MIGRATE/EXCLUSIVE of this driver: return true
//   loop: past the deadline -> -EBUSY                  blockable: lock; else trylock, or return false
//     seq = readBegin()  (pairs with readRetry)        setSeq(curSeq)   (pairs with readRetry)
//     mmap read lock; hmmRangeFault; unlock            zap the device PTEs of the range's part that
//       -EBUSY: again; another error: return it          this notifier covers
//     lock; readRetry(seq): unlock, again              unlock; return true
//     program the device PTEs; flush the device TLB
//     unlock
//   mmput
//
// The lock it relies on: the driver mutex. readRetry under it and setSeq under it cannot interleave,
// so either the callback's setSeq came first (readRetry is true: the pages may be stale, start
// over) or the fault programs the device first and the callback, which needs the mutex, zaps what
// was programmed before the PTEs change. readBegin and hmmRangeFault never run under the mutex: both
// may wait for an invalidation whose callback needs it.
//
// The steps are methods so that each file of drivers/broken/ can get exactly one of them wrong.

import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmRangeFaultMmapRead,
} from "../../hmm/hmm.js";
import { EBUSY, EFAULT, MmunError } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { MmuNotifierEvent, type MmuNotifierRange } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";
import { HMM_RANGE_DEFAULT_TIMEOUT } from "../dmirror/fault.js";
import { insertMirrorRanges, type MirrorClass, type MirrorRangeSpec, removeMirrorRanges } from "./device.js";

/** Options of {@link PtlockMirror.open}. */
export interface PtlockOptions {
  /** The device's name (its page table's; default "gpu"). */
  name?: string;
  /** The ranges to mirror, one interval notifier each, all under the one driver mutex. */
  ranges: readonly MirrorRangeSpec[];
}

/** Points where tests and scenarios act inside the driver's paths (no kernel counterpart). */
export interface MirrorHooks {
  /** `hmmRangeFault` returned 0; the fault path has not taken its lock yet. Nothing is held. */
  afterRangeFault?(range: HmmRange<Mm>): void | Promise<void>;
}

/** Most pages one fault asks for (nouveau faults a window around the missing page). */
export const FAULT_WINDOW_PAGES = 16;

/** A mirrored range: an interval notifier that knows its mirror (the kernel's container_of). */
export class PtlockRange extends MmuIntervalNotifier<Mm> {
  constructor(readonly mirror: PtlockMirror) {
    super();
  }
}

/**
 * A device mirroring ranges of one address space with one page-table mutex (nouveau's `svmm->mutex`,
 * test_hmm's `dmirror->mutex`). Make it with `await PtlockMirror.open(kernel, mm, options)`; the
 * device model ({@link MirrorDevice}) calls `fault` when it misses a translation.
 */
export class PtlockMirror {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** The device page table, watched by the coherence oracle. */
  readonly pt: DevicePageTable;
  /** The driver lock: around setSeq and the zap, and around readRetry and the programming. */
  readonly lock: Mutex;
  /** One notifier per mirrored range, in the order given. */
  readonly ranges: PtlockRange[] = [];
  hooks: MirrorHooks = {};
  /** Collisions seen (readRetry true), for tests. */
  retries = 0;
  private closed = false;

  /** Use `PtlockMirror.open` (subclasses too), which also inserts the notifiers. */
  constructor(kernel: Kernel, mm: Mm, name: string) {
    this.kernel = kernel;
    this.mm = mm;
    this.pt = kernel.devicePageTable(name);
    this.lock = kernel.mutex(`${name}_pt_mutex`);
  }

  /**
   * Mirrors `options.ranges` of `mm`: one interval notifier each. The caller must not hold
   * `mm.mmapLock`. Pairs with `close`.
   */
  static async open<T extends PtlockMirror>(
    this: MirrorClass<T>,
    kernel: Kernel,
    mm: Mm,
    options: PtlockOptions,
  ): Promise<T> {
    const m = new this(kernel, mm, options.name ?? "gpu");
    await insertMirrorRanges(
      mm,
      options.ranges,
      `${m.pt.name} range`,
      () => new PtlockRange(m),
      (sub, range, cur) => m.invalidate(sub, range, cur),
      m.ranges,
    );
    await m.opened();
    return m;
  }

  /** Called once `open` inserted the notifiers (nothing here; a subclass may register more). */
  protected opened(): Promise<void> | undefined {
    return undefined;
  }

  /**
   * The device lets go of the address space: drops every device translation under the lock (the
   * device stops using the memory first: a range whose notifier is gone must not stay mapped), then
   * removes every notifier (each waits for an invalidation in flight). The device must not fault
   * any more. Must not be called with the driver lock held. Pairs with `open`.
   */
  async close(): Promise<void> {
    if (this.closed) throw new MmunError("EINVAL", `${this.pt.name}: closed twice`);
    this.closed = true;
    const l = this.lock.lock();
    if (l !== undefined) await l;
    this.pt.unmapAll(this.mm);
    this.lock.unlock();
    // Pairs with the inserts of open: once remove returns, no callback runs for that range.
    await removeMirrorRanges(this.ranges);
  }

  // ---- The invalidate side ----

  /**
   * `nouveau_svm_range_invalidate()`: ignores this driver's own migrations, takes the lock (by
   * trylock when the range may not block: false when it is busy) and runs `invalidateLocked`.
   */
  invalidate(sub: PtlockRange, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    const ev = range.event;
    if ((ev === MmuNotifierEvent.MIGRATE || ev === MmuNotifierEvent.EXCLUSIVE) && range.owner === this) {
      return true;
    }
    if (!range.blockable) {
      if (!this.lock.trylock()) return false;
      return this.invalidateLocked(sub, range, curSeq);
    }
    const p = this.lock.lock();
    if (p !== undefined) return p.then(() => this.invalidateLocked(sub, range, curSeq));
    return this.invalidateLocked(sub, range, curSeq);
  }

  /** Under the lock: records the sequence, zaps the device PTEs, unlocks. */
  protected invalidateLocked(
    sub: PtlockRange,
    range: MmuNotifierRange,
    curSeq: number,
  ): boolean | Promise<boolean> {
    // Pairs with readRetry in commit, under the same lock.
    sub.setSeq(curSeq);
    this.zap(sub, range);
    this.lock.unlock();
    return true;
  }

  /** Drops the device PTEs of the part of `range` that `sub` covers. The caller holds the lock. */
  protected zap(sub: PtlockRange, range: MmuNotifierRange): void {
    this.pt.unmapRange(this.mm, Math.max(range.start, sub.start), Math.min(range.end, sub.last + 1));
  }

  // ---- The fault side ----

  /**
   * `nouveau_range_fault()`: makes the device map the page of `addr` and the pages after it in its
   * range (up to {@link FAULT_WINDOW_PAGES}), writable when `write`. Returns 0, -EFAULT (no mirrored
   * range there, a hole, or the address space is gone), -EPERM (a write to a read-only area) or
   * -EBUSY (invalidations kept colliding for 1000 ms). Must not be called with the lock held.
   */
  async fault(addr: number, write: boolean): Promise<number> {
    const sub = this.rangeOf(addr);
    if (sub === undefined) return -EFAULT;
    const mm = this.mm;
    // Pairs with the mmput below.
    if (!mm.mmgetNotZero()) return -EFAULT;
    const ps = this.kernel.pageSize;
    const start = addr - (addr % ps);
    const end = Math.min(sub.last + 1, start + FAULT_WINDOW_PAGES * ps);
    const n = (end - start) / ps;
    const range: HmmRange<Mm> = {
      notifier: sub,
      notifierSeq: 0,
      start,
      end,
      pfns: new Uint32Array(n),
      flags: new Uint16Array(n),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
    };
    try {
      return await this.faultLoop(range);
    } finally {
      const p = mm.mmput();
      if (p !== undefined) await p;
    }
  }

  /** The collision-retry loop of one range (the header's left column). */
  protected async faultLoop(range: HmmRange<Mm>): Promise<number> {
    const deadline = this.kernel.now() + HMM_RANGE_DEFAULT_TIMEOUT;
    for (;;) {
      if (this.expired(deadline)) return -EBUSY;
      const s = this.readBegin(range);
      // Pairs with readRetry in commit.
      range.notifierSeq = typeof s === "number" ? s : await s;
      const ret = await this.rangeFault(range);
      if (ret === -EBUSY) continue;
      if (ret !== 0) return ret;
      const h = this.hooks.afterRangeFault?.(range);
      if (h !== undefined) await h;
      if (await this.commit(range)) return 0;
      this.retries++;
    }
  }

  /** True once the retry loop should give up (`time_after(jiffies, timeout)`). */
  protected expired(deadline: number): boolean {
    return this.kernel.now() > deadline;
  }

  /** `mmu_interval_read_begin()` for this attempt; never under the lock. */
  protected readBegin(range: HmmRange<Mm>): number | Promise<number> {
    return range.notifier.readBegin();
  }

  /** `hmm_range_fault()` under the mmap lock taken for read. */
  protected rangeFault(range: HmmRange<Mm>): Promise<number> {
    return hmmRangeFaultMmapRead(range);
  }

  /**
   * Under the lock: `readRetry`; when no invalidation collided, programs the device PTEs and flushes
   * the device TLB (a scheduling point: the lock is held across it, as a real flush waits for the
   * device), then unlocks. Returns false (after unlocking) on a collision.
   */
  protected async commit(range: HmmRange<Mm>): Promise<boolean> {
    const p = this.lock.lock();
    if (p !== undefined) await p;
    // Pairs with setSeq in invalidateLocked, under the same lock.
    if (range.notifier.readRetry(range.notifierSeq)) {
      this.lock.unlock();
      return false;
    }
    this.program(range);
    await this.flush();
    this.lock.unlock();
    return true;
  }

  /** Maps every page of `range` on the device, writable where HMM reported WRITE. Under the lock. */
  protected program(range: HmmRange<Mm>): void {
    const ps = this.kernel.pageSize;
    const n = (range.end - range.start) / ps;
    for (let i = 0; i < n; i++) {
      const write = ((range.flags[i] as number) & HMM_PFN_WRITE) !== 0;
      this.pt.map(this.mm, range.start + i * ps, range.pfns[i] as number, { write });
    }
  }

  /** The device TLB flush after programming: the device acknowledges while the lock is held. */
  protected flush(): Promise<void> | undefined {
    return this.kernel.point("device tlb flush");
  }

  /** The mirrored range holding `addr`, if any. */
  rangeOf(addr: number): PtlockRange | undefined {
    for (const sub of this.ranges) if (addr >= sub.start && addr <= sub.last) return sub;
    return undefined;
  }

  toString(): string {
    return `ptlock mirror ${this.pt.name} of ${this.mm.name}`;
  }
}
