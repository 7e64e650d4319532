// Follows mm/mmu_notifier.c: struct mmu_notifier_subscriptions (one per mm, reached as mm.notifiers)
// and the mm core entry points (__mmu_notifier_invalidate_range_start / _end, __mmu_notifier_release),
// which run the interval phase (mn_itree_*, itree.ts), then the classic phase (mn_hlist_*,
// classicWalks.ts). Registration of classic notifiers is in classicNotifier.ts, the read side in
// intervalNotifier.ts, whose header specifies the protocol; the methods here that name them delegate.
//
// Phase order: in a start all interval callbacks precede the classic starts; in an end the interval
// bookkeeping precedes the classic ends.
//
// KERNEL-SPEC §6.5 HAZARD. In Linux, when a non-blocking start's interval phase succeeded and a
// classic start then fails (-EAGAIN), the interval phase is never ended: the caller must not call
// end, so active stays incremented and gseq may stay odd forever (readers and removers hang). We FIX
// this by default (the interval phase is ended before -EAGAIN is returned). `createMm({
// nonblockHazard: true })` reproduces Linux exactly, for tests that demonstrate the hang.
//
// subs.lock. In the kernel it is a spinlock, never held across a callback or a sleep. Here every
// synchronous section is atomic already (tasks switch only where they wait), so in the direct runtime
// we do not take it: readBegin without a wait, readRetry, checkRetry and setSeq stay allocation-free
// and promise-free, and insert/remove/start/end cost no lock bookkeeping. Under the controlled
// scheduler we take a real SpinLock around the same sections: each becomes a scheduling point (the
// explorer can interleave other tasks just before the section, as another CPU could spin there) and
// lockdep and sleep-in-atomic see it. Every section runs through `underLock(section, arg)`: a
// synchronous function entered with the lock held that never releases it (underLock does, also when
// it throws) and, where the kernel asserts the lock, asserts it (only where it is really taken). The
// walk over callbacks never holds it: it relies on the tree being frozen while gseq is odd, as the
// kernel does. (`*Locked` names elsewhere in this layer mean "the caller holds mm.mmapLock for
// write", as the kernel's `__` and `_locked` variants do.)
//
// Calling context: the lockdep map "mmu_notifier_invalidate_range_start" is held (per task) across
// every start and end, as the kernel's wrappers do; callbacks of a non-blocking range run inside
// kernel.nonBlockStart/End, so sleeping there is reported (the kernel wraps the classic starts only;
// mmun wraps the interval callbacks too, itree.ts says why). Who is inside a walk is tracked
// (callbackContext.ts) so that readBegin/remove from a callback is reported as a deadlock instead of
// hanging.

import { IntervalTree } from "../lib/intervalTree.js";
import type { LockMap } from "../sync/lockMap.js";
import type { SpinLock } from "../sync/spinLock.js";
import type { Srcu } from "../sync/srcu.js";
import type { SyncKernel } from "../sync/syncKernel.js";
import type { WaitQueue } from "../sync/waitQueue.js";
import { CallbackContext } from "./callbackContext.js";
import {
  type MmuNotifier,
  type MmuNotifierOps,
  mmuNotifierGet,
  mmuNotifierGetLocked,
  mmuNotifierPut,
  mmuNotifierRegister,
  mmuNotifierRegisterLocked,
  mmuNotifierSynchronize,
  mmuNotifierUnregister,
} from "./classicNotifier.js";
import {
  mnHlistArchInvalidateSecondaryTlbs,
  mnHlistClearFlushYoung,
  mnHlistClearYoung,
  mnHlistInvalidateEnd,
  mnHlistInvalidateRangeStart,
  mnHlistRelease,
  mnHlistTestYoung,
} from "./classicWalks.js";
import type { MmuIntervalNotifier } from "./intervalNotifier.js";
import { endThenRethrow, mnItreeInvalidate, mnItreeInvEnd, mnItreeRelease } from "./itree.js";
import { PENDING_INSERT } from "./membership.js";
import { type NotifierGlobals, notifierGlobals } from "./notifierGlobals.js";
import type { NotifierMm } from "./notifierMm.js";
import { traceInvalidation } from "./notifierTrace.js";
import { ADDRESS_SPACE_END, type MmuNotifierRange } from "./range.js";

/** One interval notifier as `state()` shows it. */
export interface NotifierStateEntry {
  id: number;
  start: number;
  last: number;
  invalidateSeq: number;
}

/** A queued tree change as `state()` shows it. */
export interface NotifierDeferredEntry extends NotifierStateEntry {
  op: "insert" | "remove";
}

/** Plain-data snapshot of an mm's notifier state, for tests and the visualizer. */
export interface NotifierState {
  /** gseq: even when no exclusive period runs. */
  invalidateSeq: number;
  /** Invalidations between their start and their end. */
  activeInvalidateRanges: number;
  /** Queued inserts and removals, in the order the end of the period applies them. */
  deferred: NotifierDeferredEntry[];
  /** The interval tree, in order (ascending start, insertion order on ties). */
  tree: NotifierStateEntry[];
  /** True once any registration happened (the kernel's `mm_has_notifiers`). */
  present: boolean;
  /** True once an interval notifier was registered. */
  hasItree: boolean;
  /** Number of classic notifiers linked. */
  classic: number;
}

function noop(): void {}

/**
 * The notifier state of one address space (kernel `struct mmu_notifier_subscriptions`), reached as
 * `mm.notifiers`. Before any registration it is "absent" (the kernel's NULL pointer): every hook is a
 * no-op returning 0.
 */
export class MmuNotifierSubscriptions {
  readonly mm: NotifierMm;
  readonly kernel: SyncKernel;
  /** Trace object id. */
  readonly id: number;
  /** True once any registration happened (the kernel allocates the structure then). */
  present = false;
  /** True once an interval notifier was registered; never cleared. */
  hasItree = false;
  /** gseq: starts at 2; odd while an exclusive period runs. Read-only outside this layer. */
  invalidateSeq = 2;
  /** Invalidations that began their interval phase and did not reach their end. */
  activeInvalidateRanges = 0;
  /** @internal The interval tree. Frozen while invalidateSeq is odd. */
  readonly itree = new IntervalTree<MmuIntervalNotifier>();
  /** @internal Queued inserts and removals, oldest first (applied newest first). */
  readonly deferred: MmuIntervalNotifier[] = [];
  /** @internal Waiters in readBegin and remove; woken (all) at the odd -> even transition. */
  readonly wq: WaitQueue;
  /** @internal `subs->lock`; taken only under the controlled scheduler, by `underLock` (see the header). */
  readonly lock: SpinLock;
  /** @internal Classic notifiers, newest first; replaced (never mutated) on change, so a walk reads a snapshot. */
  classic: readonly MmuNotifier[] = [];
  /** Reproduce the kernel-spec §6.5 hazard instead of fixing it (see the header). */
  readonly nonblockHazard: boolean;
  /** @internal */
  readonly srcu: Srcu;
  /** @internal */
  readonly startMap: LockMap;
  /** @internal */
  readonly globals: NotifierGlobals;
  /** @internal True when the kernel runs the controlled scheduler. */
  readonly controlled: boolean;
  /** @internal Who is inside a start, end or release walk of this mm. */
  readonly callbacks: CallbackContext;

  constructor(mm: NotifierMm) {
    this.mm = mm;
    const k = mm.kernel;
    this.kernel = k;
    this.nonblockHazard = mm.nonblockHazard === true;
    this.id = k.registerObject("mmu_notifier_subscriptions", `${mm.name}.notifiers`);
    this.wq = k.waitQueue(`${mm.name}.notifiers.wq`);
    this.lock = k.spinLock("mmu_notifier_subscriptions.lock");
    this.globals = notifierGlobals(k);
    this.srcu = this.globals.srcu;
    this.startMap = this.globals.startMap;
    this.controlled = k.sched.controlled;
    this.callbacks = new CallbackContext(k.sched, this.startMap);
  }

  /**
   * @internal Runs `section(this, arg)` holding subs.lock (`spin_lock` .. `spin_unlock` around one
   * synchronous section) and returns its result. The lock is taken only under the controlled
   * scheduler (see the header), where taking it is a scheduling point: the result then comes as a
   * promise. The section must not release the lock; it is released also when the section throws.
   *
   * Hot paths (readBegin, insert, remove, the start and end of an invalidation) write
   * `subs.controlled ? subs.underLock(section, arg) : section(subs, arg)`: the direct call keeps a
   * call site of its own, where V8 inlines the section; the one in here sees every section and is
   * not inlined.
   */
  underLock<R>(section: (subs: MmuNotifierSubscriptions) => R): R | Promise<R>;
  underLock<R, A>(section: (subs: MmuNotifierSubscriptions, arg: A) => R, arg: A): R | Promise<R>;
  underLock<R, A>(section: (subs: MmuNotifierSubscriptions, arg?: A) => R, arg?: A): R | Promise<R> {
    if (!this.controlled) return section(this, arg);
    const p = this.lock.lock();
    if (p === undefined) return this.holding(section, arg);
    return p.then(() => this.holding(section, arg));
  }

  private holding<R, A>(section: (subs: MmuNotifierSubscriptions, arg?: A) => R, arg?: A): R {
    try {
      return section(this, arg);
    } finally {
      this.lock.unlock();
    }
  }

  private checkRange(range: MmuNotifierRange, what: string): void {
    if (range === null || typeof range !== "object" || range.mm !== this.mm) {
      this.kernel.misuse("EINVAL", `${what}: the range does not belong to ${this.mm.name}`);
    }
    const s = range.start;
    const e = range.end;
    if (
      !(Number.isSafeInteger(s) && s >= 0 && e > s && (Number.isSafeInteger(e) || e === ADDRESS_SPACE_END))
    ) {
      this.kernel.misuse("EINVAL", `${what}: [${String(s)}, ${String(e)}) is not a non-empty address range`);
    }
  }

  // ---- mm core entry points ----

  /**
   * `mmu_notifier_invalidate_range_start()`: tells every subscriber that `[range.start, range.end)`
   * is about to change. Sets `range.blockable`. Returns when every callback returned: undefined
   * when none slept, else a promise.
   *
   * Contract: may sleep; call it before changing the PTEs and call `invalidateRangeEnd(range)` once
   * after. Pairs with `invalidateRangeEnd`.
   */
  invalidateRangeStart(range: MmuNotifierRange): Promise<void> | undefined {
    const k = this.kernel;
    k.mightSleep("mmu_notifier_invalidate_range_start()");
    this.checkRange(range, "invalidateRangeStart");
    if (!this.present) {
      // The kernel's wrapper acquires and releases the map even without subscriptions.
      this.startMap.touch();
      return undefined;
    }
    range.blockable = true;
    if (k.trace !== null) traceInvalidation(this, "inv_start", range);
    const t = k.sched.current;
    let r: number | Promise<number>;
    if (t === null) r = this.startCore(range);
    else r = this.callbacks.guarded(t, true, () => this.startCore(range));
    return typeof r === "number" ? undefined : r.then(noop);
  }

  /**
   * `mmu_notifier_invalidate_range_start_nonblock()`: the same for a caller that cannot sleep (the
   * OOM reaper). Clears `range.blockable`. Returns 0, or -EAGAIN when a subscriber would have to
   * sleep: then the PTEs must not change and `invalidateRangeEnd` must NOT be called. (A promise
   * only if a callback slept anyway, which is a driver bug for classic notifiers and reported.)
   * Pairs with `invalidateRangeEnd` when it returned 0.
   */
  invalidateRangeStartNonblock(range: MmuNotifierRange): number | Promise<number> {
    this.checkRange(range, "invalidateRangeStartNonblock");
    if (!this.present) {
      this.startMap.touch();
      return 0;
    }
    range.blockable = false;
    const t = this.kernel.sched.current;
    if (this.kernel.trace !== null) return this.tracedStartNonblock(range);
    if (t === null) return this.startCore(range);
    return this.callbacks.guarded(t, true, () => this.startCore(range));
  }

  /** invalidateRangeStartNonblock, traced: a start that failed (-EAGAIN) has ended already. */
  private tracedStartNonblock(range: MmuNotifierRange): number | Promise<number> {
    traceInvalidation(this, "inv_start", range);
    const t = this.kernel.sched.current;
    const r =
      t === null ? this.startCore(range) : this.callbacks.guarded(t, true, () => this.startCore(range));
    const failed = (v: number): number => {
      if (v !== 0) traceInvalidation(this, "inv_end", range, v);
      return v;
    };
    return typeof r === "number" ? failed(r) : r.then(failed);
  }

  /** `__mmu_notifier_invalidate_range_start()`: the interval phase, then the classic phase. */
  private startCore(range: MmuNotifierRange): number | Promise<number> {
    if (this.hasItree) {
      const r = mnItreeInvalidate(this, range);
      if (typeof r !== "number") return r.then((v) => (v !== 0 ? v : this.hlistStart(range, true)));
      if (r !== 0) return r;
      return this.hlistStart(range, true);
    }
    return this.hlistStart(range, false);
  }

  /** The classic phase of a start; `itreeBegun`: the interval phase succeeded and awaits its end. */
  private hlistStart(range: MmuNotifierRange, itreeBegun: boolean): number | Promise<number> {
    if (this.classic.length === 0) return 0;
    let r: number | Promise<number>;
    try {
      r = mnHlistInvalidateRangeStart(this, range);
    } catch (e) {
      if (itreeBegun) return endThenRethrow(this, e);
      throw e;
    }
    if (typeof r === "number") return this.afterHlistStart(r, itreeBegun);
    return r.then(
      (v) => this.afterHlistStart(v, itreeBegun),
      (e: unknown) => (itreeBegun ? endThenRethrow(this, e) : Promise.reject(e)),
    );
  }

  private afterHlistStart(ret: number, itreeBegun: boolean): number | Promise<number> {
    if (ret === 0 || !itreeBegun) return ret;
    if (this.nonblockHazard) {
      // Linux: the interval phase stays begun; nobody will end it (kernel-spec §6.5).
      return ret;
    }
    // Fixed: the caller must not call end after a failure, so end the interval phase here.
    const p = mnItreeInvEnd(this);
    return p === undefined ? ret : p.then(() => ret);
  }

  /**
   * `mmu_notifier_invalidate_range_end()`: the PTEs of `range` changed; ends the invalidation begun
   * by the matching successful start (the interval bookkeeping, then the classic ends). Returns
   * undefined when nothing slept.
   *
   * Contract: exactly once per successful start, with the same range; may sleep if the range is
   * blockable. Pairs with `invalidateRangeStart` / a 0 from `invalidateRangeStartNonblock`.
   */
  invalidateRangeEnd(range: MmuNotifierRange): Promise<void> | undefined {
    const k = this.kernel;
    if (range.blockable) k.mightSleep("mmu_notifier_invalidate_range_end()");
    this.checkRange(range, "invalidateRangeEnd");
    if (!this.present) return undefined;
    if (k.trace !== null) traceInvalidation(this, "inv_end", range);
    const t = k.sched.current;
    const r = t === null ? this.endCore(range) : this.callbacks.guarded(t, true, () => this.endCore(range));
    return r === undefined ? undefined : r.then(noop);
  }

  /** `__mmu_notifier_invalidate_range_end()`: the interval bookkeeping, then the classic ends. */
  private endCore(range: MmuNotifierRange): Promise<void> | undefined {
    if (this.hasItree) {
      const p = mnItreeInvEnd(this);
      if (p !== undefined) return p.then(() => this.hlistEnd(range));
    }
    return this.hlistEnd(range);
  }

  private hlistEnd(range: MmuNotifierRange): Promise<void> | undefined {
    if (this.classic.length === 0) return undefined;
    return mnHlistInvalidateEnd(this, range);
  }

  /**
   * `mmu_notifier_release()` (from exit_mmap, when the last user is gone): one blockable RELEASE
   * invalidation over the whole address space for the interval notifiers (which stay registered and
   * must still be removed), then `release` for every classic notifier, which are unlinked; then an
   * SRCU grace period, so no `release` started by a concurrent `unregister` is still running.
   * Returns undefined when the mm has no subscriptions.
   */
  release(): Promise<void> | undefined {
    if (!this.present) return undefined;
    const t = this.kernel.sched.current;
    if (t === null) return this.releaseCore();
    const r = this.callbacks.guarded(t, false, () => this.releaseCore());
    return r instanceof Promise ? r : undefined;
  }

  /** `__mmu_notifier_release()`: mn_itree_release (no lockdep map, as in the kernel), then mn_hlist_release. */
  private async releaseCore(): Promise<void> {
    if (this.hasItree) await mnItreeRelease(this);
    if (this.classic.length !== 0) await mnHlistRelease(this);
  }

  // ---- Classic notifiers: registration (classicNotifier.ts) ----

  /**
   * `mmu_notifier_register()`: links `notifier` (newest first) so every later hook calls it. Takes
   * `mm.mmapLock` for write.
   *
   * Contract: the mm has users; the caller holds no mmap_lock. Throws EINVAL for ops that have both
   * `archInvalidateSecondaryTlbs` and start/end (also warned once), for a dead mm, or a notifier
   * already registered; -EINTR from `mm.takeAllLocks` is thrown as MmunError("EINTR"). Pairs with
   * `unregister` (or, for `get`, with `put`).
   */
  register(notifier: MmuNotifier): Promise<void> {
    return mmuNotifierRegister(this, notifier);
  }

  /**
   * `__mmu_notifier_register()`: `register` for a caller holding `mm.mmapLock` for write (asserted:
   * a `warn` when it does not, as mmap_assert_write_locked).
   */
  registerLocked(notifier: MmuNotifier): Promise<void> {
    return mmuNotifierRegisterLocked(this, notifier);
  }

  /**
   * `mmu_notifier_unregister()`: calls `release` if the notifier is still linked (exit may have done
   * so already; drivers make it idempotent), unlinks it, waits for an SRCU grace period and drops the
   * mm reference. After it returns no method of the notifier runs. May sleep.
   * Pairs with `register`.
   */
  unregister(notifier: MmuNotifier): Promise<void> {
    return mmuNotifierUnregister(this, notifier);
  }

  /**
   * `mmu_notifier_get()`: the one classic notifier of this mm for `ops` (compared by identity): an
   * existing one with one more user, or a new one from `ops.allocNotifier(mm)` (a plain MmuNotifier
   * when absent), registered. Takes `mm.mmapLock` for write. Throws EOVERFLOW when the users count
   * would pass 2^32-1. Pairs with `put`.
   */
  get(ops: MmuNotifierOps): Promise<MmuNotifier> {
    return mmuNotifierGet(this, ops);
  }

  /**
   * `mmu_notifier_get_locked()`: `get` for a caller holding `mm.mmapLock` for write (asserted: a
   * `warn` when it does not).
   */
  getLocked(ops: MmuNotifierOps): Promise<MmuNotifier> {
    return mmuNotifierGetLocked(this, ops);
  }

  /**
   * `mmu_notifier_put()`: drops a reference taken by `get`. The last one unlinks the notifier and,
   * after an SRCU grace period, calls `ops.freeNotifier` (atomically: it must not sleep) and drops
   * the mm reference. Legal from `release`. Call `synchronize()` before the driver goes away.
   * Never sleeps (a promise only for the controlled scheduler's lock point). Pairs with `get`.
   */
  put(notifier: MmuNotifier): Promise<void> | undefined {
    return mmuNotifierPut(this, notifier);
  }

  /**
   * `mmu_notifier_synchronize()`: waits until every deferred free queued by `put` so far has run
   * (and every classic callback in flight has returned). May sleep.
   */
  synchronize(): Promise<void> | undefined {
    return mmuNotifierSynchronize(this);
  }

  // ---- Aging and secondary-TLB hooks (classic notifiers only) ----

  /** `mmu_notifier_clear_flush_young()`: OR of every notifier's result; 0 without subscriptions. */
  clearFlushYoung(start: number, end: number): number {
    if (!this.present || this.classic.length === 0) return 0;
    return mnHlistClearFlushYoung(this, start, end);
  }

  /** `mmu_notifier_clear_young()`: as clearFlushYoung, the secondary TLB flush may be skipped. */
  clearYoung(start: number, end: number): number {
    if (!this.present || this.classic.length === 0) return 0;
    return mnHlistClearYoung(this, start, end);
  }

  /** `mmu_notifier_test_young()`: the first non-zero result (stops there); 0 without subscriptions. */
  testYoung(address: number): number {
    if (!this.present || this.classic.length === 0) return 0;
    return mnHlistTestYoung(this, address);
  }

  /** `mmu_notifier_arch_invalidate_secondary_tlbs()`: for devices sharing the CPU page tables. */
  archInvalidateSecondaryTlbs(start: number, end: number): void {
    if (!this.present || this.classic.length === 0) return;
    mnHlistArchInvalidateSecondaryTlbs(this, start, end);
  }

  // ---- Introspection and teardown ----

  /** A plain-data snapshot: sequence values, active count, deferred list and tree. */
  state(): NotifierState {
    const entry = (s: MmuIntervalNotifier): NotifierStateEntry => ({
      id: s.id,
      start: s.start,
      last: s.last,
      invalidateSeq: s.invalidateSeq,
    });
    const deferred: NotifierDeferredEntry[] = [];
    for (let j = this.deferred.length - 1; j >= 0; j--) {
      const s = this.deferred[j] as MmuIntervalNotifier;
      deferred.push({ ...entry(s), op: s.member === PENDING_INSERT ? "insert" : "remove" });
    }
    const tree: NotifierStateEntry[] = [];
    for (const node of this.itree) tree.push(entry(node.value));
    return {
      invalidateSeq: this.invalidateSeq,
      activeInvalidateRanges: this.activeInvalidateRanges,
      deferred,
      tree,
      present: this.present,
      hasItree: this.hasItree,
      classic: this.classic.length,
    };
  }

  /** @internal `__mmu_notifier_subscriptions_destroy()`, from the last mmdrop. */
  destroy(): void {
    if (this.classic.length !== 0) {
      this.kernel.warn(
        `BUG: ${this.mm.name} freed with ${this.classic.length} classic notifier(s) still linked`,
      );
    }
  }

  toString(): string {
    return `${this.mm.name}.notifiers (gseq ${this.invalidateSeq}, active ${this.activeInvalidateRanges}, ${this.itree.size} in tree)`;
  }
}
