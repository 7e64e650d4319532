// Follows lib/test_hmm.c (struct dmirror_chunk, dmirror_allocate_chunk, dmirror_devmem_alloc_page,
// dmirror_devmem_free, dmirror_device_evict_chunk, dmirror_device_remove_chunks,
// dmirror_devmem_fault, dmirror_devmem_fault_alloc_and_copy): a dmirror device's memory.
//
// The memory comes in chunks of DEVMEM_CHUNK_SIZE (256 MiB; the device's `chunkPages` may say fewer),
// each a device pagemap (memremap.ts) of the device's kind, private or coherent, whose owner is the
// device. The kernel module creates one
// chunk per device at load time; here a device creates its first chunk when it first needs a page
// (nothing observable depends on when). Pages are handed out from a free list (the last freed first)
// and then from the chunk's never-used frames; a page that loses its last reference comes back to the
// free list (`dmirror_devmem_free`), unless its chunk is being removed. Each allocated page remembers
// the mirror (open file) that migrated it there (`zone_device_data`), whose device page table a CPU
// fault-back clears.
//
// The kernel backs each device-private page with a system page ("rpage") to fake device memory;
// here the device frame holds its contents itself (memremap.ts), so there is no backing page.
//
// Eviction (close and HMM_DMIRROR_RELEASE): every page of a chunk that is in use moves back to system
// memory, wherever it is mapped (migrate_device_range: a CLEAR invalidation per mapping), into pages
// allocated without fail. A page locked by a migration in flight is skipped by the eviction (that
// migration decides where it ends up); removing a chunk then waits until its last page is free.

import {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  type MigrateDevice,
  type MigrateVma,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaInit,
  migrateVmaPages,
  migrateVmaSetup,
} from "../../hmm/migrateDevice.js";
import { EFAULT, ENOMEM } from "../../lib/errno.js";
import { folioTrylock } from "../../mm/filemap.js";
import {
  type DevPagemap,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  zoneDevicePageInit,
} from "../../mm/memremap.js";
import type { Mm } from "../../mm/mm.js";
import type { Mutex } from "../../sync/mutex.js";
import type { DmirrorDevice } from "./device.js";
import type { Dmirror } from "./mirror.js";
import { HMM_DMIRROR_FLAG_FAIL_ALLOC } from "./uapi.js";

/** `DEVMEM_CHUNK_SIZE`: bytes of device memory per chunk (256 MiB). */
export const DEVMEM_CHUNK_SIZE = 256 * 1024 * 1024;

/** `struct dmirror_chunk`: one pagemap of device memory. */
export interface DmirrorChunk {
  readonly pagemap: DevPagemap;
  /** Being removed: its freed pages do not go back to the free list. */
  remove: boolean;
  /** The first frame never handed out (frames from it to the end are free). */
  next: number;
}

/** A device's memory: its chunks, its free list and its counters (part of `struct dmirror_device`). */
export class DmirrorDevmem {
  readonly chunks: DmirrorChunk[] = [];
  /** `calloc`: pages allocated so far. */
  calloc = 0;
  /** `cfree`: pages freed back to the free list so far. */
  cfree = 0;
  /** `devmem_lock`: serialises adding and removing chunks. */
  readonly devmemLock: Mutex;
  /** `free_pages`: freed pages, the last freed on top. */
  private readonly freePages: number[] = [];
  private readonly byPagemap = new Map<DevPagemap, DmirrorChunk>();
  /** `zone_device_data` of each allocated page: the mirror that migrated it. */
  private readonly migratedBy = new Map<number, Dmirror>();

  constructor(readonly device: DmirrorDevice) {
    this.devmemLock = device.kernel.mutex("devmem_lock");
  }

  /** Device pages currently allocated (over every chunk). */
  get pagesInUse(): number {
    let n = 0;
    for (const c of this.chunks) n += c.pagemap.pagesInUse;
    return n;
  }

  /** The chunk device frame `frame` belongs to, or undefined. */
  chunkOf(frame: number): DmirrorChunk | undefined {
    const p = this.device.kernel.pagemapOf(frame);
    return p === undefined ? undefined : this.byPagemap.get(p);
  }

  /** The mirror that migrated device page `frame` (`rpage->zone_device_data`), if it is this device's. */
  mirrorOf(frame: number): Dmirror | undefined {
    return this.migratedBy.get(frame);
  }

  /** `dmirror_allocate_chunk()`: a new chunk of the device's kind, all of it free. */
  private allocateChunk(): DmirrorChunk {
    const dev = this.device;
    const k = dev.kernel;
    const nr = dev.chunkPages;
    const pagemap = memremapPages(k, {
      type: dev.memory === "private" ? MEMORY_DEVICE_PRIVATE : MEMORY_DEVICE_COHERENT,
      owner: dev,
      nr,
      name: `${dev.name} chunk ${this.chunks.length}`,
      ops: {
        pageFree: (_p, frame) => this.pageFree(frame),
        migrateToRam: (_p, mm, addr, frame) => dmirrorDevmemFault(this, mm, addr, frame),
      },
    });
    const chunk: DmirrorChunk = { pagemap, remove: false, next: pagemap.first };
    this.chunks.push(chunk);
    this.byPagemap.set(pagemap, chunk);
    return chunk;
  }

  /**
   * `dmirror_devmem_alloc_page()`: a device page for `mirror` (locked, one reference: the
   * migration's destination), from the free list, else a chunk's unused frames, else a new chunk.
   */
  allocPage(mirror: Dmirror): number {
    let frame = this.freePages.pop();
    let chunk: DmirrorChunk | undefined;
    if (frame !== undefined) {
      chunk = this.chunkOf(frame) as DmirrorChunk;
    } else {
      chunk = this.chunks.find((c) => !c.remove && c.next < c.pagemap.first + c.pagemap.nr);
      chunk ??= this.allocateChunk();
      frame = chunk.next++;
    }
    zoneDevicePageInit(chunk.pagemap, frame);
    this.calloc++;
    this.migratedBy.set(frame, mirror);
    return frame;
  }

  /** `dmirror_devmem_free()`: `frame`'s last reference went: back on the free list. */
  private pageFree(frame: number): void {
    this.migratedBy.delete(frame);
    const chunk = this.chunkOf(frame);
    if (chunk === undefined || chunk.remove) return;
    this.cfree++;
    this.freePages.push(frame);
  }

  /**
   * `dmirror_device_evict_chunk()`: moves every page of `chunk` in use back to system memory (see
   * the header). Returns the pages moved.
   */
  async evictChunk(chunk: DmirrorChunk): Promise<number> {
    const k = this.device.kernel;
    const pm = k.physMem;
    const first = chunk.pagemap.first;
    const npages = chunk.next - first;
    if (npages === 0 || chunk.pagemap.pagesInUse === 0) return 0;
    const m: MigrateDevice = {
      src: new Uint32Array(npages),
      srcFlags: new Uint8Array(npages),
      dst: new Uint32Array(npages),
      dstFlags: new Uint8Array(npages),
      npages,
    };
    await migrateDeviceRange(k, m, first, npages);
    let moved = 0;
    for (let i = 0; i < npages; i++) {
      const sf = m.srcFlags[i] as number;
      if (!(sf & MIGRATE_PFN_VALID) || !(sf & MIGRATE_PFN_MIGRATE)) continue;
      const spage = m.src[i] as number;
      // alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL), locked.
      const dpage = pm.alloc(true);
      folioTrylock(k, dpage);
      m.dst[i] = dpage;
      m.dstFlags[i] = MIGRATE_PFN_VALID | (sf & MIGRATE_PFN_WRITE);
      pm.copy(spage, dpage);
      moved++;
    }
    migrateDevicePages(k, m);
    await migrateDeviceFinalize(k, m);
    return moved;
  }

  /** The eviction in `dmirror_fops_release()`: every chunk, which stays. Returns the pages moved. */
  async evictAll(): Promise<number> {
    let moved = 0;
    for (const chunk of [...this.chunks]) moved += await this.evictChunk(chunk);
    return moved;
  }

  /**
   * `dmirror_device_remove_chunks()`: under `devmem_lock`, every chunk is marked for removal, its
   * free pages taken off the free list, its pages evicted, and the chunk unmapped once its last page
   * is free. Returns the pages moved.
   */
  async removeChunks(): Promise<number> {
    const l = this.devmemLock.lock();
    if (l !== undefined) await l;
    let moved = 0;
    try {
      for (const chunk of this.chunks) {
        chunk.remove = true;
        // dmirror_remove_free_pages
        for (let i = this.freePages.length - 1; i >= 0; i--) {
          if (this.chunkOf(this.freePages[i] as number) === chunk) this.freePages.splice(i, 1);
        }
        moved += await this.evictChunk(chunk);
        await memunmapPages(chunk.pagemap);
        this.byPagemap.delete(chunk.pagemap);
      }
      this.chunks.length = 0;
      this.freePages.length = 0;
    } finally {
      this.devmemLock.unlock();
    }
    return moved;
  }
}

/** `dmirror_select_device()`: the selection of the device's own pages. */
export function dmirrorSelectDevice(device: DmirrorDevice): number {
  return device.memory === "private" ? MIGRATE_VMA_SELECT_DEVICE_PRIVATE : MIGRATE_VMA_SELECT_DEVICE_COHERENT;
}

/**
 * `dmirror_devmem_fault_alloc_and_copy()`: a system page (locked) for every device page collected by
 * `args`, its contents copied, and the page erased from `mirror`'s device page table. The one-shot
 * HMM_DMIRROR_FLAG_FAIL_ALLOC of `mirror` fails the allocation. Returns 0, or -ENOMEM (VM_FAULT_OOM)
 * at the first page that gets no system page.
 */
export function dmirrorDevmemFaultAllocAndCopy(args: MigrateVma, mirror: Dmirror | undefined): number {
  const k = args.mm.kernel;
  const pm = k.physMem;
  const ps = k.pageSize;
  for (let i = 0; i < args.npages; i++) {
    const sf = args.srcFlags[i] as number;
    if (!(sf & MIGRATE_PFN_VALID) || !(sf & MIGRATE_PFN_MIGRATE)) continue;
    const spage = args.src[i] as number;
    if (!pm.isDevice(spage)) {
      k.warn(
        `${mirror ?? "dmirror"}: ${pm.describe(spage)} migrates to system memory but is not a device page`,
      );
      continue;
    }
    args.dstFlags[i] = sf & MIGRATE_PFN_WRITE;
    let dpage = -ENOMEM;
    if (mirror !== undefined && mirror.flagBits & HMM_DMIRROR_FLAG_FAIL_ALLOC) {
      mirror.flagBits &= ~HMM_DMIRROR_FLAG_FAIL_ALLOC;
    } else {
      dpage = pm.alloc();
    }
    if (dpage < 0) return -ENOMEM;
    folioTrylock(k, dpage); // lock_page(dpage)
    args.dst[i] = dpage;
    args.dstFlags[i] = (args.dstFlags[i] as number) | MIGRATE_PFN_VALID;
    mirror?.pt.unmap(args.mm, args.start + i * ps); // xa_erase
    pm.copy(spage, dpage);
  }
  return 0;
}

/**
 * `dmirror_devmem_fault()`: the pagemap's `migrate_to_ram`: a CPU access to `addr` of `mm` hit the
 * device-private entry of `frame`, locked and referenced by the fault. One page migrates back to
 * system memory (migrate_vma with the fault page), erased from the device page table of the mirror
 * that put it there. Returns 0, -ENOMEM (VM_FAULT_OOM) or -EFAULT (VM_FAULT_SIGBUS).
 */
export async function dmirrorDevmemFault(
  devmem: DmirrorDevmem,
  mm: Mm,
  addr: number,
  frame: number,
): Promise<number> {
  const ps = mm.kernel.pageSize;
  const start = addr - (addr % ps);
  const vma = mm.vmas.find(start);
  if (vma === undefined) return -EFAULT;
  const mirror = devmem.mirrorOf(frame);
  const device = devmem.device;
  const args = migrateVmaInit(mm, vma, start, start + ps, dmirrorSelectDevice(device), device);
  args.faultPage = frame;
  // In practice setup fails only when the test is wrong: it checks static properties of the area.
  if ((await migrateVmaSetup(args)) !== 0) return -EFAULT;
  const r = dmirrorDevmemFaultAllocAndCopy(args, mirror);
  if (r !== 0) {
    await migrateVmaFinalize(args);
    return r;
  }
  await migrateVmaPages(args);
  // No device finalize step: the copy above already erased the device page table entry.
  await migrateVmaFinalize(args);
  return 0;
}
