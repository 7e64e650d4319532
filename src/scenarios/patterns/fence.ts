// The dma_fence pattern (drivers/patterns/fence.ts: amdgpu userptr, DRM VM_BIND) raced with every
// workload: the process submits a write job and a read job over two user-pointer buffers, the GPU
// scheduler runs them and signals their fences, and the mm operation's invalidate callback waits for
// the fences that were published. DFS within 2 preemptions and PCT find no stale mapping, no
// deadlock, and lockdep no dependency between the fence's signalling and the notifier lock.

import { FenceDriver } from "../../drivers/patterns/fence.js";
import { fenceScenario } from "./mirrorWorld.js";
import { WORKLOAD_NAMES, WORKLOADS, type Workload } from "./workloads.js";

const module = import.meta.url;

function vs(wl: Workload) {
  return fenceScenario(
    `fence/vs-${wl.name}`,
    `Races ${wl.what} with the dma_fence pattern (faults first; under the notifier lock every ` +
      `buffer's readRetry, then the job's fence published and the job pushed; the callback waits for ` +
      `published fences) while a GPU job writes one buffer and another reads the second.`,
    FenceDriver,
    wl,
    { expect: "pass", module },
  );
}

/** fence against each workload, in WORKLOAD_NAMES order. */
export const fenceVs = WORKLOAD_NAMES.map((n) => vs(WORKLOADS[n]));
