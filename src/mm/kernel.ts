// The package's root Kernel: the sync layer's SyncKernel (tasks, primitives, lockdep, trace) plus
// physical memory (with device memory, memremap.ts), address spaces, devices' page tables and the
// coherence oracle.

import { MmunError } from "../lib/errno.js";
import type { MmuNotifierEvent } from "../notifier/range.js";
import { type KernelOptions, SyncKernel } from "../sync/syncKernel.js";
import type { WaitQueue } from "../sync/waitQueue.js";
import {
  CPU_EXCLUSIVE,
  CPU_MIGRATING,
  CPU_WRITE,
  type CpuView,
  type DeviceMm,
  DevicePageTable,
  type DevicePageTableOptions,
} from "./devicePageTable.js";
import type { DevicePrivateOwner } from "./memory.js";
import { type DevPagemap, MEMORY_DEVICE_PRIVATE } from "./memremap.js";
import { Mm, type MmOptions } from "./mm.js";
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_WRITE,
} from "./pageTable.js";
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
  private folioWq: WaitQueue | null = null;

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

  /**
   * A device's page table, watched by the coherence oracle from now on. `options.owner` is the
   * device's memory owner cookie, when it has device memory (see DevicePageTable).
   */
  devicePageTable(name: string, options: DevicePageTableOptions = {}): DevicePageTable {
    if (typeof name !== "string" || name.length === 0) {
      throw new MmunError("EINVAL", "a device page table needs a non-empty name");
    }
    const d = new DevicePageTable(this, this.physMem, name, (mm, vpn) => cpuTranslation(mm, vpn), options);
    this.devices.push(d);
    return d;
  }

  /**
   * The coherence oracle, at a CPU PTE change of `mm`'s page `vpn`: `frame` is what a device may
   * now translate the page to (-1: nothing), `write` whether it may write, `exclusive` whether the
   * PTE is a device-exclusive entry (only atomic translations go with it). `owner` is the owner of
   * the migration that made the change, if one did. Every device must agree (see devicePageTable.ts).
   */
  checkPteChange(
    mm: DeviceMm,
    vpn: number,
    frame: number,
    write: boolean,
    event: MmuNotifierEvent,
    exclusive = false,
    owner?: unknown,
  ): void {
    const ds = this.devices;
    for (let i = 0; i < ds.length; i++)
      (ds[i] as DevicePageTable).checkPteChange(mm, vpn, frame, write, event, exclusive, owner);
  }

  /** Where faults on migration entries sleep; woken when a migration ends (`remove_migration_ptes`). */
  get migrationWait(): WaitQueue {
    this.migrationWq ??= this.waitQueue("migration_wait");
    return this.migrationWq;
  }

  /** Where page-lock waiters sleep (`folio_wait_locked`, filemap.ts); woken by every unlock. */
  get folioWait(): WaitQueue {
    this.folioWq ??= this.waitQueue("folio_wait");
    return this.folioWq;
  }

  /** The device pagemap device frame `frame` belongs to (private or coherent), or undefined. */
  pagemapOf(frame: number): DevPagemap | undefined {
    return this.physMem.deviceOwnerOf(frame) as DevPagemap | undefined;
  }

  /**
   * The owner of device-private frame `deviceFrame` (its pagemap: the owner cookie and
   * `migrateToRam`), or undefined for any other frame.
   */
  devicePrivateOwner(deviceFrame: number): DevicePrivateOwner | undefined {
    const p = this.physMem.deviceOwnerOf(deviceFrame) as DevPagemap | undefined;
    return p !== undefined && p.type === MEMORY_DEVICE_PRIVATE ? p : undefined;
  }
}

/**
 * The CPU's translation of `vpn` in `mm` as a device may hold it: a present page or a device-private
 * page; a device-exclusive entry (for atomic translations only); a migration entry (a page moving:
 * the device that moves it maps the destination before the CPU PTE names it, checked when the entry
 * is replaced).
 */
function cpuTranslation(mm: DeviceMm, vpn: number): CpuView {
  if (!(mm instanceof Mm)) return -1;
  const fl = mm.pageTable.flagsAt(vpn);
  if ((fl & (PTE_PRESENT | PTE_DEVICE_PRIVATE | PTE_DEVICE_EXCLUSIVE | PTE_MIGRATION)) === 0) return -1;
  return (
    mm.pageTable.valAt(vpn) * 8 +
    (fl & PTE_WRITE ? CPU_WRITE : 0) +
    (fl & PTE_DEVICE_EXCLUSIVE ? CPU_EXCLUSIVE : 0) +
    (fl & PTE_MIGRATION ? CPU_MIGRATING : 0)
  );
}
