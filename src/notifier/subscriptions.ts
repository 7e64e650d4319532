// Follows mm/mmu_notifier.c: struct mmu_notifier_subscriptions (one per mm), the interval-tree side of
// invalidation (mn_itree_*), and the mm core entry points that run the interval phase, then the
// classic phase (mn_hlist_*, in classicNotifier.ts).
//
// The protocol (states, sequence values, the reader/writer timeline) is specified in the header of
// intervalNotifier.ts. This file implements its write side:
//
//   start (mn_itree_inv_start_range + walk): under subs.lock: active++; look up the first
//     intersecting notifier; if one exists gseq |= 1 (odd: the tree is frozen); cur = gseq. Then,
//     without the lock, call every intersecting notifier in tree order with cur. A false return
//     is warned in a blockable range; in a non-blocking one the walk stops, the interval phase ends
//     itself (active--) and the start fails with -EAGAIN without running the classic phase.
//   end (mn_itree_inv_end): under subs.lock: active--; if it reached 0 while gseq is odd: gseq++,
//     apply the deferred list newest first (the kernel's hlist is LIFO), then wake every waiter.
//   Phase order: in a start all interval callbacks precede the classic starts; in an end the interval
//   bookkeeping precedes the classic ends.
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
// lockdep and sleep-in-atomic see it. The walk over callbacks never holds it: it relies on the tree
// being frozen while gseq is odd, as the kernel does.
//
// Calling context: the lockdep map "mmu_notifier_invalidate_range_start" is held (per task) across
// every start and end, as the kernel's wrappers do; classic callbacks of a non-blocking range run
// inside kernel.nonBlockStart/End, so sleeping there is reported; interval callbacks are not wrapped
// (the kernel does not wrap them either). The tasks (and, outside tasks, the synchronous part of the
// callbacks) inside a walk are tracked so that readBegin/remove from a callback is reported as a
// deadlock instead of hanging. A callback that throws is a driver bug: the walk stops, the interval
// phase it began is ended, and the error propagates to the caller of the entry point.

import { EAGAIN, MmunError } from "../lib/errno.js";
import { IntervalTree } from "../lib/intervalTree.js";
import type { LockMap } from "../sync/lockMap.js";
import type { SpinLock } from "../sync/spinLock.js";
import type { Srcu } from "../sync/srcu.js";
import type { SyncKernel } from "../sync/syncKernel.js";
import type { Task } from "../sync/task.js";
import type { WaitQueue } from "../sync/waitQueue.js";
import {
  MmuNotifier,
  type MmuNotifierOps,
  mnHlistArchInvalidateSecondaryTlbs,
  mnHlistClearFlushYoung,
  mnHlistClearYoung,
  mnHlistInvalidateEnd,
  mnHlistInvalidateRangeStart,
  mnHlistRelease,
  mnHlistTestYoung,
} from "./classicNotifier.js";
import type { MmuIntervalNotifier } from "./intervalNotifier.js";
import { IN_TREE, PENDING_INSERT, PENDING_REMOVE, UNLINKED } from "./membership.js";
import { type NotifierGlobals, notifierGlobals } from "./notifierGlobals.js";
import type { NotifierMm } from "./notifierMm.js";
import { ADDRESS_SPACE_END, describeRange, MmuNotifierEvent, type MmuNotifierRange } from "./range.js";

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

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
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
  /** @internal `subs->lock`; taken only under the controlled scheduler (see the header). */
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
  /** @internal Tasks inside a start, end or release of this mm (callbacks may run). */
  readonly walkers: Task[] = [];
  /** @internal Depth of synchronous callback calls in progress (any caller). */
  syncDepth = 0;

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
  }

  // ---- subs.lock (see the header) ----

  /** @internal Takes subs.lock when it adds value (controlled scheduler); pairs with spinUnlock. */
  spinLock(): Promise<void> | undefined {
    return this.controlled ? this.lock.lock() : undefined;
  }

  /** @internal Pairs with spinLock. */
  spinUnlock(): void {
    if (this.controlled) this.lock.unlock();
  }

  // ---- The interval tree side (mn_itree_*) ----

  /** @internal The locked part of __mmu_interval_notifier_insert; releases subs.lock. */
  itreeInsertLocked(sub: MmuIntervalNotifier): void {
    if (this.activeInvalidateRanges !== 0) {
      if (this.invalidateSeq % 2 === 1) {
        // Exclusive: the tree is frozen; the end of the period links it.
        this.deferred.push(sub);
        sub.member = PENDING_INSERT;
      } else {
        // Partial: an invalidation in flight may cover it without having seen it; make the period
        // exclusive so its readers wait for the end.
        this.setGseq(this.invalidateSeq + 1);
        sub.node = this.itree.insert(sub.start, sub.last, sub);
        sub.member = IN_TREE;
      }
      sub.invalidateSeq = this.invalidateSeq;
    } else {
      if (this.invalidateSeq % 2 === 1)
        this.kernel.warn(`${this.mm.name}: gseq ${this.invalidateSeq} is odd while idle`);
      // Odd and different from gseq: its first readBegin does not wait.
      sub.invalidateSeq = this.invalidateSeq - 1;
      sub.node = this.itree.insert(sub.start, sub.last, sub);
      sub.member = IN_TREE;
    }
    this.spinUnlock();
    const k = this.kernel;
    if (k.trace !== null) {
      k.event("value", sub.id, sub.invalidateSeq, "invalidate_seq");
      k.event("note", sub.id, undefined, sub.member === PENDING_INSERT ? "insert deferred" : "inserted");
    }
  }

  /**
   * @internal The locked part of mmu_interval_notifier_remove. Returns the gseq to wait past, or 0
   * when the removal is complete. Throws (misuse) when the notifier is not removable.
   */
  itreeRemoveLocked(sub: MmuIntervalNotifier): number {
    const k = this.kernel;
    if (sub.member !== PENDING_INSERT && sub.member !== IN_TREE) {
      k.misuse("EINVAL", `${sub.describe()}.remove(): the notifier is ${sub.membership} (double remove?)`);
    }
    let wait = 0;
    if (this.invalidateSeq % 2 === 1) {
      if (sub.member === PENDING_INSERT) {
        // Inserted during this period and not linked yet: just cancel the insert.
        const i = this.deferred.lastIndexOf(sub);
        if (i >= 0) this.deferred.splice(i, 1);
        sub.member = UNLINKED;
      } else {
        this.deferred.push(sub);
        sub.member = PENDING_REMOVE;
        wait = this.invalidateSeq;
      }
    } else {
      if (sub.member !== IN_TREE || sub.node === null) {
        k.warn(`${sub.describe()}.remove(): not in the tree although gseq is even`);
      } else this.itree.remove(sub.node);
      sub.node = null;
      sub.member = UNLINKED;
    }
    if (k.trace !== null) k.event("note", sub.id, wait, wait === 0 ? "remove" : "remove deferred (waits)");
    return wait;
  }

  /** @internal Sleeps until gseq differs from `seq` (read_begin, remove). */
  waitSeqChange(seq: number, objId: number, what: string): Promise<void> {
    const k = this.kernel;
    if (k.trace !== null) k.event("note", objId, seq, `${what}: waits for gseq != ${seq}`);
    const w = this.wq.waitEvent(() => this.invalidateSeq !== seq);
    return w === undefined ? Promise.resolve() : w;
  }

  private setGseq(v: number): void {
    this.invalidateSeq = v;
    const k = this.kernel;
    if (k.trace !== null) k.event("value", this.id, v, "invalidate_seq");
  }

  private traceActive(): void {
    this.kernel.event("value", this.id, this.activeInvalidateRanges, "active_invalidate_ranges");
  }

  /** mn_itree_invalidate: the interval phase of a start. 0, -EAGAIN, or a promise of either. */
  private itreeInvalidate(range: MmuNotifierRange): number | Promise<number> {
    const p = this.spinLock();
    if (p !== undefined) return p.then(() => this.itreeInvalidateLocked(range));
    return this.itreeInvalidateLocked(range);
  }

  private itreeInvalidateLocked(range: MmuNotifierRange): number | Promise<number> {
    // mn_itree_inv_start_range, under subs.lock.
    this.activeInvalidateRanges++;
    const first = this.itree.firstIndex(range.start, range.end - 1);
    // gseq |= 1: enter (or stay in) the exclusive period.
    const flip = first !== -1 && this.invalidateSeq % 2 === 0;
    if (flip) this.invalidateSeq++;
    const cur = this.invalidateSeq;
    this.spinUnlock();
    const k = this.kernel;
    if (k.trace !== null) {
      this.traceActive();
      if (flip) k.event("value", this.id, cur, "invalidate_seq");
      k.event(
        "note",
        this.id,
        cur,
        `start ${describeRange(range)}${first === -1 ? " (no intersecting notifier)" : ""}`,
      );
    }
    if (first === -1) return 0;
    return this.itreeWalk(range, first, cur);
  }

  private itreeWalk(range: MmuNotifierRange, i: number, cur: number): number | Promise<number> {
    const tree = this.itree;
    const s = range.start;
    const l = range.end - 1;
    const k = this.kernel;
    const depth = this.syncDepth;
    try {
      do {
        const sub = tree.valueAt(i);
        if (k.trace !== null) this.traceCallback(sub, range, cur);
        this.syncDepth++;
        const ret: unknown = sub.ops.invalidate(sub, range, cur);
        this.syncDepth--;
        if (ret !== true) {
          if (isThenable(ret)) return this.itreeWalkAsync(range, i, cur, ret);
          const r = this.itreeCallbackFalse(range, sub, ret);
          if (r !== 0) return r;
        }
        i = tree.nextIndex(i, s, l);
      } while (i !== -1);
    } catch (e) {
      this.syncDepth = depth;
      this.itreeInvEndNow();
      throw e;
    }
    return 0;
  }

  private async itreeWalkAsync(
    range: MmuNotifierRange,
    i: number,
    cur: number,
    pending: PromiseLike<unknown>,
  ): Promise<number> {
    const tree = this.itree;
    const s = range.start;
    const l = range.end - 1;
    const k = this.kernel;
    try {
      let ret: unknown = await pending;
      for (;;) {
        if (ret !== true) {
          const r = this.itreeCallbackFalse(range, tree.valueAt(i), ret);
          if (r !== 0) return await r;
        }
        i = tree.nextIndex(i, s, l);
        if (i === -1) return 0;
        const sub = tree.valueAt(i);
        if (k.trace !== null) this.traceCallback(sub, range, cur);
        this.syncDepth++;
        try {
          ret = sub.ops.invalidate(sub, range, cur);
        } finally {
          this.syncDepth--;
        }
        if (isThenable(ret)) ret = await ret;
      }
    } catch (e) {
      this.itreeInvEndNow();
      throw e;
    }
  }

  private traceCallback(sub: MmuIntervalNotifier, range: MmuNotifierRange, cur: number): void {
    this.kernel.event("note", sub.id, cur, `invalidate ${describeRange(range)} cur_seq=${cur}`);
  }

  /** A callback did not return true: 0 to go on, or -EAGAIN (or its promise) to stop. */
  private itreeCallbackFalse(
    range: MmuNotifierRange,
    sub: MmuIntervalNotifier,
    ret: unknown,
  ): number | Promise<number> {
    const k = this.kernel;
    if (ret !== false) {
      k.warn(
        `${sub.describe()}: invalidate returned ${String(ret)}, not a boolean (taken as ${Boolean(ret)})`,
      );
      if (ret) return 0;
    }
    if (range.blockable) {
      k.warn(`${sub.describe()}: invalidate returned false for the blockable range ${describeRange(range)}`);
      return 0;
    }
    // Non-blocking and the driver would have to sleep: stop; the caller will not call end, so end
    // the interval phase here.
    if (k.trace !== null) k.event("note", sub.id, undefined, "invalidate would block: -EAGAIN");
    const p = this.itreeInvEnd();
    return p === undefined ? -EAGAIN : p.then(() => -EAGAIN);
  }

  /** mn_itree_inv_end. */
  private itreeInvEnd(): Promise<void> | undefined {
    const p = this.spinLock();
    if (p !== undefined) return p.then(() => this.itreeInvEndLocked());
    return this.itreeInvEndLocked();
  }

  private itreeInvEndLocked(): undefined {
    const wake = this.endSection();
    this.spinUnlock();
    if (wake) this.wq.wakeUpAll();
    return undefined;
  }

  /** The end section without subs.lock (error paths; the section is atomic anyway). */
  private itreeInvEndNow(): void {
    if (this.endSection()) this.wq.wakeUpAll();
  }

  /** The locked part of mn_itree_inv_end; true when waiters must be woken. */
  private endSection(): boolean {
    const k = this.kernel;
    if (this.activeInvalidateRanges === 0) {
      k.warn(`${this.mm.name}: invalidate_range_end without a matching start (no invalidation is active)`);
      return false;
    }
    this.activeInvalidateRanges--;
    if (k.trace !== null) this.traceActive();
    if (this.activeInvalidateRanges !== 0 || this.invalidateSeq % 2 === 0) return false;
    this.setGseq(this.invalidateSeq + 1);
    // Like rtnl_unlock(): apply what was queued while the tree was frozen, newest first.
    const d = this.deferred;
    for (let j = d.length - 1; j >= 0; j--) {
      const sub = d[j] as MmuIntervalNotifier;
      if (sub.member === PENDING_INSERT) {
        sub.node = this.itree.insert(sub.start, sub.last, sub);
        sub.member = IN_TREE;
        if (k.trace !== null) k.event("note", sub.id, undefined, "deferred insert applied");
      } else if (sub.member === PENDING_REMOVE && sub.node !== null) {
        this.itree.remove(sub.node);
        sub.node = null;
        sub.member = UNLINKED;
        if (k.trace !== null) k.event("note", sub.id, undefined, "deferred remove applied");
      }
    }
    d.length = 0;
    return true;
  }

  // ---- Who is inside a walk (for readBegin/remove from a callback) ----

  /** @internal True when the running code is inside a start, end or release walk of this mm. */
  insideCallback(t: Task | null): boolean {
    if (this.syncDepth !== 0) return true;
    return t !== null && this.walkers.includes(t);
  }

  private enter(t: Task | null, map: boolean): void {
    if (t === null) return;
    if (map) this.startMap.acquire();
    this.walkers.push(t);
  }

  private leave(t: Task | null, map: boolean): void {
    if (t === null) return;
    const w = this.walkers;
    const i = w.lastIndexOf(t);
    if (i >= 0) w.splice(i, 1);
    if (map) this.startMap.release();
  }

  /** Runs `body` inside enter/leave, for a sync or async body. */
  private guarded<T>(t: Task | null, map: boolean, body: () => T | Promise<T>): T | Promise<T> {
    this.enter(t, map);
    let r: T | Promise<T>;
    try {
      r = body();
    } catch (e) {
      this.leave(t, map);
      throw e;
    }
    if (!(r instanceof Promise)) {
      this.leave(t, map);
      return r;
    }
    return r.then(
      (v) => {
        this.leave(t, map);
        return v;
      },
      (e: unknown) => {
        this.leave(t, map);
        throw e;
      },
    );
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
    const t = k.sched.current;
    let r: number | Promise<number>;
    if (t === null) r = this.startCore(range);
    else r = this.guarded(t, true, () => this.startCore(range));
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
    if (t === null) return this.startCore(range);
    return this.guarded(t, true, () => this.startCore(range));
  }

  /** __mmu_notifier_invalidate_range_start: interval phase, then classic phase. */
  private startCore(range: MmuNotifierRange): number | Promise<number> {
    if (this.hasItree) {
      const r = this.itreeInvalidate(range);
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
      if (itreeBegun) this.itreeInvEndNow();
      throw e;
    }
    if (typeof r === "number") return this.afterHlistStart(r, itreeBegun);
    return r.then(
      (v) => this.afterHlistStart(v, itreeBegun),
      (e: unknown) => {
        if (itreeBegun) this.itreeInvEndNow();
        throw e;
      },
    );
  }

  private afterHlistStart(ret: number, itreeBegun: boolean): number | Promise<number> {
    if (ret === 0 || !itreeBegun) return ret;
    if (this.nonblockHazard) {
      // Linux: the interval phase stays begun; nobody will end it (kernel-spec §6.5).
      return ret;
    }
    // Fixed: the caller must not call end after a failure, so end the interval phase here.
    const p = this.itreeInvEnd();
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
    const t = k.sched.current;
    const r = t === null ? this.endCore(range) : this.guarded(t, true, () => this.endCore(range));
    return r === undefined ? undefined : r.then(noop);
  }

  private endCore(range: MmuNotifierRange): Promise<void> | undefined {
    if (this.hasItree) {
      const p = this.itreeInvEnd();
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
    const r = this.guarded(t, false, () => this.releaseCore());
    return r instanceof Promise ? r : undefined;
  }

  private async releaseCore(): Promise<void> {
    if (this.hasItree) {
      // mn_itree_release: normal start/end bookkeeping, no lockdep map (as in the kernel).
      const range: MmuNotifierRange = {
        mm: this.mm,
        start: 0,
        end: ADDRESS_SPACE_END,
        event: MmuNotifierEvent.RELEASE,
        blockable: true,
        owner: undefined,
      };
      await this.itreeInvalidate(range);
      const p = this.itreeInvEnd();
      if (p !== undefined) await p;
    }
    if (this.classic.length !== 0) await mnHlistRelease(this);
  }

  // ---- Registration (classic notifiers, and the interval tree itself) ----

  /**
   * `mmu_notifier_register()`: links `notifier` (newest first) so every later hook calls it. Takes
   * `mm.mmapLock` for write.
   *
   * Contract: the mm has users; the caller holds no mmap_lock. Throws EINVAL for ops that have both
   * `archInvalidateSecondaryTlbs` and start/end (also warned once), for a dead mm, or a notifier
   * already registered; -EINTR from `mm.takeAllLocks` is thrown as MmunError("EINTR"). Pairs with
   * `unregister` (or, for `get`, with `put`).
   */
  async register(notifier: MmuNotifier): Promise<void> {
    this.checkNotifier(notifier, "register");
    const lk = this.mm.mmapLock;
    const p = lk.downWrite();
    if (p !== undefined) await p;
    try {
      await this.registerLockedCore(notifier);
    } finally {
      lk.upWrite();
    }
  }

  /** `__mmu_notifier_register()`: `register` for a caller holding `mm.mmapLock` for write. */
  async registerLocked(notifier: MmuNotifier): Promise<void> {
    this.checkNotifier(notifier, "registerLocked");
    await this.registerLockedCore(notifier);
  }

  /** @internal `mmu_notifier_register(NULL, mm)`: enables the interval tree. */
  async registerItree(): Promise<void> {
    const lk = this.mm.mmapLock;
    const p = lk.downWrite();
    if (p !== undefined) await p;
    try {
      await this.registerLockedCore(null);
    } finally {
      lk.upWrite();
    }
  }

  /** @internal `__mmu_notifier_register(NULL, mm)`. */
  registerItreeLocked(): Promise<void> {
    return this.registerLockedCore(null);
  }

  private checkNotifier(notifier: MmuNotifier, what: string): void {
    if (!(notifier instanceof MmuNotifier)) {
      throw new MmunError("EINVAL", `${what}: expected an MmuNotifier`);
    }
  }

  private async registerLockedCore(notifier: MmuNotifier | null): Promise<void> {
    const mm = this.mm;
    const k = this.kernel;
    if (!mm.mmapLock.isWriteLockedByMe()) {
      k.warn(`registering on ${mm.name} without holding mmap_lock for write (mmap_assert_write_locked)`);
    }
    if (mm.users <= 0) k.misuse("EINVAL", `BUG: registering a notifier on ${mm.name}, which has no users`);
    if (notifier !== null) {
      const ops = notifier.ops;
      if (
        ops.archInvalidateSecondaryTlbs !== undefined &&
        (ops.invalidateRangeStart !== undefined || ops.invalidateRangeEnd !== undefined)
      ) {
        const msg = "a notifier may have archInvalidateSecondaryTlbs or invalidateRangeStart/End, not both";
        if (!this.globals.warnedBothHooks) {
          this.globals.warnedBothHooks = true;
          k.warn(msg);
        }
        throw new MmunError("EINVAL", msg);
      }
      if (notifier.registered) k.misuse("EINVAL", `${notifier} is registered already`);
    }
    this.primeLockdep();
    const fresh = !this.present;
    if (mm.takeAllLocks !== undefined) {
      const r = await mm.takeAllLocks();
      if (r !== 0) throw new MmunError("EINTR", `mm_take_all_locks on ${mm.name} failed (${r})`);
    }
    try {
      if (fresh) this.present = true;
      if (notifier !== null) {
        // Pairs with the mmdrop in unregister() or in the free after the last put().
        mm.mmgrab();
        notifier.mm = mm;
        notifier.users = 1;
        notifier.registered = true;
        const p = this.spinLock();
        if (p !== undefined) await p;
        this.classic = [notifier, ...this.classic];
        notifier.linked = true;
        this.spinUnlock();
        if (k.trace !== null) k.event("note", this.id, undefined, `registered ${notifier}`);
      } else {
        this.hasItree = true;
        if (k.trace !== null) k.event("note", this.id, undefined, "interval tree registered");
      }
    } finally {
      if (mm.dropAllLocks !== undefined) mm.dropAllLocks();
    }
  }

  /**
   * Teaches lockdep that invalidations happen from reclaim (fs_reclaim -> the invalidate map), so
   * allocating under a lock a callback takes is reported even if reclaim never ran. Linux did this
   * at registration from v5.4 ("mm/mmu_notifiers: prime lockdep") until v5.11, when
   * fs_reclaim_acquire() itself started touching the map on every reclaim-capable allocation; an
   * allocation helper in a later layer should do the latter too (the priming then becomes redundant).
   */
  private primeLockdep(): void {
    const k = this.kernel;
    if (k.lockdep === null || k.sched.current === null) return;
    const fs = this.globals.fsReclaim;
    fs.acquire();
    this.startMap.acquire();
    this.startMap.release();
    fs.release();
  }

  /**
   * `mmu_notifier_unregister()`: calls `release` if the notifier is still linked (exit may have done
   * so already; drivers make it idempotent), unlinks it, waits for an SRCU grace period and drops the
   * mm reference. After it returns no method of the notifier runs. May sleep.
   * Pairs with `register`.
   */
  async unregister(notifier: MmuNotifier): Promise<void> {
    this.checkNotifier(notifier, "unregister");
    const mm = this.mm;
    const k = this.kernel;
    if (notifier.mm !== mm || !notifier.registered) {
      k.misuse("EINVAL", `unregister: ${notifier} is not registered on ${mm.name}`);
    }
    if (mm.count <= 0) k.misuse("EINVAL", `BUG: unregister on ${mm.name}, which was freed`);
    notifier.registered = false;
    if (notifier.linked) {
      const idx = this.srcu.readLock();
      try {
        const rel = notifier.ops.release;
        if (rel !== undefined) {
          const r = rel.call(notifier.ops, notifier, mm);
          if (isThenable(r)) await r;
        }
      } finally {
        this.srcu.readUnlock(idx);
      }
      const p = this.spinLock();
      if (p !== undefined) await p;
      this.unlinkClassic(notifier);
      this.spinUnlock();
    }
    // Waits for every classic callback in flight, including a release run by exit.
    const s = this.srcu.synchronize();
    if (s !== undefined) await s;
    // Pairs with the mmgrab in register().
    mm.mmdrop();
  }

  /** @internal Unlinks `notifier` from the classic list (under subs.lock). */
  unlinkClassic(notifier: MmuNotifier): void {
    if (!notifier.linked) return;
    notifier.linked = false;
    this.classic = this.classic.filter((n) => n !== notifier);
  }

  /**
   * `mmu_notifier_get()`: the one classic notifier of this mm for `ops` (compared by identity): an
   * existing one with one more user, or a new one from `ops.allocNotifier(mm)` (a plain MmuNotifier
   * when absent), registered. Takes `mm.mmapLock` for write. Throws EOVERFLOW when the users count
   * would pass 2^32-1. Pairs with `put`.
   */
  async get(ops: MmuNotifierOps): Promise<MmuNotifier> {
    const lk = this.mm.mmapLock;
    const p = lk.downWrite();
    if (p !== undefined) await p;
    try {
      return await this.getLocked(ops);
    } finally {
      lk.upWrite();
    }
  }

  /** `mmu_notifier_get_locked()`: `get` for a caller holding `mm.mmapLock` for write. */
  async getLocked(ops: MmuNotifierOps): Promise<MmuNotifier> {
    const mm = this.mm;
    const k = this.kernel;
    if (ops === null || typeof ops !== "object") throw new MmunError("EINVAL", "get: ops must be an object");
    if (!mm.mmapLock.isWriteLockedByMe()) {
      k.warn(`getLocked on ${mm.name} without holding mmap_lock for write (mmap_assert_write_locked)`);
    }
    if (this.present) {
      const found = await this.findGet(ops);
      if (found !== null) return found;
    }
    const sub = ops.allocNotifier !== undefined ? ops.allocNotifier(mm) : new MmuNotifier(ops);
    if (!(sub instanceof MmuNotifier))
      throw new MmunError("EINVAL", "get: allocNotifier must return an MmuNotifier");
    sub.ops = ops;
    try {
      await this.registerLockedCore(sub);
    } catch (e) {
      if (ops.freeNotifier !== undefined) ops.freeNotifier(sub);
      throw e;
    }
    return sub;
  }

  private async findGet(ops: MmuNotifierOps): Promise<MmuNotifier | null> {
    const p = this.spinLock();
    if (p !== undefined) await p;
    try {
      for (const n of this.classic) {
        if (n.ops !== ops) continue;
        if (n.users === MAX_USERS) throw new MmunError("EOVERFLOW", `get: ${n} has ${MAX_USERS} users`);
        n.users++;
        return n;
      }
      return null;
    } finally {
      this.spinUnlock();
    }
  }

  /**
   * `mmu_notifier_put()`: drops a reference taken by `get`. The last one unlinks the notifier and,
   * after an SRCU grace period, calls `ops.freeNotifier` (atomically: it must not sleep) and drops
   * the mm reference. Legal from `release`. Call `synchronize()` before the driver goes away.
   * Never sleeps (a promise only for the controlled scheduler's lock point). Pairs with `get`.
   */
  put(notifier: MmuNotifier): Promise<void> | undefined {
    this.checkNotifier(notifier, "put");
    if (notifier.mm !== this.mm) {
      this.kernel.misuse("EINVAL", `put: ${notifier} is not registered on ${this.mm.name}`);
    }
    const p = this.spinLock();
    if (p !== undefined) return p.then(() => this.putLocked(notifier));
    return this.putLocked(notifier);
  }

  private putLocked(notifier: MmuNotifier): undefined {
    const k = this.kernel;
    if (notifier.users === 0) {
      this.spinUnlock();
      k.warn(`put: ${notifier} has no users left (unbalanced put)`);
      return undefined;
    }
    notifier.users--;
    if (notifier.users !== 0) {
      this.spinUnlock();
      return undefined;
    }
    this.unlinkClassic(notifier);
    notifier.registered = false;
    this.spinUnlock();
    const mm = this.mm;
    this.srcu.callSrcu(() => {
      const free = notifier.ops.freeNotifier;
      if (free !== undefined) free.call(notifier.ops, notifier);
      notifier.freed = true;
      // Pairs with the mmgrab in register().
      mm.mmdrop();
    });
    return undefined;
  }

  /**
   * `mmu_notifier_synchronize()`: waits until every deferred free queued by `put` so far has run
   * (and every classic callback in flight has returned). May sleep.
   */
  synchronize(): Promise<void> | undefined {
    const s = this.srcu.synchronize();
    if (s !== undefined) return s.then(() => this.srcu.barrier());
    return this.srcu.barrier();
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

/** The kernel's UINT_MAX: the most users a classic notifier can have. */
const MAX_USERS = 0xffffffff;
