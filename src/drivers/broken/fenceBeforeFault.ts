// Broken fence driver (drivers/patterns/fence.ts) with one mistake: the job's fence is published in
// the buffers' reservations (and its signalling section begun) when the job is created, before the
// buffers' pages are faulted. An invalidation of a buffer then waits for a fence that only the
// submitting task can make signal, while that task waits for the invalidation: in readBegin, for the
// mmap lock, or in a fault that breaks copy-on-write in its own buffer.
//
// Seen: kernel-spec §5.c D1, and the 2019 thread (reference/000_fdc4474da060c8f9.txt): "the
// dma_fence_wait() cannot block until after the mmu_range_read_retry() & unlock completes.
// Otherwise it can deadlock with hmm_range_fault()".
// Found as: lock-order (the signalling section reaches the invalidate map, whose callback waits for
// the fence), or the deadlock itself.

import { FenceDriver, type GpuJob, type UserptrBo } from "../patterns/fence.js";

export class FenceBeforeFault extends FenceDriver {
  protected override createJob(bos: readonly UserptrBo[], write: boolean, value: number): GpuJob {
    const job = super.createJob(bos, write, value);
    // BUG: visible to the invalidate callback before the pages are faulted and checked.
    this.publish(job);
    return job;
  }
}
