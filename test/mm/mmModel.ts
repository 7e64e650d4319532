// A brute-force model of the simulated address spaces, for the differential test: per mm, a map
// page -> { protection, private bytes or a (shared object, offset) pair }. No areas, page tables,
// frames or swap: an area is a maximal run of pages Linux would merge (same protection, private, or
// the same shared object at consecutive offsets), reclaim changes nothing a process can see, and
// copy-on-write is a copy at fork.

import { PROT_MASK, PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";

/** A call's outcome: its value, or the errno name it failed with. */
export type Outcome = { ok: unknown } | { err: string };

interface ModelPage {
  prot: number;
  /** Private bytes (null: zeroes). */
  data: Uint8Array | null;
  /** The shared object, or -1 for private memory. */
  obj: number;
  /** The page's offset in its shared object. */
  off: number;
}

const STACK_GAP = 2 ** 27;

export class ModelMm {
  pages = new Map<number, ModelPage>();
  constructor(readonly space: ModelSpace) {}

  private get ps(): number {
    return this.space.pageSize;
  }

  private mergeable(a: ModelPage, b: ModelPage): boolean {
    return a.prot === b.prot && a.obj === b.obj && (a.obj < 0 || a.off + 1 === b.off);
  }

  /** The area (maximal mergeable run) containing `addr`: [start, end), or null. */
  area(addr: number): [number, number] | null {
    const ps = this.ps;
    const at = this.pages.get(addr);
    if (at === undefined) return null;
    let start = addr;
    for (let cur = at, q = this.pages.get(start - ps); q !== undefined && this.mergeable(q, cur); ) {
      start -= ps;
      cur = q;
      q = this.pages.get(start - ps);
    }
    let end = addr + ps;
    for (let cur = at, q = this.pages.get(end); q !== undefined && this.mergeable(cur, q); ) {
      end += ps;
      cur = q;
      q = this.pages.get(end);
    }
    return [start, end];
  }

  private free(start: number, end: number): boolean {
    for (let a = start; a < end; a += this.ps) if (this.pages.has(a)) return false;
    return true;
  }

  private unmap(start: number, end: number): void {
    for (let a = start; a < end; a += this.ps) this.pages.delete(a);
  }

  /** `get_unmapped_area()` top-down: the highest free range of `len` bytes below the stack gap. */
  private topDown(len: number): number | null {
    let end = this.space.taskSize - STACK_GAP;
    const addrs = [...this.pages.keys()].sort((a, b) => b - a);
    for (const a of addrs) {
      if (a >= end) continue;
      if (end - (a + this.ps) >= len) return end - len;
      end = a;
    }
    return end >= len ? end - len : null;
  }

  private alignLen(length: number): number | string {
    if (!Number.isSafeInteger(length) || length <= 0) return "EINVAL";
    const len = Math.ceil(length / this.ps) * this.ps;
    return len > this.space.taskSize ? "ENOMEM" : len;
  }

  private aligned(addr: number): boolean {
    return Number.isSafeInteger(addr) && addr >= 0 && addr % this.ps === 0;
  }

  private fresh(prot: number, obj: number, off: number): ModelPage {
    return { prot, data: null, obj, off };
  }

  mmap(o: { addr?: number; length: number; prot: number; shared: boolean; fixed: boolean }): Outcome {
    if ((o.prot & ~PROT_MASK) !== 0) return { err: "EINVAL" };
    const len = this.alignLen(o.length);
    if (typeof len === "string") return { err: len };
    let addr: number;
    if (o.fixed) {
      if (o.addr === undefined || !this.aligned(o.addr)) return { err: "EINVAL" };
      if (o.addr + len > this.space.taskSize) return { err: "ENOMEM" };
      addr = o.addr;
      this.unmap(addr, addr + len);
    } else {
      const a = this.topDown(len);
      if (a === null) return { err: "ENOMEM" };
      addr = a;
    }
    const obj = o.shared ? this.space.nextObj++ : -1;
    for (let i = 0; i * this.ps < len; i++) this.pages.set(addr + i * this.ps, this.fresh(o.prot, obj, i));
    return { ok: addr };
  }

  munmap(addr: number, length: number): Outcome {
    if (!this.aligned(addr) || !Number.isSafeInteger(length) || length <= 0) return { err: "EINVAL" };
    const len = Math.ceil(length / this.ps) * this.ps;
    if (addr + len > this.space.taskSize) return { err: "EINVAL" };
    this.unmap(addr, addr + len);
    return { ok: undefined };
  }

  mprotect(addr: number, length: number, prot: number): Outcome {
    if (!this.aligned(addr)) return { err: "EINVAL" };
    if (length === 0) return { ok: undefined };
    const len = this.alignLen(length);
    if (typeof len === "string") return { err: len };
    if ((prot & ~PROT_MASK) !== 0) return { err: "EINVAL" };
    for (let a = addr; a < addr + len; a += this.ps) {
      const p = this.pages.get(a);
      if (p === undefined) return { err: "ENOMEM" };
      p.prot = prot;
    }
    return { ok: undefined };
  }

  madvise(addr: number, length: number): Outcome {
    if (!this.aligned(addr)) return { err: "EINVAL" };
    if (length === 0) return { ok: undefined };
    const len = this.alignLen(length);
    if (typeof len === "string") return { err: len };
    let hole = false;
    for (let a = addr; a < addr + len; a += this.ps) {
      const p = this.pages.get(a);
      if (p === undefined) hole = true;
      else if (p.obj < 0) p.data = null;
    }
    return hole ? { err: "ENOMEM" } : { ok: undefined };
  }

  mremap(oldAddr: number, oldLength: number, newLength: number, mayMove: boolean, newAddr?: number): Outcome {
    if (!this.aligned(oldAddr)) return { err: "EINVAL" };
    const oldLen = this.alignLen(oldLength);
    if (typeof oldLen === "string") return { err: oldLen };
    const newLen = this.alignLen(newLength);
    if (typeof newLen === "string") return { err: newLen };
    if (newAddr !== undefined) {
      if (!mayMove || !this.aligned(newAddr) || newAddr + newLen > this.space.taskSize)
        return { err: "EINVAL" };
      if (newAddr < oldAddr + oldLen && oldAddr < newAddr + newLen) return { err: "EINVAL" };
    }
    const area = this.area(oldAddr);
    if (area === null || oldAddr + oldLen > area[1]) return { err: "EFAULT" };
    const first = this.pages.get(oldAddr) as ModelPage;
    if (newAddr !== undefined) {
      this.unmap(newAddr, newAddr + newLen);
      this.unmap(oldAddr + Math.min(oldLen, newLen), oldAddr + oldLen);
      return this.move(first, oldAddr, Math.min(oldLen, newLen), newLen, newAddr);
    }
    if (newLen <= oldLen) {
      this.unmap(oldAddr + newLen, oldAddr + oldLen);
      return { ok: oldAddr };
    }
    const oldEnd = oldAddr + oldLen;
    if (
      oldEnd === area[1] &&
      oldAddr + newLen <= this.space.taskSize &&
      this.free(oldEnd, oldAddr + newLen)
    ) {
      for (let a = oldEnd; a < oldAddr + newLen; a += this.ps) {
        this.pages.set(a, this.fresh(first.prot, first.obj, first.off + (a - oldAddr) / this.ps));
      }
      return { ok: oldAddr };
    }
    if (!mayMove) return { err: "ENOMEM" };
    const to = this.topDown(newLen);
    if (to === null) return { err: "ENOMEM" };
    return this.move(first, oldAddr, oldLen, newLen, to);
  }

  private move(first: ModelPage, from: number, oldLen: number, newLen: number, to: number): Outcome {
    const ps = this.ps;
    for (let i = 0; i * ps < newLen; i++) {
      const p = i * ps < oldLen ? this.pages.get(from + i * ps) : undefined;
      this.pages.set(to + i * ps, p ?? this.fresh(first.prot, first.obj, first.off + i));
    }
    this.unmap(from, from + oldLen);
    return { ok: to };
  }

  fork(): ModelMm {
    const child = new ModelMm(this.space);
    for (const [a, p] of this.pages)
      child.pages.set(a, { ...p, data: p.data === null ? null : p.data.slice() });
    return child;
  }

  reclaim(addr: number, length: number): Outcome {
    if (!this.aligned(addr)) return { err: "EINVAL" };
    const len = this.alignLen(length);
    return typeof len === "string" ? { err: len } : { ok: undefined };
  }

  /** The bytes of the page at `a` (a view: writes go through). */
  private bytes(p: ModelPage): Uint8Array {
    if (p.obj >= 0) {
      const pages = this.space.objects.get(p.obj) ?? new Map<number, Uint8Array>();
      this.space.objects.set(p.obj, pages);
      let b = pages.get(p.off);
      if (b === undefined) {
        b = new Uint8Array(this.ps);
        pages.set(p.off, b);
      }
      return b;
    }
    p.data ??= new Uint8Array(this.ps);
    return p.data;
  }

  /** A CPU access, page by page in address order, as the CPU faults: EFAULT at the first page it may not access. */
  private access(
    addr: number,
    length: number,
    write: boolean,
    op: (b: Uint8Array, off: number, at: number, n: number) => void,
  ): Outcome {
    const ps = this.ps;
    let at = 0;
    while (at < length) {
      const a = addr + at;
      const page = a - (a % ps);
      const n = Math.min(length - at, page + ps - a);
      const p = this.pages.get(page);
      if (p === undefined || (p.prot & (write ? PROT_WRITE : PROT_READ)) === 0) return { err: "EFAULT" };
      op(this.bytes(p), a - page, at, n);
      at += n;
    }
    return { ok: undefined };
  }

  read(addr: number, length: number): Outcome {
    const out = new Uint8Array(length);
    const r = this.access(addr, length, false, (b, off, at, n) => out.set(b.subarray(off, off + n), at));
    return "err" in r ? r : { ok: out };
  }

  write(addr: number, bytes: Uint8Array): Outcome {
    return this.access(addr, bytes.length, true, (b, off, at, n) => b.set(bytes.subarray(at, at + n), off));
  }

  /** Every mapped page address, ascending. */
  mapped(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** The areas, as `[start, end) prot s|p` strings. */
  areas(): string[] {
    const out: string[] = [];
    for (const a of this.mapped()) {
      const r = this.area(a) as [number, number];
      if (r[0] !== a) continue;
      const p = this.pages.get(a) as ModelPage;
      out.push(`[0x${r[0].toString(16)}, 0x${r[1].toString(16)}) ${p.prot}${p.obj >= 0 ? "s" : "p"}`);
    }
    return out;
  }
}

/** What every modelled mm shares: the page size, the top of user space, the shared objects. */
export class ModelSpace {
  nextObj = 0;
  readonly objects = new Map<number, Map<number, Uint8Array>>();
  constructor(
    readonly pageSize: number,
    readonly taskSize: number,
  ) {}
}
