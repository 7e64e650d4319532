// Follows the dma_fence pattern of GPU user pointers (kernel-spec §5.c): amdgpu's userptr BOs
// (drivers/gpu/drm/amd/amdgpu/amdgpu_hmm.c amdgpu_hmm_invalidate_gfx, amdgpu_cs.c
// amdgpu_cs_parser_bos / amdgpu_cs_submit, amdgpu_ttm.c amdgpu_ttm_tt_get_user_pages) and the DRM
// VM_BIND userptr rules (Documentation/gpu/drm-vm-bind-locking.rst). A GPU job uses the pages of
// its user-pointer buffers until its fence signals; the invalidate callback waits for those fences.
//
//   submit (the command-submission ioctl)               invalidate (the mm is about to change PTEs)
//   --------------------------------------------       ----------------------------------------------
//   create the job and its fence (all allocation)      non-blockable: return false
//   for every buffer: seq = readBegin(); mmap read     lock notifier_lock; setSeq(curSeq)
//     lock; hmmRangeFault; unlock (-EBUSY: again,      wait for every fence PUBLISHED in the
//     for 1000 ms; then -EAGAIN)                         buffer's reservation (none: nothing to
//   lock notifier_lock (no allocation from here on)      wait for); unlock; return true
//   for every buffer: readRetry(seq)? unlock, -EAGAIN
//     (user space restarts the ioctl)                  GPU scheduler (the device's own task)
//   publish the job's fence in every buffer's         ----------------------------------------------
//     reservation; push the job to the scheduler       pop a job; begin fence signalling;
//   unlock                                               map its buffers' pages, run, unmap;
//                                                        signal the fence; end signalling
//
// The lock it relies on: notifier_lock, held from the first readRetry until the fence is published
// and the job pushed. The dma_fence rules (the 2019 thread, reference/000_fdc4474da060c8f9.txt, and
// the DRM documentation after it):
//   1. a fence becomes visible to the invalidate callback only after every readRetry passed, under
//      the lock, and the job is committed before the unlock (so every published fence will signal);
//      an invalidation then either came first (readRetry is true) or waits for a job that runs;
//   2. the fence is never published before or while the submitter faults (D1: the fault's own
//      invalidation would wait for a fence only the faulting task can make signal);
//   3. no allocation that may reclaim under the notifier lock (D2: reclaim invalidates, and the
//      callback takes the lock);
//   4. nothing on the fence's signalling path (the scheduler, the job, its completion) takes the
//      notifier lock or allocates (D3: the callback waits for the fence while holding the lock);
//   5. readBegin, hmmRangeFault and remove are never called under the notifier lock (D4).
// Lockdep checks 2-5 without the deadlock having to happen: a fence wait is a write acquisition of
// the "dma_fence_map" pseudo-lock that every signalling section holds (kernel.dmaFenceBeginSignalling),
// and an allocation enters "fs_reclaim" (mightAlloc).

import {
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmRangeFaultMmapRead,
} from "../../hmm/hmm.js";
import { EAGAIN, EBUSY, EFAULT, MmunError } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import { GFP_KERNEL, mightAlloc } from "../../mm/gfp.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";
import type { DmaFence } from "../../sync/dmaFence.js";
import type { Mutex } from "../../sync/mutex.js";
import type { WaitQueue } from "../../sync/waitQueue.js";
import { HMM_RANGE_DEFAULT_TIMEOUT } from "../dmirror/fault.js";
import { insertMirrorRanges, type MirrorClass, type MirrorRangeSpec, removeMirrorRanges } from "./device.js";
import type { MirrorHooks } from "./ptlock.js";

/**
 * A user-pointer buffer object (amdgpu's userptr BO): an interval notifier over user memory, the
 * pages HMM returned for it, and its reservation object (the fences of the jobs using those pages).
 */
export class UserptrBo extends MmuIntervalNotifier<Mm> {
  /** The last `getUserPages` attempt: its range (pfns, flags, the seq it was taken under). */
  range: HmmRange<Mm> | undefined;
  /** The reservation object (`bo->tbo.base.resv`): fences published, oldest first. */
  readonly resv: DmaFence[] = [];
  constructor(readonly driver: FenceDriver) {
    super();
  }
}

/** A GPU job: the buffers it uses, and its fence. */
export interface GpuJob {
  readonly id: number;
  readonly bos: readonly UserptrBo[];
  /** The job writes `value` to the first word of every page of its buffers (else it reads them). */
  readonly write: boolean;
  readonly value: number;
  /** Signalled once the job finished (with an error when it was aborted). */
  readonly fence: DmaFence;
  /** True once the fence is in the buffers' reservations (`is_inited` in the 2019 thread). */
  published: boolean;
  /** The cookie of the submitter's fence-signalling section, while it is open. */
  signalling: boolean | undefined;
  /** What the job read: the first word of every page of every buffer, in order. */
  readonly reads: number[];
}

/** The GPU scheduler (drm_sched): jobs in submission order, run by the device's own task. */
export class GpuScheduler {
  private readonly jobs: GpuJob[] = [];
  private readonly wq: WaitQueue;
  private stopped = false;

  constructor(readonly driver: FenceDriver) {
    this.wq = driver.kernel.waitQueue(`${driver.pt.name}_sched`);
  }

  /** `drm_sched_entity_push_job()`: queues `job` (never sleeps; legal in a signalling section). */
  push(job: GpuJob): void {
    if (this.stopped)
      throw new MmunError("EINVAL", `${this.driver.pt.name}: a job pushed to a stopped scheduler`);
    this.jobs.push(job);
    this.wq.wakeUpAll();
  }

  /** The scheduler's thread: runs each job, then signals its fence. Returns once stopped and drained. */
  async run(): Promise<void> {
    const k = this.driver.kernel;
    for (;;) {
      const w = this.wq.waitEvent(() => this.jobs.length !== 0 || this.stopped);
      if (w !== undefined) await w;
      const job = this.jobs.shift();
      if (job === undefined) return;
      // Everything from here to the signal is what the fence waits for: the signalling path.
      const cookie = k.dmaFenceBeginSignalling();
      await this.driver.runJob(job);
      const d = this.driver.jobDone(job);
      if (d !== undefined) await d;
      job.fence.signal();
      k.dmaFenceEndSignalling(cookie);
    }
  }

  /** Lets `run` return once every queued job ran. */
  stop(): void {
    this.stopped = true;
    this.wq.wakeUpAll();
  }
}

/** Options of {@link FenceDriver.open}. */
export interface FenceOptions {
  /** The GPU's name (default "gfx"). */
  name?: string;
  /** The user-pointer buffers, one notifier each. */
  bos: readonly MirrorRangeSpec[];
}

/**
 * A GPU with user-pointer buffers and a scheduler (amdgpu gfx userptr). The scheduler's task must run
 * `scheduler.run()`; a process submits jobs with `submit` (or `exec`, which restarts on -EAGAIN as
 * user space does).
 */
export class FenceDriver {
  readonly kernel: Kernel;
  readonly mm: Mm;
  /** The GPU's page table (its VM): a job's buffers are mapped while it runs. */
  readonly pt: DevicePageTable;
  /** `adev->notifier_lock`. */
  readonly notifierLock: Mutex;
  readonly scheduler: GpuScheduler;
  readonly bos: UserptrBo[] = [];
  hooks: MirrorHooks = {};
  private nextJob = 0;
  private closed = false;

  /** Use `FenceDriver.open` (subclasses too), which also inserts the notifiers. */
  constructor(kernel: Kernel, mm: Mm, name: string) {
    this.kernel = kernel;
    this.mm = mm;
    this.pt = kernel.devicePageTable(name);
    this.notifierLock = kernel.mutex("notifier_lock");
    this.scheduler = new GpuScheduler(this);
  }

  /** Creates `options.bos` over `mm`. The caller must not hold `mm.mmapLock`. Pairs with `close`. */
  static async open<T extends FenceDriver>(
    this: MirrorClass<T>,
    kernel: Kernel,
    mm: Mm,
    options: FenceOptions,
  ): Promise<T> {
    const d = new this(kernel, mm, options.name ?? "gfx");
    await insertMirrorRanges(
      mm,
      options.bos,
      `${d.pt.name} userptr`,
      () => new UserptrBo(d),
      (bo, range, cur) => d.invalidate(bo, range, cur),
      d.bos,
    );
    return d;
  }

  /** Removes the buffers' notifiers, then stops the scheduler once its jobs ran. Pairs with `open`. */
  async close(): Promise<void> {
    if (this.closed) throw new MmunError("EINVAL", `${this.pt.name}: closed twice`);
    this.closed = true;
    // Pairs with the inserts of open: once remove returns, no callback runs for that buffer.
    await removeMirrorRanges(this.bos);
    this.scheduler.stop();
  }

  // ---- The invalidate side ----

  /** `amdgpu_hmm_invalidate_gfx()`: see the header's right column. */
  invalidate(bo: UserptrBo, range: MmuNotifierRange, curSeq: number): boolean | Promise<boolean> {
    if (!range.blockable) return false;
    return this.invalidateBlocking(bo, curSeq);
  }

  private async invalidateBlocking(bo: UserptrBo, curSeq: number): Promise<true> {
    const p = this.notifierLock.lock();
    if (p !== undefined) await p;
    // Pairs with readRetry in validate, under the same lock.
    bo.setSeq(curSeq);
    // dma_resv_wait_timeout(resv, DMA_RESV_USAGE_BOOKKEEP, false, MAX_SCHEDULE_TIMEOUT): only fences
    // published after a successful readRetry are here, and each belongs to a job already pushed.
    for (const f of bo.resv) {
      const w = f.wait();
      if (w !== undefined) await w;
    }
    bo.resv.length = 0;
    this.notifierLock.unlock();
    return true;
  }

  // ---- The submission side ----

  /**
   * `amdgpu_cs_ioctl()`: a job over `bos` (writing `value` to each page when `write`, else reading).
   * Returns the job (pushed; wait for `job.fence`), -EAGAIN (an invalidation collided: restart), or
   * -EFAULT / -EPERM from the faults. Must not be called with the notifier lock held.
   */
  async submit(bos: readonly UserptrBo[], write: boolean, value = 0): Promise<GpuJob | number> {
    // amdgpu_cs_pass1: the job first, then the buffers' pages (amdgpu_cs_parser_bos).
    const job = this.createJob(bos, write, value);
    for (const bo of bos) {
      const r = await this.getUserPages(bo, write);
      if (r !== 0) {
        this.abort(job);
        return r;
      }
    }
    const p = this.notifierLock.lock();
    if (p !== undefined) await p;
    // No allocation may reclaim from here on (D2).
    if (!this.validate(job)) {
      this.notifierLock.unlock();
      this.abort(job);
      return -EAGAIN;
    }
    this.publish(job);
    this.scheduler.push(job);
    const c = job.signalling;
    job.signalling = undefined;
    if (c !== undefined) this.kernel.dmaFenceEndSignalling(c);
    this.notifierLock.unlock();
    return job;
  }

  /**
   * Submits until the ioctl does not answer -EAGAIN (user space restarts it), then waits for the
   * job's fence. Returns the job, or the submission's error.
   */
  async exec(bos: readonly UserptrBo[], write: boolean, value = 0): Promise<GpuJob | number> {
    for (;;) {
      const r = await this.submit(bos, write, value);
      if (r === -EAGAIN) continue;
      if (typeof r === "number") return r;
      const w = r.fence.wait();
      if (w !== undefined) await w;
      return r;
    }
  }

  /**
   * `amdgpu_ttm_tt_get_user_pages()`: `readBegin` and `hmmRangeFault` of the whole buffer under the
   * mmap read lock, -EBUSY retried for 1000 ms (then -EAGAIN); -EFAULT once the address space is
   * gone. Keeps the range (and its seq) in `bo`.
   */
  protected async getUserPages(bo: UserptrBo, write: boolean): Promise<number> {
    const ps = this.kernel.pageSize;
    const n = (bo.last + 1 - bo.start) / ps;
    const range: HmmRange<Mm> = {
      notifier: bo,
      notifierSeq: 0,
      start: bo.start,
      end: bo.last + 1,
      pfns: new Uint32Array(n),
      flags: new Uint16Array(n),
      defaultFlags: HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
      pfnFlagsMask: 0,
    };
    bo.range = range;
    const mm = this.mm;
    // Pairs with the mmput below.
    if (!mm.mmgetNotZero()) return -EFAULT;
    try {
      return await this.faultUserPages(bo, range);
    } finally {
      const p = mm.mmput();
      if (p !== undefined) await p;
    }
  }

  private async faultUserPages(bo: UserptrBo, range: HmmRange<Mm>): Promise<number> {
    const k = this.kernel;
    const deadline = k.now() + HMM_RANGE_DEFAULT_TIMEOUT;
    for (;;) {
      if (k.now() > deadline) return -EAGAIN;
      const s = bo.readBegin();
      // Pairs with readRetry in validate.
      range.notifierSeq = typeof s === "number" ? s : await s;
      const ret = await hmmRangeFaultMmapRead(range);
      if (ret === -EBUSY) continue;
      if (ret !== 0) return ret;
      const h = this.hooks.afterRangeFault?.(range);
      if (h !== undefined) await h;
      return 0;
    }
  }

  /** Creates the job and its fence (`amdgpu_job_alloc`, `drm_sched_job_init`): may allocate. */
  protected createJob(bos: readonly UserptrBo[], write: boolean, value: number): GpuJob {
    const k = this.kernel;
    mightAlloc(k, GFP_KERNEL);
    const id = this.nextJob++;
    return {
      id,
      bos,
      write,
      value,
      fence: k.dmaFence(`${this.pt.name} job ${id}`),
      published: false,
      signalling: undefined,
      reads: [],
    };
  }

  /**
   * `amdgpu_ttm_tt_get_user_pages_done()` for every buffer, under the notifier lock: true when no
   * invalidation collided with any buffer's pages since its readBegin.
   */
  protected validate(job: GpuJob): boolean {
    this.kernel.assertHeld(this.notifierLock);
    // Pairs with setSeq in invalidateBlocking, under the same lock.
    for (const bo of job.bos) if (bo.readRetry(bo.range?.notifierSeq ?? 0)) return false;
    return true;
  }

  /**
   * Publishes the job's fence in every buffer's reservation (`dma_resv_add_fence`); from here on
   * the fence must signal, so the fence-signalling section begins (`drm_sched_job_arm`). Once.
   */
  protected publish(job: GpuJob): void {
    if (job.published) return;
    job.signalling = this.kernel.dmaFenceBeginSignalling();
    job.published = true;
    for (const bo of job.bos) bo.resv.push(job.fence);
  }

  /** A collided submission: a fence already published must still signal (with an error). */
  protected abort(job: GpuJob): void {
    if (!job.published) return;
    job.fence.setError(-EAGAIN);
    job.fence.signal();
    const c = job.signalling;
    job.signalling = undefined;
    if (c !== undefined) this.kernel.dmaFenceEndSignalling(c);
  }

  /**
   * The job on the GPU (the scheduler's `run_job` and the hardware): maps its buffers' pages in the
   * GPU's VM, runs (a scheduling point: the GPU executes while others run), then unmaps them. In the
   * signalling path: takes no lock the callback takes, allocates nothing.
   */
  async runJob(job: GpuJob): Promise<void> {
    const { mm, pt } = this;
    const ps = this.kernel.pageSize;
    for (const bo of job.bos) {
      const r = bo.range as HmmRange<Mm>;
      for (let i = 0, a = r.start; a < r.end; i++, a += ps) {
        const write = ((r.flags[i] as number) & HMM_PFN_WRITE) !== 0;
        pt.map(mm, a, r.pfns[i] as number, { write });
      }
    }
    await this.kernel.point("gpu runs the job");
    for (const bo of job.bos) {
      for (let a = bo.start; a <= bo.last; a += ps) {
        if (job.write) pt.write32(mm, a, job.value);
        else job.reads.push(pt.read32(mm, a));
        pt.unmap(mm, a);
      }
    }
  }

  /** The job's completion, on the signalling path before the fence signals (nothing here). */
  jobDone(_job: GpuJob): Promise<void> | undefined {
    return undefined;
  }

  toString(): string {
    return `fence driver ${this.pt.name} of ${this.mm.name}`;
  }
}
