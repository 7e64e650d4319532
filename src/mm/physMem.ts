// Follows include/linux/mm_types.h (struct page: refcount, mapcount), mm/page_alloc.c (the page
// allocator) and mm/swapfile.c (swap slots): the machine's physical memory.
//
// A frame is a number. Its metadata lives in parallel typed arrays indexed by it (a `struct page` in
// about 33 bytes), grown by doubling. Contents are kept only for frames that hold data: a frame's
// bytes sit in a slot of a pooled arena (256 KiB chunks, the first one grown from one page), assigned on its first write and returned,
// zeroed, when the frame is freed; a frame without a slot reads as zeroes. Frame 0 is the shared
// zero page: never written, never freed. The explorer builds a fresh machine for every execution,
// so an empty one starts small (8 frames, no contents) and costs little to make.
//
// Freed frames are poisoned (state FREED) and queued: allocation reuses the frame freed longest ago
// only once FREE_RESERVE frames wait, so a device that keeps a freed frame mapped touches a poisoned
// frame (the oracle reports `use-after-free`) for as long as possible before the number is reused.

import { ENOMEM, MmunError } from "../lib/errno.js";

/** A frame's life. */
export const FRAME_FREED = 0;
/** Allocated and in use (anonymous memory, a page being migrated, a device page's RAM copy…). */
export const FRAME_USED = 1;
/** The shared zero page. */
export const FRAME_ZERO = 2;

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
  /** Frames ever allocated. */
  allocated: number;
  /** Frames holding contents. */
  withData: number;
  /** Swap slots in use. */
  swapSlots: number;
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
  /** FRAME_FREED / FRAME_USED / FRAME_ZERO. */
  state = new Uint8Array(INITIAL_FRAMES);
  /** The contents slot of each frame, or -1 (reads as zeroes). */
  slot = new Int32Array(INITIAL_FRAMES).fill(-1);
  /** Reverse map (rmap.ts): the first mapping's address space (struct page's `mapping`), or undefined. */
  rmapMm: (object | undefined)[] = [];
  /** Reverse map: the first mapping's address (struct page's `index`). */
  rmapAddr = new Float64Array(INITIAL_FRAMES);
  /** Reverse map: the further mappings of frames mapped more than once (after fork). */
  readonly rmapMore = new Map<number, { mm: object; addr: number }[]>();
  /** Frames allocated so far (frame numbers below it exist). */
  private top = 1;
  private readonly freed: number[] = [];
  private freedHead = 0;
  private readonly chunks: Uint8Array[] = [];
  private readonly freeSlots: number[] = [];
  /** Per contents slot, the bytes ever written: [dirtyLo, dirtyHi). Only those are zeroed at free. */
  private dirtyLo = new Int32Array(0);
  private dirtyHi = new Int32Array(0);
  private slotsUsed = 0;
  private inUseCount = 0;
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
      allocated: this.top - 1,
      withData: this.slotsUsed - this.freeSlots.length,
      swapSlots: this.swapData.size,
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
   * injected failure is due.
   */
  alloc(): number {
    if (this.failures > 0) {
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
      if (f >= this.state.length) this.grow();
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
    if (r < 0 || this.state[f] !== FRAME_USED) {
      throw new MmunError("EINVAL", `put_page on frame ${f}, which is ${this.describe(f)} (unbalanced)`);
    }
    this.refcount[f] = r;
    if (r === 0) this.free(f);
  }

  private free(f: number): void {
    const s = this.slot[f] as number;
    if (s >= 0) {
      const lo = this.dirtyLo[s] as number;
      const hi = this.dirtyHi[s] as number;
      if (hi > lo) {
        const base = (s % CHUNK_SLOTS) * this.pageSize;
        (this.chunks[Math.floor(s / CHUNK_SLOTS)] as Uint8Array).fill(0, base + lo, base + hi);
      }
      this.dirtyLo[s] = this.pageSize;
      this.dirtyHi[s] = 0;
      this.freeSlots.push(s);
      this.slot[f] = -1;
    }
    this.state[f] = FRAME_FREED;
    this.mapcount[f] = 0;
    this.rmapMm[f] = undefined;
    this.rmapMore.delete(f);
    this.inUseCount--;
    this.freed.push(f);
  }

  /** True while `f` is allocated (or the zero page). */
  isLive(f: number): boolean {
    return f >= 0 && f < this.top && this.state[f] !== FRAME_FREED;
  }

  /** "frame 12 (in use, 2 refs, 1 map)" and the like, for messages. */
  describe(f: number): string {
    if (f === ZERO_FRAME) return "the zero page";
    if (f < 0 || f >= this.top) return `frame ${f}, which does not exist`;
    if (this.state[f] === FRAME_FREED) return `frame ${f} (freed)`;
    return `frame ${f} (${this.refcount[f]} refs, ${this.mapcount[f]} maps)`;
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
      const grown = new Uint8Array(Math.min(len, CHUNK_SLOTS * this.pageSize));
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
    if (s < 0) return;
    this.write(to, 0, this.bytesOfSlot(s), 0, this.pageSize);
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

  /** Bytes of metadata per frame: refcount, mapcount, state, slot, rmap mm (a pointer) and address. */
  static readonly METADATA_BYTES_PER_FRAME = 4 + 4 + 1 + 4 + 8 + 8;

  private grow(): void {
    const n = this.state.length * 2;
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
    const ra = new Float64Array(n);
    ra.set(this.rmapAddr);
    this.rmapAddr = ra;
  }
}
