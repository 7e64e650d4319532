// Follows include/linux/mm_types.h (struct page: refcount, mapcount, PG_locked), mm/page_alloc.c (the
// page allocator) and mm/swapfile.c (swap slots): the machine's physical memory.
//
// A frame is a number. Its metadata lives in parallel arrays indexed by it (a `struct page` in about
// 30 bytes), grown by doubling. Contents are kept only for frames that hold data: a frame's
// bytes sit in a slot of a pooled arena (256 KiB chunks, the first one grown from one page), assigned
// on its first write and returned when the frame is freed; a frame without a slot reads as zeroes. A
// returned slot keeps the range that was written, zeroed when the slot is handed out again (unless the
// first write covers the whole page: a copy then costs one pass over the bytes). Frame 0 is the shared
// zero page: never written, never freed. The explorer builds a fresh machine for every execution, so
// an empty one starts small (8 frames, no contents) and costs little to make.
//
// Freed frames are poisoned (state FREED) and queued: allocation reuses the frame freed longest ago
// only once FREE_RESERVE frames wait, so a device that keeps a freed frame mapped touches a poisoned
// frame (the oracle reports `use-after-free`) for as long as possible before the number is reused.
//
// Device memory (memremap.ts) takes ranges of frame numbers from the same space, so a device frame
// never has a system frame's number: `reserveDevice` hands out a range without touching the arrays,
// but the system frames allocated afterwards are numbered above it, so the arrays then grow past the
// whole range (a 256 MiB chunk: 65,536 entries each; dmirror's `chunkPages` keeps the explorer's
// fresh machines small). A device frame is FREED until its driver
// allocates it (`devicePageInit`, the kernel's zone_device_page_init) and again when its last
// reference goes, when its owner (the pagemap) takes it back instead of the allocator. Device frames
// are counted apart: `stats().deviceInUse`.

import { ENOMEM, MmunError } from "../lib/errno.js";
import { smallBuffers } from "../lib/slab.js";

/** A frame's life. */
export const FRAME_FREED = 0;
/** Allocated and in use (anonymous memory, a page being migrated, a device page's RAM copy…). */
export const FRAME_USED = 1;
/** The shared zero page. */
export const FRAME_ZERO = 2;
/** A device page allocated by its driver (memremap.ts). */
export const FRAME_DEVICE = 3;

/** `PG_locked` in `PhysMem.pageFlags`: the page is locked (filemap.ts). */
export const PG_LOCKED = 1;

/** The frame number of the shared zero page. */
export const ZERO_FRAME = 0;

/** Frames a chunk of the contents arena holds. */
const CHUNK_SLOTS = 64;
/** Freed frames kept poisoned before their numbers are reused. */
const FREE_RESERVE = 1024;
const INITIAL_FRAMES = 8;

/** What physMem reports for accounting and leak tests. */
export interface PhysMemStats {
  /** Frames allocated and not yet freed (the zero page excluded). */
  inUse: number;
  /** System frame numbers ever allocated (device ranges excluded). */
  allocated: number;
  /** Frames holding contents. */
  withData: number;
  /** Swap slots in use. */
  swapSlots: number;
  /** Device pages allocated by their drivers and not yet freed (memremap.ts). */
  deviceInUse: number;
}

/** Who takes a device frame back when its last reference goes (a device pagemap, memremap.ts). */
export interface DeviceFrameOwner {
  /** `free_zone_device_folio`: frame `f` is free again (the driver puts it on its free list). */
  pageFree(f: number): void;
}

/** A range of frame numbers lent to device memory. */
interface DeviceRange {
  first: number;
  end: number;
  owner: DeviceFrameOwner | undefined;
}

/**
 * Physical memory: frames with refcount and mapcount, their contents, the zero page, the free
 * queue, swap slots and allocation-failure injection.
 */
export class PhysMem {
  readonly pageSize: number;
  /** `page_ref_count`: references (mappings, page-table walkers, migration, swap cache). */
  refcount = new Int32Array(INITIAL_FRAMES);
  /** `page_mapcount`: PTEs mapping the frame. */
  mapcount = new Int32Array(INITIAL_FRAMES);
  /** FRAME_FREED / FRAME_USED / FRAME_ZERO / FRAME_DEVICE. */
  state = new Uint8Array(INITIAL_FRAMES);
  /** Page flags: PG_LOCKED (filemap.ts). */
  pageFlags = new Uint8Array(INITIAL_FRAMES);
  /** The contents slot of each frame, or -1 (reads as zeroes). */
  slot = new Int32Array(INITIAL_FRAMES).fill(-1);
  /**
   * Reverse map (rmap.ts): the first mapping's address space (struct page's `mapping`), or undefined.
   * Kept as long as the typed arrays (a sparse array would fall back to slow dictionary elements).
   */
  rmapMm: (object | undefined)[] = new Array<object | undefined>(INITIAL_FRAMES).fill(undefined);
  /** Reverse map: the first mapping's address (struct page's `index`). */
  rmapAddr = new Float64Array(INITIAL_FRAMES);
  /** Reverse map: the further mappings of frames mapped more than once (after fork). */
  readonly rmapMore = new Map<number, { mm: object; addr: number }[]>();
  /**
   * Reverse map of migration entries (rmap.ts): the entries of each frame that has some, first first.
   * A map, not per-frame arrays: migration entries live only while a migration runs, so few frames
   * have any, and a mapped page pays nothing for them.
   */
  readonly migration = new Map<number, { mm: object; addr: number }[]>();
  /** Frames allocated so far (frame numbers below it exist). */
  private top = 1;
  private readonly freed: number[] = [];
  private freedHead = 0;
  private readonly chunks: Uint8Array[] = [];
  private readonly freeSlots: number[] = [];
  /** Per contents slot, the bytes ever written: [dirtyLo, dirtyHi). Only those are zeroed at reuse. */
  private dirtyLo = new Int32Array(0);
  private dirtyHi = new Int32Array(0);
  private slotsUsed = 0;
  private inUseCount = 0;
  private deviceInUseCount = 0;
  /** Frame numbers lent to device memory. */
  private deviceFrames = 0;
  /** Ranges lent to device memory, ascending (frames numbers only grow). */
  private readonly deviceRanges: DeviceRange[] = [];
  private failures = 0;
  /** Swap slots: contents of swapped-out pages, and how many swap entries name each. */
  private readonly swapData = new Map<number, { bytes: Uint8Array | null; count: number }>();
  private nextSwap = 1;

  constructor(pageSize: number) {
    this.pageSize = pageSize;
    this.state[ZERO_FRAME] = FRAME_ZERO;
    this.refcount[ZERO_FRAME] = 1;
  }

  /** Accounting: frames in use, contents held, swap slots. */
  stats(): PhysMemStats {
    return {
      inUse: this.inUseCount,
      allocated: this.top - 1 - this.deviceFrames,
      withData: this.slotsUsed - this.freeSlots.length,
      swapSlots: this.swapData.size,
      deviceInUse: this.deviceInUseCount,
    };
  }

  /** Makes the next `n` allocations fail with -ENOMEM (one-shot failure injection). */
  failNextAllocations(n = 1): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new MmunError("EINVAL", `failNextAllocations needs a non-negative integer, got ${n}`);
    }
    this.failures = n;
  }

  /**
   * `alloc_page()`: a zero-filled frame with one reference (the caller's), or -ENOMEM when an
   * injected failure is due (never with `noFail`: `__GFP_NOFAIL`).
   */
  alloc(noFail = false): number {
    if (this.failures > 0 && !noFail) {
      this.failures--;
      return -ENOMEM;
    }
    let f: number;
    if (this.freed.length - this.freedHead > FREE_RESERVE) {
      f = this.freed[this.freedHead++] as number;
      if (this.freedHead > 4096 && this.freedHead * 2 > this.freed.length) {
        this.freed.splice(0, this.freedHead);
        this.freedHead = 0;
      }
    } else {
      f = this.top++;
      if (f >= this.state.length) this.grow(f + 1);
    }
    this.state[f] = FRAME_USED;
    this.refcount[f] = 1;
    this.mapcount[f] = 0;
    this.inUseCount++;
    return f;
  }

  /** `get_page()`: one more reference. Pairs with `put`. */
  get(f: number): void {
    this.refcount[f] = (this.refcount[f] as number) + 1;
  }

  /** `put_page()`: one reference fewer; the last frees the frame. Pairs with `get` / `alloc`. */
  put(f: number): void {
    if (f === ZERO_FRAME) return;
    const r = (this.refcount[f] as number) - 1;
    const st = this.state[f];
    if (r < 0 || (st !== FRAME_USED && st !== FRAME_DEVICE)) {
      throw new MmunError("EINVAL", `put_page on frame ${f}, which is ${this.describe(f)} (unbalanced)`);
    }
    this.refcount[f] = r;
    if (r === 0) {
      if (st === FRAME_DEVICE) this.freeDevice(f);
      else this.free(f);
    }
  }

  /** Drops `f`'s metadata and contents (the slot goes back to the pool, its written range noted). */
  private release(f: number): void {
    const s = this.slot[f] as number;
    if (s >= 0) {
      this.freeSlots.push(s);
      this.slot[f] = -1;
    }
    this.state[f] = FRAME_FREED;
    this.mapcount[f] = 0;
    this.pageFlags[f] = 0;
    this.rmapMm[f] = undefined;
    this.rmapMore.delete(f);
  }

  private free(f: number): void {
    this.release(f);
    this.inUseCount--;
    this.freed.push(f);
  }

  /** `free_zone_device_folio()`: a device frame's last reference went; its owner takes it back. */
  private freeDevice(f: number): void {
    this.release(f);
    this.deviceInUseCount--;
    this.deviceRangeOf(f)?.owner?.pageFree(f);
  }

  /** True while `f` is allocated (or the zero page, or an allocated device page). */
  isLive(f: number): boolean {
    if (f < 0 || f >= this.top) return false;
    const st = this.state[f];
    return st === FRAME_USED || st === FRAME_ZERO || st === FRAME_DEVICE;
  }

  /** True when `f` belongs to device memory (allocated or not). */
  isDevice(f: number): boolean {
    return this.deviceRangeOf(f) !== undefined;
  }

  /** "frame 12 (in use, 2 refs, 1 map)" and the like, for messages. */
  describe(f: number): string {
    if (f === ZERO_FRAME) return "the zero page";
    if (f < 0 || f >= this.top) return `frame ${f}, which does not exist`;
    const device = this.isDevice(f) ? "device " : "";
    if (!this.isLive(f)) return `${device}frame ${f} (freed)`;
    return `${device}frame ${f} (${this.refcount[f]} refs, ${this.mapcount[f]} maps)`;
  }

  // ---- device memory (memremap.ts) ----

  /**
   * Lends `n` fresh frame numbers to device memory (`memremap_pages`); returns the first. They stay
   * FREED (not live) until `devicePageInit`; the last `put` of one calls `owner.pageFree`.
   */
  reserveDevice(n: number, owner: DeviceFrameOwner): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new MmunError("EINVAL", `reserveDevice needs a positive page count, got ${n}`);
    }
    const first = this.top;
    this.top += n;
    this.deviceFrames += n;
    this.deviceRanges.push({ first, end: first + n, owner });
    return first;
  }

  /** `memunmap_pages`: the range starting at `first` is no one's any more; its frames stay unusable. */
  unreserveDevice(first: number): void {
    const r = this.deviceRangeOf(first);
    if (r === undefined || r.first !== first) {
      throw new MmunError("EINVAL", `unreserveDevice: no device range starts at frame ${first}`);
    }
    r.owner = undefined;
  }

  /** The owner of device frame `f` (its pagemap), or undefined for a system frame. */
  deviceOwnerOf(f: number): DeviceFrameOwner | undefined {
    return this.deviceRangeOf(f)?.owner;
  }

  private deviceRangeOf(f: number): DeviceRange | undefined {
    const rs = this.deviceRanges;
    if (rs.length === 0 || f < (rs[0] as DeviceRange).first) return undefined;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((rs[mid] as DeviceRange).first <= f) lo = mid;
      else hi = mid - 1;
    }
    const r = rs[lo] as DeviceRange;
    return f < r.end ? r : undefined;
  }

  /**
   * `zone_device_page_init()`: device frame `f` is allocated by its driver: one reference (the
   * driver's), no mapping, no contents.
   */
  devicePageInit(f: number): void {
    const r = this.deviceRangeOf(f);
    if (r === undefined || r.owner === undefined || this.isLive(f)) {
      throw new MmunError("EINVAL", `devicePageInit: ${this.describe(f)} is not a free device frame`);
    }
    if (f >= this.state.length) this.grow(f + 1);
    this.state[f] = FRAME_DEVICE;
    this.refcount[f] = 1;
    this.mapcount[f] = 0;
    this.pageFlags[f] = 0;
    this.deviceInUseCount++;
  }

  // ---- contents ----

  private bytesOfSlot(s: number): Uint8Array {
    const chunk = this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array;
    const off = (s % CHUNK_SLOTS) * this.pageSize;
    return chunk.subarray(off, off + this.pageSize);
  }

  /** `f`'s contents slot, giving it one first; never for the zero page. Marks `[lo, hi)` as written. */
  private slotOf(f: number, lo: number, hi: number): number {
    let s = this.slot[f] as number;
    if (s < 0) {
      s = this.freeSlots.pop() ?? this.newSlot();
      this.slot[f] = s;
      // A slot handed out again still holds what its last frame wrote: zero it, unless this write
      // covers the whole page.
      const dlo = this.dirtyLo[s] as number;
      const dhi = this.dirtyHi[s] as number;
      if (dhi > dlo) {
        if (lo > 0 || hi < this.pageSize) {
          const base = (s % CHUNK_SLOTS) * this.pageSize;
          (this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array).fill(0, base + dlo, base + dhi);
        }
        this.dirtyLo[s] = this.pageSize;
        this.dirtyHi[s] = 0;
      }
    }
    if (lo < (this.dirtyLo[s] as number)) this.dirtyLo[s] = lo;
    if (hi > (this.dirtyHi[s] as number)) this.dirtyHi[s] = hi;
    return s;
  }

  private newSlot(): number {
    const s = this.slotsUsed++;
    if (s >= this.dirtyLo.length) {
      // Capacity doubles (1, 2, 4, ... slots, then a chunk at a time): a small machine, which the
      // explorer builds for every execution, allocates one page of contents, not a whole chunk.
      const n = Math.min(Math.max(1, this.dirtyLo.length * 2), this.dirtyLo.length + CHUNK_SLOTS);
      const lo = new Int32Array(n).fill(this.pageSize);
      lo.set(this.dirtyLo);
      const hi = new Int32Array(n);
      hi.set(this.dirtyHi);
      this.dirtyLo = lo;
      this.dirtyHi = hi;
    }
    // The slot's chunk exists and is long enough, or is made (or grown: only the first chunk starts
    // short) so.
    const c = Math.floor(s / CHUNK_SLOTS);
    const need = ((s % CHUNK_SLOTS) + 1) * this.pageSize;
    const chunk = this.chunks[c];
    if (chunk === undefined || chunk.length < need) {
      const len =
        chunk === undefined && c > 0 ? CHUNK_SLOTS * this.pageSize : Math.max(need, 2 * (chunk?.length ?? 0));
      // Small chunks (the first one, while it grows) are carved from the shared slab (lib/slab.ts).
      const bytes = Math.min(len, CHUNK_SLOTS * this.pageSize);
      const at = smallBuffers.carve(bytes);
      const grown = new Uint8Array(smallBuffers.buffer, at, bytes);
      if (chunk !== undefined) grown.set(chunk);
      this.chunks[c] = grown;
    }
    return s;
  }

  /** True when `f` holds contents (else it reads as zeroes). */
  hasData(f: number): boolean {
    return (this.slot[f] as number) >= 0;
  }

  /** Copies `len` bytes of frame `f` from `offset` into `out` at `at`. */
  read(f: number, offset: number, out: Uint8Array, at: number, len: number): void {
    const s = this.slot[f] as number;
    if (s < 0) {
      out.fill(0, at, at + len);
      return;
    }
    const chunk = this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array;
    const base = (s % CHUNK_SLOTS) * this.pageSize + offset;
    out.set(chunk.subarray(base, base + len), at);
  }

  /** Copies `len` bytes of `src` from `at` into frame `f` at `offset`. */
  write(f: number, offset: number, src: Uint8Array, at: number, len: number): void {
    if (f === ZERO_FRAME) throw new MmunError("EFAULT", "BUG: a write to the zero page");
    const s = this.slotOf(f, offset, offset + len);
    const chunk = this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array;
    chunk.set(src.subarray(at, at + len), (s % CHUNK_SLOTS) * this.pageSize + offset);
  }

  /** Reads a little-endian 32-bit word at `offset` (4-aligned) of frame `f`. */
  read32(f: number, offset: number): number {
    const s = this.slot[f] as number;
    if (s < 0) return 0;
    const chunk = this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array;
    const b = (s % CHUNK_SLOTS) * this.pageSize + offset;
    return (
      ((chunk[b] as number) |
        ((chunk[b + 1] as number) << 8) |
        ((chunk[b + 2] as number) << 16) |
        ((chunk[b + 3] as number) << 24)) >>>
      0
    );
  }

  /** Writes a little-endian 32-bit word at `offset` (4-aligned) of frame `f`. */
  write32(f: number, offset: number, v: number): void {
    if (f === ZERO_FRAME) throw new MmunError("EFAULT", "BUG: a write to the zero page");
    const s = this.slotOf(f, offset, offset + 4);
    const chunk = this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array;
    const b = (s % CHUNK_SLOTS) * this.pageSize + offset;
    chunk[b] = v & 255;
    chunk[b + 1] = (v >>> 8) & 255;
    chunk[b + 2] = (v >>> 16) & 255;
    chunk[b + 3] = (v >>> 24) & 255;
  }

  /** `copy_user_highpage()`: `to` gets `from`'s contents (zeroes from a frame without any). */
  copy(from: number, to: number): void {
    const s = this.slot[from] as number;
    const ps = this.pageSize;
    if (s < 0) {
      if ((this.slot[to] as number) >= 0) this.write(to, 0, new Uint8Array(ps), 0, ps);
      return;
    }
    if (to === ZERO_FRAME) throw new MmunError("EFAULT", "BUG: a write to the zero page");
    const d = this.slotOf(to, 0, ps);
    const sc = Math.floor(s / CHUNK_SLOTS);
    const dc = Math.floor(d / CHUNK_SLOTS);
    const so = (s % CHUNK_SLOTS) * ps;
    const dOff = (d % CHUNK_SLOTS) * ps;
    // Within one chunk, set() would first clone its source (the same buffer): copyWithin does not.
    if (sc === dc) (this.chunks[sc] as Uint8Array).copyWithin(dOff, so, so + ps);
    else (this.chunks[dc] as Uint8Array).set((this.chunks[sc] as Uint8Array).subarray(so, so + ps), dOff);
  }

  // ---- swap ----

  /** Stores `f`'s contents in a new swap slot (one swap entry names it); returns the slot. */
  swapOut(f: number): number {
    const slot = this.nextSwap++;
    const s = this.slot[f] as number;
    this.swapData.set(slot, { bytes: s < 0 ? null : this.bytesOfSlot(s).slice(), count: 1 });
    return slot;
  }

  /** `swap_duplicate()`: one more swap entry names `slot` (fork copies it). */
  swapDup(slot: number): void {
    const e = this.swapData.get(slot);
    if (e === undefined) throw new MmunError("EINVAL", `BUG: swap slot ${slot} is not in use`);
    e.count++;
  }

  /**
   * Swap-in: a new frame with `slot`'s contents (the caller's reference), or -ENOMEM. The entry
   * stays until `swapFree`.
   */
  swapIn(slot: number): number {
    const e = this.swapData.get(slot);
    if (e === undefined) throw new MmunError("EINVAL", `BUG: swap slot ${slot} is not in use`);
    const f = this.alloc();
    if (f < 0) return f;
    if (e.bytes !== null) this.write(f, 0, e.bytes, 0, this.pageSize);
    return f;
  }

  /** `swap_free()`: one swap entry fewer names `slot`; the last frees it. */
  swapFree(slot: number): void {
    const e = this.swapData.get(slot);
    if (e === undefined) throw new MmunError("EINVAL", `BUG: swap slot ${slot} is not in use`);
    if (--e.count === 0) this.swapData.delete(slot);
  }

  /**
   * Bytes of metadata per frame: refcount, mapcount, state, page flags, slot, and the mm (a pointer)
   * and address of its first mapping.
   */
  static readonly METADATA_BYTES_PER_FRAME = 4 + 4 + 1 + 1 + 4 + 8 + 8;

  /** Grows the arrays to at least `min` frames (doubling). */
  private grow(min: number): void {
    let n = this.state.length * 2;
    while (n < min) n *= 2;
    const i32 = (a: Int32Array, fill = 0) => {
      const b = new Int32Array(n);
      if (fill !== 0) b.fill(fill, a.length);
      b.set(a);
      return b;
    };
    this.refcount = i32(this.refcount);
    this.mapcount = i32(this.mapcount);
    this.slot = i32(this.slot, -1);
    const st = new Uint8Array(n);
    st.set(this.state);
    this.state = st;
    const pf = new Uint8Array(n);
    pf.set(this.pageFlags);
    this.pageFlags = pf;
    const ra = new Float64Array(n);
    ra.set(this.rmapAddr);
    this.rmapAddr = ra;
    const a = this.rmapMm;
    for (let i = a.length; i < n; i++) a.push(undefined);
  }
}
