// Follows include/linux/mm_types.h (struct mm_struct) and kernel/fork.c (mmget/mmput, mmgrab/mmdrop):
// an address space. For now it holds what the notifier core needs; later issues add VMAs, page
// tables and the syscalls that drive the notifiers.

import { MmunError } from "../lib/errno.js";
import type { NotifierMm } from "../notifier/notifierMm.js";
import { MmuNotifierSubscriptions } from "../notifier/subscriptions.js";
import type { RwSemaphore } from "../sync/rwSemaphore.js";
import type { Kernel } from "./kernel.js";

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
 * notifiers get their release). `count` counts structural references (`mmgrab`/`mmdrop`), held
 * collectively by the users and individually by each notifier; the struct is freed at 0.
 */
export class Mm implements NotifierMm {
  readonly id: number;
  readonly name: string;
  readonly kernel: Kernel;
  /** `mmap_lock` (lock class "mmap_lock"). */
  readonly mmapLock: RwSemaphore;
  /** `mm->notifier_subscriptions`. */
  readonly notifiers: MmuNotifierSubscriptions;
  readonly nonblockHazard: boolean;
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
    this.notifiers = new MmuNotifierSubscriptions(this);
  }

  /** `mm_users`. */
  get users(): number {
    return this.usersCount;
  }

  /** `mm_count`. */
  get count(): number {
    return this.mmCount;
  }

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
   * release, then, in later issues, unmapping everything) and drops the users' structural reference.
   * May sleep; returns undefined when nothing had to wait. Pairs with `mmget`.
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
    return this.notifiers.release();
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
