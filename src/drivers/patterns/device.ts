// A device model for the mirror patterns: a device (a GPU running a kernel, an RDMA NIC serving a
// work request) that reads and writes process memory through its own page table, and asks its
// driver to fault a translation in when it misses one, then replays the access, as GPUs with
// recoverable page faults (nouveau's replayable faults) and RDMA ODP do. No kernel file: in Linux the
// device is hardware.

import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Mm } from "../../mm/mm.js";

/** One access of the device: a 32-bit read, or a write of `value`, at `addr` (4-aligned). */
export interface DeviceAccess {
  addr: number;
  write: boolean;
  value?: number;
}

/** What the device sees of one access: `ret` 0 and the word read (reads), or the fault's errno. */
export interface AccessResult {
  ret: number;
  value: number | undefined;
}

/** What the device needs of its driver: the page table it translates through, and a fault handler. */
export interface FaultingMirror {
  readonly mm: Mm;
  readonly pt: DevicePageTable;
  /**
   * Makes the device map `addr` (writable when `write`); 0, or a negative errno the access then
   * fails with. Called from the device's task, holding nothing.
   */
  fault(addr: number, write: boolean): Promise<number>;
}

/**
 * The device: runs its accesses in order, each through its page table, faulting and replaying a
 * missed one until it hits or the fault fails. Run it as the device's own task:
 * `kernel.spawn("gpu", () => device.run(accesses))`.
 */
export class MirrorDevice {
  /** One result per access run so far. */
  readonly results: AccessResult[] = [];
  /** Faults raised (misses), for tests. */
  faults = 0;

  constructor(readonly mirror: FaultingMirror) {}

  /** Runs `accesses` in order; returns their results. */
  async run(accesses: readonly DeviceAccess[]): Promise<AccessResult[]> {
    const { mm, pt } = this.mirror;
    for (const a of accesses) {
      let ret = 0;
      // A hit completes at once; a miss faults, and the access is replayed (another invalidation
      // may have zapped the translation again in between: then it faults again).
      while (pt.access(mm, a.addr, a.write) !== 0) {
        this.faults++;
        ret = await this.mirror.fault(a.addr, a.write);
        if (ret !== 0) break;
      }
      if (ret !== 0) this.results.push({ ret, value: undefined });
      else if (a.write) this.results.push({ ret: pt.write32(mm, a.addr, a.value ?? 0), value: undefined });
      else this.results.push({ ret: 0, value: pt.read32(mm, a.addr) });
    }
    return this.results;
  }
}
