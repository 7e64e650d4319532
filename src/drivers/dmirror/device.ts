// Follows lib/test_hmm.c (struct dmirror_device, dmirror_fops_open, dmirror_device_remove_chunks): the
// kernel's HMM test device, "dmirror". The module creates /dev/hmm_dmirror0..3; opening one mirrors
// the opener's whole address space through one interval notifier (mirror.ts). Devices 0 and 1 have
// device-private memory, 2 and 3 device-coherent memory; here each `new DmirrorDevice` is one of
// them, and its memory kind only matters to migration.
//
// The device object is its memory's owner cookie (`pagemap.owner`): HMM reports a device-private
// page without faulting it only to the device that owns it (`devPrivateOwner`), and a migration's
// invalidation carries it, so the device ignores its own migrations (fault.ts). Its memory (chunks
// of device pages of its kind, their allocator, `migrate_to_ram`, eviction) is `devmem` (devmem.ts).

import { MmunError } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { DEVMEM_CHUNK_SIZE, DmirrorDevmem } from "./devmem.js";
import { Dmirror } from "./mirror.js";
import { HMM_DMIRROR_MEMORY_DEVICE_COHERENT, HMM_DMIRROR_MEMORY_DEVICE_PRIVATE } from "./uapi.js";

/** Options of {@link DmirrorDevice}. */
export interface DmirrorDeviceOptions {
  /** The device's name (default `hmm_dmirror<N>`, N counting this kernel's devices from 0). */
  name?: string;
  /** Its memory: device-private (the CPU cannot reach it) or device-coherent (it can). */
  memory: "private" | "coherent";
  /**
   * Device pages per memory chunk (default DEVMEM_CHUNK_SIZE / page size, 65,536 with 4 KiB pages,
   * as the kernel's module). Explorer scenarios pass a few pages: the frame numbers a chunk lends
   * are a cost per execution, and nothing but the number of chunks depends on the size.
   */
  chunkPages?: number;
}

/**
 * Devices created on a kernel, for the default names: a property of the kernel, not a module-level
 * WeakMap keyed by it (that would keep each execution's kernel, and all it reaches, alive through
 * young-generation collections: see notifierGlobals.ts).
 */
const DEVICE_COUNT: unique symbol = Symbol("dmirror devices");

/**
 * A dmirror device (kernel `struct dmirror_device`, one `/dev/hmm_dmirrorN`). `open(mm)` gives a
 * {@link Dmirror}: a mirror of that address space, on which the device's commands run.
 */
export class DmirrorDevice {
  readonly kernel: Kernel;
  readonly name: string;
  readonly memory: "private" | "coherent";
  /** `zone_device_type`: HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT. */
  readonly zoneDeviceType: number;
  /** Device pages per memory chunk. */
  readonly chunkPages: number;
  /** The device's memory: chunks, free list, counters (devmem.ts). */
  readonly devmem: DmirrorDevmem;
  /** Mirrors opened so far (names their device page tables). */
  private opened = 0;

  constructor(kernel: Kernel, options: DmirrorDeviceOptions) {
    if (options === null || typeof options !== "object") {
      throw new MmunError("EINVAL", 'DmirrorDevice needs options ({ memory: "private" | "coherent" })');
    }
    const { memory } = options;
    if (memory !== "private" && memory !== "coherent") {
      throw new MmunError(
        "EINVAL",
        `DmirrorDevice: memory must be "private" or "coherent", got ${String(memory)}`,
      );
    }
    const counted = kernel as Kernel & { [DEVICE_COUNT]?: number };
    const n = counted[DEVICE_COUNT] ?? 0;
    counted[DEVICE_COUNT] = n + 1;
    const name = options.name ?? `hmm_dmirror${n}`;
    if (typeof name !== "string" || name.length === 0) {
      throw new MmunError("EINVAL", "DmirrorDevice: the name must be a non-empty string");
    }
    const chunkPages = options.chunkPages ?? Math.floor(DEVMEM_CHUNK_SIZE / kernel.pageSize);
    if (!Number.isSafeInteger(chunkPages) || chunkPages < 1) {
      throw new MmunError(
        "EINVAL",
        `DmirrorDevice: chunkPages must be a positive integer, got ${chunkPages}`,
      );
    }
    this.kernel = kernel;
    this.name = name;
    this.chunkPages = chunkPages;
    this.memory = memory;
    this.zoneDeviceType =
      memory === "private" ? HMM_DMIRROR_MEMORY_DEVICE_PRIVATE : HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
    this.devmem = new DmirrorDevmem(this);
  }

  /**
   * `dmirror_fops_open()`: mirrors `mm`'s whole address space: one interval notifier over all of it
   * and an empty device page table. The caller must not hold `mm.mmapLock` (the notifier's insert
   * may take it). Throws EINVAL for an address space whose last user is gone. Pairs with
   * `mirror.close()`.
   */
  async open(mm: Mm): Promise<Dmirror> {
    const mirror = new Dmirror(this, mm, this.opened++);
    await mirror.insertNotifier();
    return mirror;
  }

  /**
   * `dmirror_device_remove_chunks()` (HMM_DMIRROR_RELEASE): moves every page of the device's memory
   * back to system RAM and removes the memory (new chunks come with the next allocation). May sleep.
   * Returns the pages moved.
   */
  removeChunks(): Promise<number> {
    return this.devmem.removeChunks();
  }

  toString(): string {
    return this.name;
  }
}
