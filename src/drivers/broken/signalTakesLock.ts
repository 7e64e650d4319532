// Broken fence driver (drivers/patterns/fence.ts) with one mistake: the job's completion, on the
// fence's signalling path, takes the notifier lock (say, to mark the buffers' pages accessed) before
// the fence signals. The invalidate callback waits for that fence while holding the notifier lock:
// whenever they meet it is a deadlock, and lockdep sees dma_fence_map -> notifier_lock ->
// dma_fence_map in any run.
//
// Seen: kernel-spec §5.c D3 and §6.3 item 42 (nothing on a fence's signalling path may take the
// notifier lock; Documentation/driver-api/dma-buf.rst, "DMA Fence Signalling Annotations").
// Found as: lock-order.

import { FenceDriver, type GpuJob } from "../patterns/fence.js";

export class SignalTakesLock extends FenceDriver {
  override async jobDone(_job: GpuJob): Promise<void> {
    // BUG: the notifier lock on the signalling path.
    const p = this.notifierLock.lock();
    if (p !== undefined) await p;
    this.notifierLock.unlock();
  }
}
