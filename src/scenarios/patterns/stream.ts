// A stream of invalidations aimed at the fault path (kernel-spec §6.3 item 44): each one lands
// between the driver's hmmRangeFault and its readRetry (the driver's afterRangeFault hook waits for
// it), so every attempt collides, and each takes STREAM_PERIOD ms of logical time. A driver that
// bounds its retries by time gives up with -EBUSY; one that does not retries for ever.

import type { MirrorHooks } from "../../drivers/patterns/ptlock.js";
import type { Kernel } from "../../mm/kernel.js";
import type { WaitQueue } from "../../sync/waitQueue.js";
import type { ProcessWorld, Workload } from "./workloads.js";

/** Logical milliseconds between two invalidations of the stream. */
export const STREAM_PERIOD = 600;

/** What the stream needs of its world: the driver's hooks and how far the device got. */
export interface StreamTarget extends ProcessWorld {
  driver: { hooks: MirrorHooks };
  device: { results: readonly unknown[] };
}

interface Stream {
  /** Until the device's first access ended. */
  active: boolean;
  /** A fault waits in its window for the stream's next invalidation. */
  window: boolean;
  wq: WaitQueue;
}

/** Where the stream keeps its state on the world (a property, not a WeakMap keyed by a per-execution object). */
const STREAM: unique symbol = Symbol("invalidation stream");
type Streamed = ProcessWorld & { [STREAM]?: Stream };

/**
 * The workload "stream": MADV_DONTNEED of the buffer each time a fault reaches its window, until the
 * device's first access (its write) has ended. `attach` installs the hook in the scenario's setup.
 */
export const streamWorkload = {
  name: "stream",
  what: "a stream of MADV_DONTNEED invalidations, one in every fault's window",
  discards: true,
  busy: true,
  attach(w: StreamTarget, k: Kernel): void {
    const s: Stream = { active: true, window: false, wq: k.waitQueue("invalidation stream") };
    (w as Streamed)[STREAM] = s;
    w.driver.hooks.afterRangeFault = () => {
      if (!s.active) return undefined;
      s.window = true;
      s.wq.wakeUpAll();
      return s.wq.waitEvent(() => !s.window);
    };
  },
  async run(p: ProcessWorld, k: Kernel): Promise<void> {
    const w = p as StreamTarget;
    const s = (w as Streamed)[STREAM];
    if (s === undefined) throw new Error("the stream workload was not attached in setup");
    const done = () => w.device.results.length !== 0;
    for (;;) {
      // Polls: nothing wakes the stream when the device's write ends.
      const r = s.wq.waitEventTimeout(() => s.window || done(), STREAM_PERIOD);
      if (typeof r !== "number") await r;
      if (done()) {
        s.active = false;
        s.window = false;
        s.wq.wakeUpAll();
        return;
      }
      if (!s.window) continue;
      await w.mm.madvise(w.addr, w.size, "dontneed");
      s.window = false;
      s.wq.wakeUpAll();
      await k.msleep(STREAM_PERIOD);
    }
  },
} satisfies Workload & { attach(w: StreamTarget, k: Kernel): void };
