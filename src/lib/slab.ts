// Space for the small typed arrays that every fresh structure makes (a notifier tree's first pools,
// a page table's leaf, a machine's first page of contents), carved out of shared ArrayBuffers.
//
// Why: in V8 a typed array over 64 bytes lives in an ArrayBuffer of its own off the JS heap, and each
// such buffer costs about 2 µs to make and to collect whatever its size (a backing store, its
// registration with the collector, the external-memory accounting that brings collections forward),
// where a view on an existing buffer costs about 45 ns. The explorer builds a fresh machine for every
// execution, and those buffers were a sixth of an execution of ptlock/vs-munmap ("One backing store
// per small structure, then none" in docs/performance.md). A slab is one buffer of SLAB_BYTES that
// many structures take views on, one after the other.
//
// Space is never reused: a carved range belongs to its structure for good, so nothing can see
// another structure's bytes, and fresh space is zero. A slab is collected once no view on it is left;
// the price is that one long-lived structure keeps its whole slab alive (at most SLAB_BYTES for each
// live structure, in a program that interleaves long- and short-lived ones adversarially).

/** Bytes of one slab. */
const SLAB_BYTES = 64 * 1024;
/** Requests above this get a buffer of their own (a slab serves at least four of them). */
const MAX_CARVE = SLAB_BYTES / 4;

/**
 * A bump allocator over shared ArrayBuffers. `carve(bytes)` reserves zeroed space and returns its
 * byte offset in `buffer` (read `buffer` right after the call: the next call may start a new slab).
 */
export class Slab {
  /** The buffer of the last carve. */
  buffer: ArrayBuffer = new ArrayBuffer(0);
  private used = 0;
  private slab: ArrayBuffer | null = null;

  /** `bytes` of zeroed space, 8-aligned: their offset in `this.buffer`. */
  carve(bytes: number): number {
    if (bytes > MAX_CARVE) {
      this.buffer = new ArrayBuffer(bytes);
      return 0;
    }
    const size = (bytes + 7) & ~7;
    if (this.slab === null || this.used + size > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.used = 0;
    }
    const at = this.used;
    this.used += size;
    this.buffer = this.slab;
    return at;
  }
}

/** The slab the library's structures share (one per thread: module state of each worker's copy). */
export const smallBuffers = new Slab();
