// The package's root Kernel: the sync layer's SyncKernel (tasks, primitives, lockdep, trace) plus
// physical memory, address spaces, devices' page tables and the coherence oracle.

import { MmunError } from "../lib/errno.js";
import type { MmuNotifierEvent } from "../notifier/range.js";
import { type KernelOptions, SyncKernel } from "../sync/syncKernel.js";
import type { WaitQueue } from "../sync/waitQueue.js";
import { type DeviceMapping, type DeviceMm, DevicePageTable } from "./devicePageTable.js";
import type { DevicePrivateOwner } from "./memory.js";
import { Mm, type MmOptions } from "./mm.js";
import { PTE_DEVICE_PRIVATE, PTE_PRESENT, PTE_WRITE } from "./pageTable.js";
import { PhysMem } from "./physMem.js";

export type { KernelOptions } from "../sync/syncKernel.js";

/**
 * The simulated kernel (see SyncKernel for tasks, the runtime and the primitives), with physical
 * memory (`physMem`), address spaces (`createMm`) and devices' page tables (`devicePageTable`).
 */
export class Kernel extends SyncKernel {
  /** The machine's physical memory. */
  readonly physMem: PhysMem;
  /** Every device page table, in creation order; the oracle checks each at every CPU PTE change. */
  readonly devices: DevicePageTable[] = [];
  private migrationWq: WaitQueue | null = null;
  private readonly deviceOwners = new Map<number, DevicePrivateOwner>();

  constructor(options: KernelOptions = {}) {
    super(options);
    this.physMem = new PhysMem(this.pageSize);
  }

  /**
   * `mm_alloc()`: a new address space with one user (the caller: pair with `mm.mmput()`) and no
   * notifiers.
   */
  createMm(options: MmOptions = {}): Mm {
    return new Mm(this, options);
  }

  /** A device's page table, watched by the coherence oracle from now on. */
  devicePageTable(name: string): DevicePageTable {
    if (typeof name !== "string" || name.length === 0) {
      throw new MmunError("EINVAL", "a device page table needs a non-empty name");
    }
    const d = new DevicePageTable(this, this.physMem, name, (mm, vpn) => cpuTranslation(mm, vpn));
    this.devices.push(d);
    return d;
  }

  /**
   * The coherence oracle, at a CPU PTE change of `mm`'s page `vpn` to `frame` (-1: nothing the CPU
   * may access) with `write`: every device must agree (see devicePageTable.ts).
   */
  checkPteChange(mm: DeviceMm, vpn: number, frame: number, write: boolean, event: MmuNotifierEvent): void {
    const ds = this.devices;
    for (let i = 0; i < ds.length; i++)
      (ds[i] as DevicePageTable).checkPteChange(mm, vpn, frame, write, event);
  }

  /** Where faults on migration entries sleep; woken when a migration ends (`remove_migration_ptes`). */
  get migrationWait(): WaitQueue {
    this.migrationWq ??= this.waitQueue("migration_wait");
    return this.migrationWq;
  }

  /** The owner of device-private frame `deviceFrame` (its `migrateToRam`), if one registered it. */
  devicePrivateOwner(deviceFrame: number): DevicePrivateOwner | undefined {
    return this.deviceOwners.get(deviceFrame);
  }

  /** Registers (or, with undefined, forgets) the owner of a device-private frame (the HMM layer's device memory). */
  setDevicePrivateOwner(deviceFrame: number, owner: DevicePrivateOwner | undefined): void {
    if (owner === undefined) this.deviceOwners.delete(deviceFrame);
    else this.deviceOwners.set(deviceFrame, owner);
  }
}

/** The CPU's translation of `vpn` in `mm` as a device may hold it: a present page, or a device-private page. */
function cpuTranslation(mm: DeviceMm, vpn: number): DeviceMapping | undefined {
  if (!(mm instanceof Mm)) return undefined;
  const fl = mm.pageTable.flagsAt(vpn);
  if ((fl & (PTE_PRESENT | PTE_DEVICE_PRIVATE)) === 0) return undefined;
  return { frame: mm.pageTable.valAt(vpn), write: (fl & PTE_WRITE) !== 0 };
}
