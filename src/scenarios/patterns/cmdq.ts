// The cmdq pattern (drivers/patterns/cmdq.ts: RDMA ODP, mlx5) raced with every workload: the NIC's
// data path faults through the driver, a second device task serves the command queue, and the mm
// operation runs on a third. DFS within 2 preemptions and PCT find nothing wrong.

import { CmdqMirror } from "../../drivers/patterns/cmdq.js";
import { cmdqScenario } from "./mirrorWorld.js";
import { WORKLOAD_NAMES, WORKLOADS, type Workload } from "./workloads.js";

const module = import.meta.url;

function vs(wl: Workload) {
  return cmdqScenario(
    `cmdq/vs-${wl.name}`,
    `Races ${wl.what} with the cmdq pattern (the fault returns holding umem_mutex, posts a MAP command ` +
      `to the queue the device serves and unlocks only once it completed; the invalidation zaps through ` +
      `the same queue; a non-blockable range is declined) while the NIC writes one page and reads ` +
      `another. The NIC never keeps a translation the CPU no longer has.`,
    CmdqMirror,
    wl,
    { expect: "pass", module },
  );
}

/** cmdq against each workload, in WORKLOAD_NAMES order. */
export const cmdqVs = WORKLOAD_NAMES.map((n) => vs(WORKLOADS[n]));
