// Follows mm/memremap.c (memremap_pages, memunmap_pages, zone_device_page_init,
// free_zone_device_folio) and include/linux/memremap.h (struct dev_pagemap, its ops): device memory
// as pools of device frames.
//
// A device driver hands the kernel a range of its memory as a `DevPagemap` with an owner cookie
// (`pgmap->owner`, which hmmRangeFault's `devPrivateOwner` and migrate_vma's `pgmapOwner` compare
// with) and a type:
//   private   MEMORY_DEVICE_PRIVATE: the CPU cannot reach the pages. A page in it is mapped by a
//             device-private entry (not present), and a CPU access faults into the pagemap's
//             `migrateToRam`, which must move the page back to system memory.
//   coherent  MEMORY_DEVICE_COHERENT: the CPU can reach the pages; they are mapped by ordinary
//             present PTEs (copy on write copies straight out of them). Reclaim leaves them alone.
//
// Device frames are frames of `kernel.physMem` lent to the pagemap (physMem.reserveDevice), so their
// numbers never collide with system frames, and a device page has what a system page has: a
// refcount, a mapcount, a reverse map, a page lock and contents. A device-private page holds its own
// contents (the kernel's test driver backs each one with a system page because it has no device
// memory; here the device frame is that backing store). The pagemap's frames are FREED until the
// driver allocates one (`zoneDevicePageInit`: one reference, locked), and when the last reference
// goes the pagemap's `pageFree` gives it back to the driver. `pagesInUse` and physMem's
// `stats().deviceInUse` count the allocated ones, so a leak shows.

import { EFAULT, MmunError } from "../lib/errno.js";
import type { WaitQueue } from "../sync/waitQueue.js";
import { folioTrylock } from "./filemap.js";
import type { Kernel } from "./kernel.js";
import type { DevicePrivateOwner } from "./memory.js";
import type { Mm } from "./mm.js";

/** `MEMORY_DEVICE_PRIVATE`. */
export const MEMORY_DEVICE_PRIVATE = 1;
/** `MEMORY_DEVICE_COHERENT`. */
export const MEMORY_DEVICE_COHERENT = 2;

/** `struct dev_pagemap_ops`. */
export interface DevPagemapOps {
  /**
   * `folio_free`: `frame`'s last reference went; the driver takes it back (its free list). Runs in
   * whatever context dropped the reference: it must not sleep.
   */
  pageFree?(pagemap: DevPagemap, frame: number): void;
  /**
   * `migrate_to_ram`: a CPU access to `addr` of `mm` hit the device-private entry of `frame`. Called
   * with `mm`'s mmap lock held for read, `frame` locked and referenced by the fault; moves the page
   * back to system memory (migrate_vma with `faultPage: frame`). Returns 0 (the access is retried),
   * -ENOMEM (VM_FAULT_OOM) or -EFAULT (VM_FAULT_SIGBUS), or a promise of one.
   */
  migrateToRam?(pagemap: DevPagemap, mm: Mm, addr: number, frame: number): number | Promise<number>;
}

/** What `memremapPages` takes (the fields of `struct dev_pagemap` a driver fills in). */
export interface DevPagemapOptions {
  /** MEMORY_DEVICE_PRIVATE or MEMORY_DEVICE_COHERENT. */
  type: number;
  /** The owner cookie (`pgmap->owner`). */
  owner: unknown;
  /** Pages in the range. */
  nr: number;
  ops?: DevPagemapOps;
  /** A name for messages (default "pagemap"). */
  name?: string;
}

/**
 * `struct dev_pagemap`: a range of device frames, `[first, first + nr)`, of one type and one owner.
 * Make it with `memremapPages`; take it down with `memunmapPages`.
 */
export class DevPagemap implements DevicePrivateOwner {
  readonly kernel: Kernel;
  readonly type: number;
  readonly owner: unknown;
  readonly name: string;
  /** The first device frame. */
  readonly first: number;
  readonly nr: number;
  readonly ops: DevPagemapOps;
  /** Pages allocated by the driver and not yet freed. */
  pagesInUse = 0;
  private gone = false;
  private doneWq: WaitQueue | null = null;

  /** Use `memremapPages`. */
  constructor(kernel: Kernel, options: DevPagemapOptions) {
    const { type, nr } = options;
    if (type !== MEMORY_DEVICE_PRIVATE && type !== MEMORY_DEVICE_COHERENT) {
      throw new MmunError("EINVAL", `memremapPages: unknown memory type ${String(type)}`);
    }
    this.kernel = kernel;
    this.type = type;
    this.owner = options.owner;
    this.name = options.name ?? "pagemap";
    this.nr = nr;
    this.ops = options.ops ?? {};
    this.first = kernel.physMem.reserveDevice(nr, this);
  }

  /** True for MEMORY_DEVICE_PRIVATE. */
  get isPrivate(): boolean {
    return this.type === MEMORY_DEVICE_PRIVATE;
  }

  /** True once `memunmapPages` took it down. */
  get removed(): boolean {
    return this.gone;
  }

  /** @internal physMem calls it when a frame's last reference went (`free_zone_device_folio`). */
  pageFree(frame: number): void {
    this.pagesInUse--;
    this.ops.pageFree?.(this, frame);
    if (this.pagesInUse === 0) this.doneWq?.wakeUpAll();
  }

  /** The CPU fault's entry (DevicePrivateOwner): the ops' `migrateToRam`, or SIGBUS without one. */
  migrateToRam(mm: Mm, addr: number, frame: number): number | Promise<number> {
    const fn = this.ops.migrateToRam;
    if (fn === undefined) return -EFAULT; // VM_FAULT_SIGBUS
    return fn(this, mm, addr, frame);
  }

  /** @internal Sleeps until every page is free (`memunmap_pages` waiting for the pagemap's refs). */
  waitIdle(): undefined | Promise<void> {
    this.doneWq ??= this.kernel.waitQueue("dev_pagemap_done");
    return this.doneWq.waitEvent(() => this.pagesInUse === 0);
  }

  /** @internal */
  markRemoved(): void {
    this.gone = true;
  }

  toString(): string {
    return this.name;
  }
}

/**
 * `memremap_pages()`: makes `nr` device frames of `type`, owned by `owner`, known to the kernel; they
 * start free (the driver allocates them with `zoneDevicePageInit`).
 */
export function memremapPages(kernel: Kernel, options: DevPagemapOptions): DevPagemap {
  if (options === null || typeof options !== "object") {
    throw new MmunError("EINVAL", "memremapPages needs options ({ type, owner, nr })");
  }
  if (!Number.isSafeInteger(options.nr) || options.nr <= 0) {
    throw new MmunError("EINVAL", `memremapPages: nr must be a positive integer, got ${String(options.nr)}`);
  }
  return new DevPagemap(kernel, options);
}

/**
 * `memunmap_pages()`: takes the pagemap down once every page of it is free (sleeping until then, as
 * the kernel waits for the pagemap's references); its frames are never used again. May sleep.
 */
export async function memunmapPages(pagemap: DevPagemap): Promise<void> {
  if (pagemap.removed) throw new MmunError("EINVAL", `memunmapPages: ${pagemap} was already removed`);
  pagemap.kernel.mightSleep("memunmap_pages");
  const w = pagemap.waitIdle();
  if (w !== undefined) await w;
  pagemap.markRemoved();
  pagemap.kernel.physMem.unreserveDevice(pagemap.first);
}

/**
 * `zone_device_page_init()`: the driver allocates device frame `frame` of `pagemap` (which must be
 * free): one reference (the driver's: pairs with a `put`) and the page locked, as migration wants its
 * destination pages.
 */
export function zoneDevicePageInit(pagemap: DevPagemap, frame: number): void {
  if (pagemap.removed || frame < pagemap.first || frame >= pagemap.first + pagemap.nr) {
    throw new MmunError("EINVAL", `zoneDevicePageInit: frame ${frame} is not a frame of ${pagemap}`);
  }
  const k = pagemap.kernel;
  k.physMem.devicePageInit(frame);
  folioTrylock(k, frame);
  pagemap.pagesInUse++;
}
