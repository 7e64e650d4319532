// Fence wait cycles: waiting on a fence whose signaller waits on you.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { DmaFence } from "../../sync/dmaFence.js";
import type { Mutex } from "../../sync/mutex.js";

interface Fences {
  f1: DmaFence;
  f2: DmaFence;
  lock: Mutex;
}

const setup = (k: Kernel): Fences => ({
  f1: k.dmaFence("job1_done"),
  f2: k.dmaFence("job2_done"),
  lock: k.mutex("pt_lock"),
});

/** Broken: each job waits for the other's fence before signalling its own. */
export const fenceCycle = defineScenario({
  name: "classic/fence-cycle",
  description:
    "Job 1 waits for job2_done before signalling job1_done; job 2 waits for job1_done before signalling job2_done. " +
    "Neither fence can ever signal.",
  setup,
  tasks: {
    job1: async (w: Fences) => {
      await w.f2.wait();
      w.f1.signal();
    },
    job2: async (w: Fences) => {
      await w.f1.wait();
      w.f2.signal();
    },
  },
  expect: "deadlock",
  module: import.meta.url,
});

/** Correct: job 1 signals before it waits, so the dependency is one-way. */
export const fenceChain = defineScenario({
  name: "classic/fence-chain",
  description: "Job 1 signals job1_done, then waits for job2_done; job 2 waits for job1_done, then signals.",
  setup,
  tasks: {
    job1: async (w: Fences) => {
      w.f1.signal();
      await w.f2.wait();
    },
    job2: async (w: Fences) => {
      await w.f1.wait();
      w.f2.signal();
    },
  },
  expect: "pass",
  module: import.meta.url,
});

/**
 * Broken: a lock held around a fence wait that the fence's signalling path also takes. Lockdep
 * (the dma_fence signalling annotations) reports it even in runs where the timing was lucky.
 */
export const fenceUnderLock = defineScenario({
  name: "classic/fence-under-lock",
  description:
    "A task waits for a job's fence while holding pt_lock; the job (a fence signalling section) needs pt_lock to " +
    "finish. The wait can never end once the waiter holds the lock first.",
  setup,
  tasks: {
    waiter: async (w: Fences) => {
      await w.lock.lock();
      await w.f1.wait();
      w.lock.unlock();
    },
    job: async (w: Fences, k: Kernel) => {
      const cookie = k.dmaFenceBeginSignalling();
      await w.lock.lock();
      w.lock.unlock();
      w.f1.signal();
      k.dmaFenceEndSignalling(cookie);
    },
  },
  expect: "lock-order",
  module: import.meta.url,
});
