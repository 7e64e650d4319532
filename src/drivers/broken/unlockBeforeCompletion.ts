// Broken cmdq (drivers/patterns/cmdq.ts) with one mistake: the page fault posts the MAP command and
// releases umem_mutex without waiting for the device to complete it. An invalidation can then take
// the mutex while the MAP is still queued, find nothing mapped (the region's count is updated only
// on completion), skip the ZAP, and let the PTEs change; the MAP then installs what is stale.
//
// Seen: the 2019 thread (reference/000_fdc4474da060c8f9.txt): "mlx5 is similar, but not currently
// coded quite right"; the rule is kernel-spec §5.b step 5: the mutex is held until the device
// update has completed.
// Found as: stale-mapping.

import type { HmmRange } from "../../hmm/hmm.js";
import type { Mm } from "../../mm/mm.js";
import { CmdqMirror, type OdpRegion } from "../patterns/cmdq.js";

export class UnlockBeforeCompletion extends CmdqMirror {
  protected override async updateXlt(sub: OdpRegion, range: HmmRange<Mm>): Promise<void> {
    const cmd = this.mapCommand(range);
    this.queue.post(cmd);
    // BUG: unlocked before the device completed the MAP.
    this.umemMutex.unlock();
    const w = cmd.done.wait();
    if (w !== undefined) await w;
    sub.account(range.start, range.end, true);
  }
}
