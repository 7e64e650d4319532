// Broken ptlock (drivers/patterns/ptlock.ts) with one mistake: the fault's retry loop has no
// deadline. readBegin may sleep arbitrarily long under a stream of invalidations and hmmRangeFault's
// -EBUSY can be self-inflicted, so a loop that only stops on success can run for ever.
//
// Seen: kernel-spec §6.3 item 44 (retry loops are bounded by the driver); every in-tree user bounds
// them with HMM_RANGE_DEFAULT_TIMEOUT (nouveau, test_hmm, amdgpu, RDMA ODP).
// Found as: error (the execution passes its step bound: an unbounded retry loop).

import { PtlockMirror } from "../patterns/ptlock.js";

export class UnboundedRetry extends PtlockMirror {
  protected override expired(_deadline: number): boolean {
    // BUG: never gives up.
    return false;
  }
}
