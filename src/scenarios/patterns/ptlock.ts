// The ptlock pattern (drivers/patterns/ptlock.ts: nouveau, test_hmm) raced with every workload, with
// several ranges sharing its lock, and under a stream of invalidations that collide with every
// fault: DFS within 2 preemptions and PCT find no stale device mapping, no deadlock, no lock-order
// problem and no outcome Linux would not allow.

import { PtlockMirror } from "../../drivers/patterns/ptlock.js";
import { ptlockScenario } from "./mirrorWorld.js";
import { streamWorkload } from "./stream.js";
import { WORKLOAD_NAMES, WORKLOADS, type Workload } from "./workloads.js";

const module = import.meta.url;

function vs(wl: Workload) {
  return ptlockScenario(
    `ptlock/vs-${wl.name}`,
    `Races ${wl.what} with the ptlock pattern (one driver mutex around setSeq and the zap, and around ` +
      `readRetry and the programming; trylock when the range may not block) while the device writes ` +
      `one page and reads another. The device never keeps a translation the CPU no longer has.`,
    PtlockMirror,
    wl,
    { expect: "pass", module },
  );
}

/** ptlock against each workload, in WORKLOAD_NAMES order. */
export const ptlockVs = WORKLOAD_NAMES.map((n) => vs(WORKLOADS[n]));

export const ptlockRangesVsMunmap = ptlockScenario(
  "ptlock/ranges-vs-munmap",
  "The ptlock pattern with one interval notifier per page, both under the one driver mutex (nouveau: " +
    "many ranges, one GPU page table): the device faults each range separately while munmap's single " +
    "invalidation calls both callbacks, each taking the shared mutex.",
  PtlockMirror,
  WORKLOADS.munmap,
  { expect: "pass", module },
  { perPage: true },
);

export const ptlockVsStream = ptlockScenario(
  "ptlock/vs-stream",
  "The ptlock pattern under a stream of invalidations that collide with every fault (each lands between " +
    "hmmRangeFault and readRetry, then takes 250 ms): the fault retries until its 1000 ms deadline and " +
    "gives up with -EBUSY, so the device's write fails and the stream stops.",
  PtlockMirror,
  streamWorkload,
  { expect: "pass", module },
  { setup: (w, k) => streamWorkload.attach(w, k) },
);
