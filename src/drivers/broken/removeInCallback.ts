// Broken cmdq (drivers/patterns/cmdq.ts) with one mistake: when an UNMAP leaves a region with nothing
// mapped, the invalidate callback removes the region's notifier right there. remove() waits for the
// invalidation in flight to end, and the callback is part of it: a self-deadlock.
//
// Seen: mlx5's implicit ODP queues the destruction of an emptied child region to a workqueue,
// because "the notifier cannot be removed from inside its own callback" (kernel-spec §5.b step 6,
// §6.3 item 41).
// Found as: deadlock (remove from a callback is reported, and thrown as EDEADLK).

import { MmuNotifierEvent, type MmuNotifierRange } from "../../notifier/range.js";
import { CmdqMirror, type OdpRegion } from "../patterns/cmdq.js";

export class RemoveInCallback extends CmdqMirror {
  protected override async afterZap(sub: OdpRegion, range: MmuNotifierRange): Promise<void> {
    if (range.event !== MmuNotifierEvent.UNMAP || range.start > sub.start || range.end <= sub.last) return;
    // BUG: from inside the region's own callback (queue it to a worker instead).
    await sub.remove();
  }
}
