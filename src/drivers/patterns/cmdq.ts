// Follows RDMA on-demand paging (kernel-spec §5.b): drivers/infiniband/core/umem_odp.c
// (ib_umem_odp_map_dma_and_lock) and drivers/infiniband/hw/mlx5/odp.c (mlx5_ib_invalidate_range,
// pagefault_real_mr) with mlx5's UMR work requests (umr.c, mlx5r_umr_update_xlt). The device's
// translation table (the MTT) is written only by the device, through commands posted to a queue
// that a device task serves; the driver waits for each command's completion.
//
//   page fault (the NIC missed a translation)          invalidate (the mm is about to change PTEs)
//   --------------------------------------------       ----------------------------------------------
//   mmgetNotZero; deadline = now + 1000 ms             non-blockable: return false (no trylock)
//   loop: seq = readBegin(); mmap read lock;           lock umem_mutex; setSeq(curSeq)
//     hmmRangeFault; unlock (-EBUSY: again)            nothing mapped: unlock, return true
//     lock umem_mutex; readRetry(seq): unlock, again   post a ZAP command for the range; wait for
//   return WITH umem_mutex HELD                          its completion (the device translates the
//   post a MAP command; wait for its completion          range no more); unlock; return true
//   unlock umem_mutex; mmput
//
// The lock it relies on: umem_mutex, held from readRetry until the device completed the MAP. An
// invalidation, which needs the mutex to call setSeq, can therefore not overtake a device update
// made from pages that are already stale: either it came first (readRetry is true) or it waits
// until the MAP is done and then zaps it, through the same queue, before the PTEs change. The
// command queue itself is served in order by the device; the driver never touches the MTT.

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
import type { MmuNotifierRange } from "../../notifier/range.js";
import type { Completion } from "../../sync/completion.js";
import type { Mutex } from "../../sync/mutex.js";
import type { WaitQueue } from "../../sync/waitQueue.js";
import { HMM_RANGE_DEFAULT_TIMEOUT } from "../dmirror/fault.js";
import { insertMirrorRanges, type MirrorClass, type MirrorRangeSpec, removeMirrorRanges } from "./device.js";
import type { MirrorHooks } from "./ptlock.js";

/** A device command: map pages (an MTT update) or zap a range (an MTT invalidation). */
export interface DeviceCommand {
  op: "map" | "zap";
  /** First byte address and end (exclusive) of the pages concerned. */
  start: number;
  end: number;
  /** map: one frame per page, and the HMM flags (WRITE: map writable). */
  pfns?: Uint32Array;
  flags?: Uint16Array;
  /** Completed by the device once the command took effect. */
  done: Completion;
}

/**
 * The device's command queue (an mlx5 UMR QP): the driver posts, the device task (`serve`) executes
 * in order and completes each command. `stop` ends `serve` once the queue is empty.
 */
export class CommandQueue {
  private readonly cmds: DeviceCommand[] = [];
  private readonly wq: WaitQueue;
  private stopped = false;
  /** Commands executed, for tests. */
  executed = 0;

  constructor(
    readonly kernel: Kernel,
    readonly mm: Mm,
    readonly pt: DevicePageTable,
  ) {
    this.wq = kernel.waitQueue(`${pt.name}_cmdq`);
  }

  /** Posts `cmd` (never sleeps); wait for `cmd.done` to know it took effect. */
  post(cmd: DeviceCommand): void {
    if (this.stopped) throw new MmunError("EINVAL", `${this.pt.name}: a command posted to a stopped queue`);
    this.cmds.push(cmd);
    this.wq.wakeUpAll();
  }

  /** Posts `cmd` and waits for its completion. */
  run(cmd: DeviceCommand): Promise<void> | undefined {
    this.post(cmd);
    return cmd.done.wait();
  }

  /** The device's command processor: its own task. Returns once stopped and drained. */
  async serve(): Promise<void> {
    for (;;) {
      const w = this.wq.waitEvent(() => this.cmds.length !== 0 || this.stopped);
      if (w !== undefined) await w;
      const cmd = this.cmds.shift();
      if (cmd === undefined) return;
      this.execute(cmd);
      this.executed++;
      cmd.done.complete();
    }
  }

  /** Lets `serve` return once the queue is empty. */
  stop(): void {
    this.stopped = true;
    this.wq.wakeUpAll();
  }

  private execute(cmd: DeviceCommand): void {
    const { mm, pt } = this;
    if (cmd.op === "zap") {
      pt.unmapRange(mm, cmd.start, cmd.end);
      return;
    }
    const ps = this.kernel.pageSize;
    const pfns = cmd.pfns as Uint32Array;
    const flags = cmd.flags as Uint16Array;
    for (let i = 0, a = cmd.start; a < cmd.end; i++, a += ps) {
      pt.map(mm, a, pfns[i] as number, { write: ((flags[i] as number) & HMM_PFN_WRITE) !== 0 });
    }
  }
}

/** An on-demand-paging memory region: an interval notifier over it (`struct ib_umem_odp`). */
export class OdpRegion extends MmuIntervalNotifier<Mm> {
  /** Pages the device translates (the kernel's `umem_odp->npages`), under umem_mutex. */
  npages = 0;
  /** Which of the region's pages the device translates (the kernel's `dma_list`), under umem_mutex. */
  readonly dmaList: Uint8Array;
  constructor(
    readonly mirror: CmdqMirror,
    pages: number,
  ) {
    super();
    this.dmaList = new Uint8Array(pages);
  }

  /** Records that pages `[start, end)` are mapped (`on`) or not; keeps `npages`. Under umem_mutex. */
  account(start: number, end: number, on: boolean): void {
    const ps = this.mirror.kernel.pageSize;
    const first = (start - this.start) / ps;
    const list = this.dmaList;
    for (let i = first, a = start; a < end; i++, a += ps) {
      if ((list[i] === 1) !== on) this.npages += on ? 1 : -1;
      list[i] = on ? 1 : 0;
    }
  }
}

/** Options of {@link CmdqMirror.open}. */
export interface CmdqOptions {
  /** The device's name (default "hca"). */
  name?: string;
  /** The memory regions, one notifier each. */
  regions: readonly MirrorRangeSpec[];
}

/**
 * An RDMA NIC with on-demand paging: regions of one address space, one `umem_mutex` (mlx5 has one per
 * region; one for all keeps the scenarios small, and changes nothing the pattern relies on), and the
 * command queue the device serves. The device's command task must run `queue.serve()`.
 */
export class CmdqMirror {
  readonly kernel: Kernel;
  readonly mm: Mm;
  readonly pt: DevicePageTable;
  readonly umemMutex: Mutex;
  readonly queue: CommandQueue;
  readonly regions: OdpRegion[] = [];
  hooks: MirrorHooks = {};
  private closed = false;

  /** Use `CmdqMirror.open` (subclasses too), which also inserts the notifiers. */
  constructor(kernel: Kernel, mm: Mm, name: string) {
    this.kernel = kernel;
    this.mm = mm;
    this.pt = kernel.devicePageTable(name);
    this.umemMutex = kernel.mutex("umem_mutex");
    this.queue = new CommandQueue(kernel, mm, this.pt);
  }

  /** Registers `options.regions` of `mm`. The caller must not hold `mm.mmapLock`. Pairs with `close`. */
  static async open<T extends CmdqMirror>(
    this: MirrorClass<T>,
    kernel: Kernel,
    mm: Mm,
    options: CmdqOptions,
  ): Promise<T> {
    const m = new this(kernel, mm, options.name ?? "hca");
    await insertMirrorRanges(
      mm,
      options.regions,
      `${m.pt.name} mr`,
      (r) => new OdpRegion(m, r.length / kernel.pageSize),
      (sub, range, cur) => m.invalidate(sub, range, cur),
      m.regions,
    );
    return m;
  }

  /**
   * `mlx5_ib_dereg_mr()`: zaps every region the device still translates (through the queue, under
   * umem_mutex), deregisters the regions (each remove waits for an invalidation in flight, which may
   * still need the queue), then stops the queue. The NIC must not fault any more. Pairs with `open`.
   */
  async close(): Promise<void> {
    if (this.closed) throw new MmunError("EINVAL", `${this.pt.name}: closed twice`);
    this.closed = true;
    const l = this.umemMutex.lock();
    if (l !== undefined) await l;
    for (const sub of this.regions) {
      if (sub.npages === 0) continue;
      const end = sub.last + 1;
      const w = this.queue.run({ op: "zap", start: sub.start, end, done: this.kernel.completion("umr zap") });
      if (w !== undefined) await w;
      sub.account(sub.start, end, false);
    }
    this.umemMutex.unlock();
    // Pairs with the inserts of open: once remove returns, no callback runs for that region.
    await removeMirrorRanges(this.regions);
    this.queue.stop();
  }

  // ---- The invalidate side ----

  /** `mlx5_ib_invalidate_range()`: see the header's right column. */
  invalidate(sub: OdpRegion, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    if (!range.blockable) return false;
    return this.invalidateBlocking(sub, range, curSeq);
  }

  /** The blockable invalidation: under umem_mutex, setSeq and the ZAP through the queue. */
  protected async invalidateBlocking(sub: OdpRegion, range: MmuNotifierRange, curSeq: number): Promise<true> {
    const p = this.umemMutex.lock();
    if (p !== undefined) await p;
    // Pairs with readRetry in mapDmaAndLock, under the same mutex.
    sub.setSeq(curSeq);
    if (sub.npages !== 0) {
      const start = Math.max(range.start, sub.start);
      const end = Math.min(range.end, sub.last + 1);
      const w = this.queue.run({ op: "zap", start, end, done: this.kernel.completion("umr zap") });
      if (w !== undefined) await w;
      // The DMA unmap of the zapped pages (ib_umem_odp_unmap_dma_pages).
      sub.account(start, end, false);
    }
    await this.afterZap(sub, range);
    this.umemMutex.unlock();
    return true;
  }

  /** What the driver does after a zap, still under the mutex (nothing: see drivers/broken/). */
  protected afterZap(_sub: OdpRegion, _range: MmuNotifierRange): void | Promise<void> {}

  // ---- The page-fault side ----

  /**
   * `pagefault_real_mr()`: makes the NIC translate the page of `addr` and the rest of its region
   * (writable when `write`). Returns 0, -EFAULT (no region, a hole, the address space is gone),
   * -EPERM or -EBUSY (invalidations kept colliding for 1000 ms).
   */
  async fault(addr: number, write: boolean): Promise<number> {
    const sub = this.regionOf(addr);
    if (sub === undefined) return -EFAULT;
    const mm = this.mm;
    // Pairs with the mmput below.
    if (!mm.mmgetNotZero()) return -EFAULT;
    const ps = this.kernel.pageSize;
    const start = addr - (addr % ps);
    const end = sub.last + 1;
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
      const ret = await this.mapDmaAndLock(range);
      if (ret !== 0) return ret;
      // umem_mutex is held: the MTT update and its completion, then the unlock.
      await this.updateXlt(sub, range);
      return 0;
    } finally {
      const p = mm.mmput();
      if (p !== undefined) await p;
    }
  }

  /**
   * `ib_umem_odp_map_dma_and_lock()`: the collision-retry loop; returns 0 WITH umem_mutex held and
   * the range's results current, or an error without it.
   */
  protected async mapDmaAndLock(range: HmmRange<Mm>): Promise<number> {
    const k = this.kernel;
    const deadline = k.now() + HMM_RANGE_DEFAULT_TIMEOUT;
    for (;;) {
      if (k.now() > deadline) return -EBUSY;
      const s = range.notifier.readBegin();
      // Pairs with readRetry below.
      range.notifierSeq = typeof s === "number" ? s : await s;
      const ret = await this.rangeFault(range);
      if (ret === -EBUSY) continue;
      if (ret !== 0) return ret;
      const h = this.hooks.afterRangeFault?.(range);
      if (h !== undefined) await h;
      const p = this.umemMutex.lock();
      if (p !== undefined) await p;
      // Pairs with setSeq in invalidateBlocking, under the same mutex.
      if (!range.notifier.readRetry(range.notifierSeq)) return 0;
      this.umemMutex.unlock();
    }
  }

  /** `hmm_range_fault()` under the mmap lock taken for read. */
  protected rangeFault(range: HmmRange<Mm>): Promise<number> {
    return hmmRangeFaultMmapRead(range);
  }

  /**
   * `mlx5r_umr_update_xlt()`: posts the MAP command for `range` and waits for its completion, then
   * unlocks umem_mutex (held since mapDmaAndLock).
   */
  protected async updateXlt(sub: OdpRegion, range: HmmRange<Mm>): Promise<void> {
    const w = this.queue.run(this.mapCommand(range));
    if (w !== undefined) await w;
    sub.account(range.start, range.end, true);
    this.umemMutex.unlock();
  }

  /** The MAP command of `range`'s results. */
  protected mapCommand(range: HmmRange<Mm>): DeviceCommand {
    return {
      op: "map",
      start: range.start,
      end: range.end,
      pfns: range.pfns.slice(),
      flags: range.flags.slice(),
      done: this.kernel.completion("umr map"),
    };
  }

  /** The region holding `addr`, if any. */
  regionOf(addr: number): OdpRegion | undefined {
    for (const sub of this.regions) if (addr >= sub.start && addr <= sub.last) return sub;
    return undefined;
  }

  toString(): string {
    return `cmdq mirror ${this.pt.name} of ${this.mm.name}`;
  }
}
