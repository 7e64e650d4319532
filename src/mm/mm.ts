// Follows include/linux/mm_types.h (struct mm_struct) and kernel/fork.c (mmget/mmput, mmgrab/mmdrop):
// an address space: its areas (vma.ts), page tables (pageTable.ts), the mmap lock and the page-table
// lock, its notifier subscriptions, and the system calls that change it (one file each, named after
// the kernel's: mmap.ts, mprotect.ts, madvise.ts, mremap.ts, fork.ts, vmscan.ts, oomKill.ts).

import { MmunError } from "../lib/errno.js";
import type { NotifierMm } from "../notifier/notifierMm.js";
import { MmuNotifierSubscriptions } from "../notifier/subscriptions.js";
import type { RwSemaphore } from "../sync/rwSemaphore.js";
import type { SpinLock } from "../sync/spinLock.js";
import { dupMm } from "./fork.js";
import type { Kernel } from "./kernel.js";
import { type MadviseAdvice, madvise } from "./madvise.js";
import { accessPages } from "./memory.js";
import { exitMmap, type MmapOptions, mmap, munmap } from "./mmap.js";
import { mprotect } from "./mprotect.js";
import { type MremapOptions, mremap } from "./mremap.js";
import { oomReap } from "./oomKill.js";
import { PageTable } from "./pageTable.js";
import { VmaList } from "./vma.js";
import { reclaimRange } from "./vmscan.js";

/** Options of `kernel.createMm()`. */
export interface MmOptions {
  /** Name used in traces and messages (default "mm<id>"). */
  name?: string;
  /**
   * Reproduce the Linux hazard of kernel-spec §6.5 instead of fixing it: when a non-blocking
   * invalidation start (the OOM reaper's) passes the interval-notifier phase and a classic notifier's
   * start then fails with -EAGAIN, Linux returns -EAGAIN without ending the interval phase, and since
   * the caller must not call end, `activeInvalidateRanges` stays incremented and gseq can stay odd
   * forever (readBegin and remove hang). Default false: the interval phase is ended before -EAGAIN.
   */
  nonblockHazard?: boolean;
}

/**
 * An address space (kernel `struct mm_struct`). `users` counts the tasks and references that keep
 * the address space alive (`mmget`/`mmput`); when it drops to 0 the mm is torn down (exit_mmap:
 * notifiers get their release, then everything is unmapped). `count` counts structural references
 * (`mmgrab`/`mmdrop`), held collectively by the users and individually by each notifier; the struct
 * is freed at 0.
 *
 * Addresses and lengths are bytes; system calls throw `MmunError` with Linux's errno for bad
 * arguments and change nothing then. CPU accesses (`read`, `write`, `read32`, `write32`) fault like
 * Linux and throw EFAULT where a process would get SIGSEGV. Every method that may wait returns a
 * promise only when it must wait (await it either way).
 */
export class Mm implements NotifierMm {
  readonly id: number;
  readonly name: string;
  readonly kernel: Kernel;
  /** `mmap_lock` (lock class "mmap_lock"). */
  readonly mmapLock: RwSemaphore;
  /** `page_table_lock` (lock class "page_table_lock"): a spinlock around PTE changes. */
  readonly pageTableLock: SpinLock;
  /** `mm->notifier_subscriptions`. */
  readonly notifiers: MmuNotifierSubscriptions;
  readonly nonblockHazard: boolean;
  /** The mapped areas. */
  readonly vmas = new VmaList();
  /** The page tables. */
  readonly pageTable = new PageTable();
  /**
   * Resident pages (`MM_ANONPAGES + MM_SHMEMPAGES`): PTEs mapping a frame other than the zero page
   * (present, PROT_NONE, device-private or device-exclusive; a migration entry's page is the
   * migration's until it ends).
   */
  rss = 0;
  /** PTEs holding swap entries (`MM_SWAPENTS`). */
  swapEntries = 0;
  /** The first address above user space (`TASK_SIZE`). */
  readonly taskSize: number;
  private usersCount = 1;
  private mmCount = 1;
  private exited = false;

  /** Use `kernel.createMm()`. */
  constructor(kernel: Kernel, options: MmOptions = {}) {
    this.kernel = kernel;
    this.id = kernel.registerObject("mm", options.name ?? "mm");
    this.name = options.name ?? `mm${this.id}`;
    this.nonblockHazard = options.nonblockHazard === true;
    this.mmapLock = kernel.rwSemaphore("mmap_lock");
    this.pageTableLock = kernel.spinLock("page_table_lock");
    this.notifiers = new MmuNotifierSubscriptions(this);
    this.taskSize = 2 ** 47 - kernel.pageSize;
  }

  /** `mm_users`. */
  get users(): number {
    return this.usersCount;
  }

  /** `mm_count`. */
  get count(): number {
    return this.mmCount;
  }

  /** True once the last user is gone: the address space is torn down and no call may use it. */
  get dead(): boolean {
    return this.usersCount <= 0;
  }

  /** @internal Throws EFAULT when the address space is dead. */
  checkAlive(what: string): void {
    if (this.usersCount <= 0) {
      throw new MmunError("EFAULT", `${what} on ${this.name}, whose last user is gone (exited)`);
    }
  }

  // ---- System calls (each file follows the kernel's) ----

  /** `mmap()` of anonymous memory (mmap.ts); returns the address. */
  mmap(options: MmapOptions): Promise<number> {
    return mmap(this, options);
  }

  /** `munmap()` (mmap.ts): UNMAP invalidation, then the range is gone. */
  munmap(addr: number, length: number): Promise<void> {
    return munmap(this, addr, length);
  }

  /** `mprotect()` (mprotect.ts): PROTECTION_VMA invalidation, then the new protection. */
  mprotect(addr: number, length: number, prot: number): Promise<void> {
    return mprotect(this, addr, length, prot);
  }

  /** `madvise()` (madvise.ts): `"dontneed"` zaps the range (CLEAR); it reads back as zeroes. */
  madvise(addr: number, length: number, advice: MadviseAdvice): Promise<void> {
    return madvise(this, addr, length, advice);
  }

  /** `mremap()` (mremap.ts): grows, shrinks or moves a mapping; returns its address. */
  mremap(
    oldAddr: number,
    oldLength: number,
    newLength: number,
    options: MremapOptions = {},
  ): Promise<number> {
    return mremap(this, oldAddr, oldLength, newLength, options);
  }

  /** `fork()`'s `dup_mmap()` (fork.ts): a child address space sharing private pages copy-on-write. */
  fork(options: MmOptions = {}): Promise<Mm> {
    return dupMm(this, options);
  }

  /**
   * Reclaim (vmscan.ts, `shrink_folio_list` -> `try_to_unmap`): swaps out the resident pages of
   * `[addr, addr + length)`, reaching every mm that maps each through the reverse map (CLEAR
   * invalidations). Runs without the mmap lock, as kswapd does. Returns the pages swapped out.
   */
  reclaim(addr: number, length: number): Promise<number> {
    return reclaimRange(this, addr, length);
  }

  /**
   * The OOM reaper (oomKill.ts, `__oom_reap_task_mm`): with the mmap lock taken by trylock, unmaps
   * every private area whose non-blocking UNMAP invalidation start succeeds, and skips those that
   * return -EAGAIN. Returns the areas skipped, or -EAGAIN when the mmap lock was busy.
   */
  oomReap(): Promise<number> {
    return oomReap(this);
  }

  /** The process exits: its reference goes (`mmput`); the last one tears the address space down. */
  exit(): Promise<void> | undefined {
    return this.mmput();
  }

  // ---- The CPU's accesses ----

  /** Reads `length` bytes at `addr` as the process would (faulting pages in). */
  read(addr: number, length: number): Uint8Array | Promise<Uint8Array> {
    this.checkRange(addr, length, "read");
    const out = new Uint8Array(length);
    const pm = this.kernel.physMem;
    const r = this.withReadLock(() =>
      accessPages(this, addr, length, false, (f, off, at, n) => pm.read(f, off, out, at, n)),
    );
    return r === undefined ? out : r.then(() => out);
  }

  /** Writes `bytes` at `addr` as the process would (faulting pages in, breaking COW). */
  write(addr: number, bytes: Uint8Array): Promise<void> | undefined {
    if (!(bytes instanceof Uint8Array))
      throw new MmunError("EINVAL", `${this.name}.write: bytes must be a Uint8Array`);
    this.checkRange(addr, bytes.length, "write");
    const pm = this.kernel.physMem;
    return this.withReadLock(() =>
      accessPages(this, addr, bytes.length, true, (f, off, at, n) => pm.write(f, off, bytes, at, n)),
    );
  }

  /** Reads the little-endian 32-bit word at `addr` (4-aligned). */
  read32(addr: number): number | Promise<number> {
    this.checkWord(addr, "read32");
    const pm = this.kernel.physMem;
    let v = 0;
    const r = this.withReadLock(() =>
      accessPages(this, addr, 4, false, (f, off) => {
        v = pm.read32(f, off);
      }),
    );
    return r === undefined ? v : r.then(() => v);
  }

  /** Writes the little-endian 32-bit word `value` at `addr` (4-aligned). */
  write32(addr: number, value: number): Promise<void> | undefined {
    this.checkWord(addr, "write32");
    if (!Number.isInteger(value))
      throw new MmunError("EINVAL", `${this.name}.write32: ${String(value)} is not an integer`);
    const pm = this.kernel.physMem;
    return this.withReadLock(() => accessPages(this, addr, 4, true, (f, off) => pm.write32(f, off, value)));
  }

  private checkRange(addr: number, length: number, what: string): void {
    this.checkAlive(what);
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new MmunError(
        "EINVAL",
        `${this.name}.${what}: bad address or length (${String(addr)}, ${String(length)})`,
      );
    }
  }

  private checkWord(addr: number, what: string): void {
    this.checkRange(addr, 4, what);
    if (addr % 4 !== 0)
      throw new MmunError("EINVAL", `${this.name}.${what}: ${String(addr)} is not 4-aligned`);
  }

  /** Runs `body` with the mmap lock held for read (a CPU fault's locking). */
  private withReadLock(body: () => undefined | Promise<undefined>): undefined | Promise<undefined> {
    const lk = this.mmapLock;
    const p = lk.downRead();
    if (p !== undefined) return p.then(() => this.readLocked(body));
    return this.readLocked(body);
  }

  private readLocked(body: () => undefined | Promise<undefined>): undefined | Promise<undefined> {
    const lk = this.mmapLock;
    let r: undefined | Promise<undefined>;
    try {
      r = body();
    } catch (e) {
      lk.upRead();
      throw e;
    }
    if (r === undefined) {
      lk.upRead();
      return undefined;
    }
    return r.then(
      () => {
        lk.upRead();
        return undefined;
      },
      (e: unknown) => {
        lk.upRead();
        throw e;
      },
    );
  }

  // ---- References ----

  /** `mmget()`: one more user. The caller must already hold one (else EINVAL). Pairs with `mmput`. */
  mmget(): void {
    if (this.usersCount <= 0) {
      this.kernel.misuse("EINVAL", `mmget on ${this.name}, which has no users (use mmgetNotZero)`);
    }
    this.usersCount++;
  }

  /** `mmget_not_zero()`: one more user unless the mm is already dead. Pairs with `mmput` when true. */
  mmgetNotZero(): boolean {
    if (this.usersCount <= 0) return false;
    this.usersCount++;
    return true;
  }

  /**
   * `mmput()`: one user fewer. The last one tears the address space down (`exit_mmap`: notifier
   * release, then unmapping everything) and drops the users' structural reference. May sleep;
   * returns undefined when nothing had to wait. Pairs with `mmget`.
   */
  mmput(): Promise<void> | undefined {
    const k = this.kernel;
    k.mightSleep("mmput()");
    if (this.usersCount <= 0) {
      return Promise.reject(
        new MmunError("EINVAL", `mmput on ${this.name}, which has no users (unbalanced)`),
      );
    }
    this.usersCount--;
    if (this.usersCount !== 0) return undefined;
    const p = this.exitMmap();
    if (p === undefined) {
      this.mmdrop();
      return undefined;
    }
    return p.then(() => this.mmdrop());
  }

  /** `exit_mmap()`: runs once, when the last user is gone. */
  private exitMmap(): Promise<void> | undefined {
    if (this.exited) return undefined;
    this.exited = true;
    if (this.vmas.size === 0 && this.pageTable.leaves === 0) return this.notifiers.release();
    return exitMmap(this);
  }

  /** `mmgrab()`: one more structural reference. Pairs with `mmdrop`. */
  mmgrab(): void {
    if (this.mmCount <= 0) this.kernel.misuse("EINVAL", `mmgrab on ${this.name}, which was freed`);
    this.mmCount++;
  }

  /** `mmdrop()`: one structural reference fewer; the last frees the mm. Pairs with `mmgrab`. */
  mmdrop(): void {
    if (this.mmCount <= 0)
      this.kernel.misuse("EINVAL", `mmdrop on ${this.name}, which was freed (unbalanced)`);
    this.mmCount--;
    if (this.mmCount === 0) this.notifiers.destroy();
  }

  toString(): string {
    return this.name;
  }
}
