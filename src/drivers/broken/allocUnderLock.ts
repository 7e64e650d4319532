// Broken fence driver (drivers/patterns/fence.ts) with one mistake: it allocates with GFP_KERNEL while
// holding the notifier lock (here, the job's page list, built while checking the buffers). An
// allocation may enter reclaim, reclaim invalidates, and the invalidate callback takes the notifier
// lock: a deadlock in the rare run where reclaim picks this process's pages, and a lock-order
// inversion (notifier_lock -> fs_reclaim -> the invalidate map -> notifier_lock) in every run.
//
// Seen: kernel-spec §5.c D2 and §6.3 item 43 (amdgpu: "no memory allocation from here on" after
// taking notifier_lock; RDMA ODP primes lockdep for umem_mutex in reclaim for the same reason).
// Found as: lock-order.

import { GFP_KERNEL, mightAlloc } from "../../mm/gfp.js";
import { FenceDriver, type GpuJob } from "../patterns/fence.js";

export class AllocUnderLock extends FenceDriver {
  protected override validate(job: GpuJob): boolean {
    // BUG: an allocation that may reclaim, under the notifier lock.
    mightAlloc(this.kernel, GFP_KERNEL);
    return super.validate(job);
  }
}
