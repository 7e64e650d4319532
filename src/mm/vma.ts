// Follows include/linux/mm_types.h (struct vm_area_struct) and mm/vma.c (split, merge): the mapped
// areas of an address space, kept sorted in one array (the kernel uses a maple tree; an address space
// has tens to hundreds of areas, and a binary search over an array is as fast here).

import type { ShmemObject } from "./shmem.js";

/** Linux's PROT_* values. */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
/** Every prot bit mmun knows (PROT_EXEC is not modelled: it changes nothing a mirror sees). */
export const PROT_MASK = PROT_READ | PROT_WRITE;

/** A mapped area `[start, end)` (kernel `struct vm_area_struct`). Page-aligned byte addresses. */
export class Vma {
  constructor(
    public start: number,
    public end: number,
    /** PROT_* bits. */
    public prot: number,
    /** The shared-memory object of a MAP_SHARED mapping (kernel `vm_file` of shmem), or null for private anonymous memory. */
    public readonly shmem: ShmemObject | null,
    /** For a shared mapping: the object's page offset of `start` (kernel `vm_pgoff`). */
    public pgoff: number,
  ) {}

  /** True once an anonymous page was created in the area (kernel `vma->anon_vma`): fork copies its PTEs. */
  anonVma = false;

  get shared(): boolean {
    return this.shmem !== null;
  }

  /** `is_cow_mapping()`: private and possibly writable, so fork write-protects it. */
  get cow(): boolean {
    return this.shmem === null;
  }

  /** The object page that backs `addr` (shared mappings). */
  pgoffOf(addr: number, pageSize: number): number {
    return this.pgoff + (addr - this.start) / pageSize;
  }

  toString(): string {
    const p = `${this.prot & PROT_READ ? "r" : "-"}${this.prot & PROT_WRITE ? "w" : "-"}${this.shared ? "s" : "p"}`;
    return `[${hex(this.start)}, ${hex(this.end)}) ${p}`;
  }
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The areas of one mm, sorted by address, never overlapping. */
export class VmaList {
  readonly list: Vma[] = [];

  get size(): number {
    return this.list.length;
  }

  /** Index of the first area ending after `addr` (where an area containing `addr` would be). */
  indexAfter(addr: number): number {
    const a = this.list;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((a[mid] as Vma).end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** `vma_lookup()`: the area containing `addr`, or undefined. */
  find(addr: number): Vma | undefined {
    const v = this.list[this.indexAfter(addr)];
    return v !== undefined && v.start <= addr ? v : undefined;
  }

  /** The areas intersecting `[start, end)`, in order. */
  intersecting(start: number, end: number): Vma[] {
    const out: Vma[] = [];
    for (let i = this.indexAfter(start); i < this.list.length; i++) {
      const v = this.list[i] as Vma;
      if (v.start >= end) break;
      out.push(v);
    }
    return out;
  }

  /** True when `[start, end)` is mapped without a hole. */
  covers(start: number, end: number): boolean {
    let at = start;
    for (const v of this.intersecting(start, end)) {
      if (v.start > at) return false;
      at = v.end;
    }
    return at >= end;
  }

  /** Inserts `vma`, which overlaps nothing. */
  insert(vma: Vma): void {
    this.list.splice(this.indexAfter(vma.start), 0, vma);
  }

  /** Removes `vma`. */
  remove(vma: Vma): void {
    const i = this.list.indexOf(vma);
    if (i >= 0) this.list.splice(i, 1);
  }

  /** `split_vma()`: cuts the area containing `addr` there (if `addr` falls inside one). */
  splitAt(addr: number, pageSize: number): void {
    const v = this.find(addr);
    if (v === undefined || v.start === addr) return;
    const tail = new Vma(addr, v.end, v.prot, v.shmem, v.pgoff + (addr - v.start) / pageSize);
    tail.anonVma = v.anonVma;
    if (v.shmem !== null) v.shmem.refs++;
    v.end = addr;
    this.list.splice(this.list.indexOf(v) + 1, 0, tail);
  }

  /**
   * `vma_merge()`: merges the areas around `[start, end)` with their neighbours where Linux would:
   * same prot, and for shared mappings the same object at contiguous offsets.
   */
  mergeAround(start: number, end: number, pageSize: number): void {
    const a = this.list;
    let i = Math.max(0, this.indexAfter(start) - 1);
    while (i + 1 < a.length) {
      const v = a[i] as Vma;
      const w = a[i + 1] as Vma;
      if (v.start > end) break;
      if (mergeable(v, w, pageSize)) {
        v.end = w.end;
        v.anonVma ||= w.anonVma;
        if (w.shmem !== null) w.shmem.refs--;
        a.splice(i + 1, 1);
      } else i++;
    }
  }
}

function mergeable(v: Vma, w: Vma, pageSize: number): boolean {
  if (v.end !== w.start || v.prot !== w.prot || v.shmem !== w.shmem) return false;
  return v.shmem === null || v.pgoff + (v.end - v.start) / pageSize === w.pgoff;
}
