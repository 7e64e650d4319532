// Every variant of drivers/broken/ against the workload that shows its mistake, and what the explorer
// must report. Each variant has exactly one classic mistake (its file says which, and where it was
// seen); the patterns they break are drivers/patterns/.

import { AllocUnderLock } from "../../drivers/broken/allocUnderLock.js";
import { FaultWithoutMmapLock } from "../../drivers/broken/faultWithoutMmapLock.js";
import { FenceBeforeFault } from "../../drivers/broken/fenceBeforeFault.js";
import { InvalidateNoZap } from "../../drivers/broken/invalidateNoZap.js";
import { MissingEnd } from "../../drivers/broken/missingEnd.js";
import { NoSetSeq } from "../../drivers/broken/noSetSeq.js";
import { PublishBeforeRetry } from "../../drivers/broken/publishBeforeRetry.js";
import { ReadBeginUnderLock } from "../../drivers/broken/readBeginUnderLock.js";
import { ReadRetryOutsideLock } from "../../drivers/broken/readRetryOutsideLock.js";
import { RemoveInCallback } from "../../drivers/broken/removeInCallback.js";
import { SetSeqOutsideLock } from "../../drivers/broken/setSeqOutsideLock.js";
import { SignalTakesLock } from "../../drivers/broken/signalTakesLock.js";
import { SleepNonblockable } from "../../drivers/broken/sleepNonblockable.js";
import { StaleSeq } from "../../drivers/broken/staleSeq.js";
import { UnboundedRetry } from "../../drivers/broken/unboundedRetry.js";
import { UnlockBeforeCompletion } from "../../drivers/broken/unlockBeforeCompletion.js";
import { ValidFlag } from "../../drivers/broken/validFlag.js";
import { cmdqScenario, fenceScenario, ptlockScenario } from "./mirrorWorld.js";
import { streamWorkload } from "./stream.js";
import { WORKLOADS } from "./workloads.js";

const module = import.meta.url;
const { munmap, mprotect, fork } = WORKLOADS;

export const readRetryOutsideLock = ptlockScenario(
  "broken/read-retry-outside-lock",
  "ptlock whose fault checks readRetry before taking the driver lock, racing mprotect: the invalidation " +
    "slips in between, and the fault maps writable a page the CPU made read-only (stale-mapping).",
  ReadRetryOutsideLock,
  mprotect,
  { expect: "stale-mapping", module },
);

export const noSetSeq = ptlockScenario(
  "broken/no-set-seq",
  "ptlock whose invalidate callback zaps but never calls setSeq, racing mprotect: a fault that read the " +
    "pages before the invalidation passes readRetry after it and maps them writable (stale-mapping).",
  NoSetSeq,
  mprotect,
  { expect: "stale-mapping", module },
);

export const setSeqOutsideLock = ptlockScenario(
  "broken/set-seq-outside-lock",
  "ptlock whose invalidate callback calls setSeq after releasing the driver lock, racing mprotect: a " +
    "fault takes the lock in between, still sees the old sequence, and maps writable a page the CPU " +
    "made read-only (stale-mapping). It takes 3 preemptions (the fault stopped before its lock, the " +
    "callback stopped between unlock and setSeq, the fault stopped after programming), so DFS runs " +
    "within 3 and PCT needs depth 4.",
  SetSeqOutsideLock,
  mprotect,
  { expect: "stale-mapping", module, preemptionBound: 3 },
);

export const staleSeq = ptlockScenario(
  "broken/stale-seq",
  "ptlock whose fault calls readBegin once and reuses the sequence on every retry, racing mprotect: after " +
    "one collision every attempt fails, and the fault spins for ever (error: the step bound).",
  StaleSeq,
  mprotect,
  { expect: "error", module },
);

export const publishBeforeRetry = ptlockScenario(
  "broken/publish-before-retry",
  "ptlock that programs the device PTEs before checking readRetry (and undoes them on a collision), " +
    "racing mprotect: the device maps, for a moment, write access the CPU no longer grants (stale-mapping).",
  PublishBeforeRetry,
  mprotect,
  { expect: "stale-mapping", module },
);

export const invalidateNoZap = ptlockScenario(
  "broken/invalidate-no-zap",
  "ptlock whose invalidate callback records the sequence and returns true without zapping, racing " +
    "mprotect: the device keeps write access the CPU no longer has (stale-mapping).",
  InvalidateNoZap,
  mprotect,
  { expect: "stale-mapping", module },
);

export const sleepNonblockable = ptlockScenario(
  "broken/sleep-nonblockable",
  "ptlock whose invalidate callback takes its mutex with lock() even for the OOM reaper's non-blockable " +
    "range (sleep-in-atomic).",
  SleepNonblockable,
  WORKLOADS["oom-reap"],
  { expect: "sleep-in-atomic", module },
);

export const readBeginUnderLock = ptlockScenario(
  "broken/read-begin-under-lock",
  "ptlock whose fault calls readBegin holding the driver lock (D4), racing munmap: readBegin may wait for " +
    "an invalidation whose callback waits for that lock (lock-order: the lock, the invalidate map, the lock).",
  ReadBeginUnderLock,
  munmap,
  { expect: "lock-order", module },
);

export const faultWithoutMmapLock = ptlockScenario(
  "broken/fault-without-mmap-lock",
  "ptlock that calls hmmRangeFault without the mmap lock, racing munmap (warn: hmmRangeFault asserts it).",
  FaultWithoutMmapLock,
  munmap,
  { expect: "warn", module },
);

export const unboundedRetry = ptlockScenario(
  "broken/unbounded-retry",
  "ptlock whose retry loop has no deadline, under a stream of invalidations colliding with every fault: " +
    "it retries for ever (error: the step bound).",
  UnboundedRetry,
  streamWorkload,
  { expect: "error", module },
  { setup: (w, k) => streamWorkload.attach(w, k) },
);

export const missingEnd = ptlockScenario(
  "broken/missing-end",
  "ptlock counting invalidations in flight (up in the interval callback, down at the classic end) whose " +
    "non-blockable callback returns false without counting down, racing the OOM reaper: no end follows " +
    "the failed start, and the device's next fault waits for ever (deadlock).",
  MissingEnd,
  WORKLOADS["oom-reap"],
  { expect: "deadlock", module },
  { perPage: true },
);

export const validFlag = ptlockScenario(
  "broken/valid-flag",
  "The pre-2019 hmm_mirror scheme (a valid flag cleared at invalidate start, set at end), racing " +
    "mprotect: a whole start/end pair between the fault's snapshot and its check leaves the flag set, and " +
    "the stale snapshot (writable) is programmed (stale-mapping).",
  ValidFlag,
  mprotect,
  { expect: "stale-mapping", module },
);

export const removeInCallback = cmdqScenario(
  "broken/remove-in-callback",
  "cmdq whose invalidate callback removes its region's notifier when an UNMAP empties it, racing munmap " +
    "(deadlock: remove waits for the invalidation it is part of).",
  RemoveInCallback,
  munmap,
  { expect: "deadlock", module },
);

export const unlockBeforeCompletion = cmdqScenario(
  "broken/unlock-before-completion",
  "cmdq whose fault releases umem_mutex before the device completed the MAP, racing mprotect: the " +
    "invalidation finds nothing mapped yet, skips the ZAP, and the MAP installs write access the CPU no " +
    "longer grants (stale-mapping).",
  UnlockBeforeCompletion,
  mprotect,
  { expect: "stale-mapping", module },
);

export const fenceBeforeFault = fenceScenario(
  "broken/fence-before-fault",
  "The fence pattern publishing the job's fence before faulting the buffers (D1), racing fork: the " +
    "fence's signalling section reaches the invalidate map, whose callback waits for the fence " +
    "(lock-order), and the submit can deadlock against the invalidation.",
  FenceBeforeFault,
  fork,
  { expect: "lock-order", module },
);

export const allocUnderLock = fenceScenario(
  "broken/alloc-under-lock",
  "The fence pattern allocating with GFP_KERNEL under the notifier lock (D2), racing munmap (lock-order: " +
    "notifier_lock, fs_reclaim, the invalidate map, notifier_lock), though reclaim never runs.",
  AllocUnderLock,
  munmap,
  { expect: "lock-order", module },
);

export const signalTakesLock = fenceScenario(
  "broken/signal-takes-lock",
  "The fence pattern whose job completion takes the notifier lock before signalling (D3), racing munmap " +
    "(lock-order: dma_fence_map, notifier_lock, dma_fence_map; when they meet, a deadlock).",
  SignalTakesLock,
  munmap,
  { expect: "lock-order", module },
);

/** Every broken variant's scenario, in the order of kernel-spec §5-6. */
export const brokenScenarios = [
  readRetryOutsideLock,
  noSetSeq,
  setSeqOutsideLock,
  staleSeq,
  publishBeforeRetry,
  invalidateNoZap,
  sleepNonblockable,
  fenceBeforeFault,
  allocUnderLock,
  signalTakesLock,
  readBeginUnderLock,
  removeInCallback,
  faultWithoutMmapLock,
  validFlag,
  missingEnd,
  unboundedRetry,
  unlockBeforeCompletion,
];
