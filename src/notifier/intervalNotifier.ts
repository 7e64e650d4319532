// Follows mm/mmu_notifier.c and include/linux/mmu_notifier.h: struct mmu_interval_notifier and its
// collision-retry read side (mmu_interval_read_begin / _read_retry / _check_retry / _set_seq).
//
// THE PROTOCOL. Each mm keeps one sequence number gseq (subs.invalidateSeq, starting at 2) and a
// count of invalidations in flight (subs.activeInvalidateRanges, "active"); each interval notifier
// keeps its own sseq (sub.invalidateSeq). Together they form a seqcount that many writers may hold
// at once. The write side is in one of three states:
//
//   state               condition                      the interval tree
//   ------------------  -----------------------------  --------------------------------------------
//   idle                active == 0, gseq even,        may change; inserts link at once with
//                       deferred list empty            sseq = gseq - 1
//   partially excluded  active > 0, gseq even          may change; no walk is running; an insert
//                       (no start in flight found a    links at once and makes the period exclusive
//                       notifier)
//   fully excluded      active > 0, gseq odd           frozen: walks run without the lock; inserts
//                       (a start found a notifier, or  and removals queue on the deferred list
//                       an insert hit a partial one)
//
// Each row, and each transition, is backed by a test in test/notifier/invariants.test.ts (the model
// test, model.test.ts, also checks all of them after every random command):
//   idle:       "6.1-11: insert when idle links at once, sets sseq = gseq - 1 and read_begin does
//                not wait"
//   partial:    "6.1-17: an invalidation that intersects no sub keeps gseq even, wakes nobody and
//                delays no reader"
//   exclusive:  "6.1-6: the tree is never modified while gseq is odd", "6.1-12: insert while
//                active > 0 sets sseq = gseq (odd) and read_begin waits for every invalidation in
//                flight at insert time", "6.1-13: a sub inserted while gseq is odd is not seen by
//                invalidations until the period ends, then it is in the tree"
//   -> odd:     gseq |= 1 (arithmetically: +1 from even) when a start finds an intersecting notifier
//               or an insert lands in a partial period: "6.1-4: gseq turns odd only when a start
//               finds an intersecting sub or an insert lands in a partial period"
//   -> even:    gseq += 1 only in the end that brings active from 1 to 0 while odd, which applies the
//               deferred list and then wakes every waiter: "6.1-5: gseq turns even only in the end
//               that brings active from 1 to 0, which applies the deferred list before waking
//               waiters"
//   values:     every exclusive period has its own odd value, given to all its callbacks as curSeq:
//               "6.1-8: all callbacks of one exclusive period get the same odd curSeq, and the next
//               period a larger one"; the §3.4 worked trace: "§3.4: the worked trace gives the same
//               sequence values step by step (direct runtime, tasks)" (workedTrace.test.ts)
//
// A reader (a device fault) and a writer (the mm changing PTEs) meet like this; "driver lock" is the
// lock the driver's invalidate callback takes around setSeq and the reader takes around readRetry:
//
//   writer (invalidateRangeStart/End)      reader (the driver's fault path)        test (6.1-N: …)
//   -------------------------------------  --------------------------------------  ----------------
//                                          s = sub.readBegin(): sseq != gseq, so   6.1-14
//                                            it returns sseq at once
//   start: active++; a notifier is found:                                          6.1-4
//     gseq |= 1; cur = gseq
//   sub.invalidate: driver lock;
//     sub.setSeq(cur); zap the device;
//     driver unlock
//                                          fault the pages (hmmRangeFault)
//                                          driver lock; readRetry(s): sseq is now  6.1-15
//                                            cur != s: retry; driver unlock
//                                          s = readBegin(): sseq == gseq: sleeps   6.1-14
//   end: active-- reaches 0 with gseq                                              6.1-5
//     odd: gseq++, deferred applied,
//     wake all
//                                          wakes, returns cur; faults again;       §3.4
//                                            driver lock; readRetry(cur) false:
//                                            program the device; driver unlock
//
// ("6.1-14: read_begin returns the sub's sseq, sleeping only while sseq equals gseq, until gseq
// changes"; "6.1-15: a set_seq between read_begin and read_retry makes read_retry true".) If the
// reader takes the driver lock before the callback does, the callback waits for it, the reader
// programs the device with pages that are still current, and the callback then zaps them: the PTEs
// change only after every callback returned. Both orders, and every other interleaving the random
// strategy reaches, are checked by "interleavings: the canonical reader never publishes a stale page
// (controlled, seeds 0-299)" (interleavings.test.ts). readBegin does not loop: when it returns,
// readRetry may already be true, so the caller keeps control of its time bound.
//
// Rules the code checks: readBegin and remove may sleep (mightSleep) and touch the lockdep map
// "mmu_notifier_invalidate_range_start" held around every start and end, so calling them while
// holding a lock a callback takes is a reported lock-order inversion; calling them from inside a
// callback of the same mm is a deadlock, reported (`deadlock`) and thrown (MmunError EDEADLK) instead
// of hanging. For plain async code outside any task only the callback's synchronous part is covered.
//
// Fast paths: readBegin without a wait, readRetry, checkRetry and setSeq allocate nothing and return
// plain values in the direct runtime. subscriptions.ts explains why subs.lock is a real SpinLock only
// under the controlled scheduler.

import { MmunError } from "../lib/errno.js";
import type { IntervalTreeNode } from "../lib/intervalTree.js";
import { recordEvent } from "../trace/recorder.js";
import { mmuNotifierRegister, mmuNotifierRegisterLocked } from "./classicNotifier.js";
import { itreeLinkOrDefer, itreeUnlinkOrDefer, waitSeqChange } from "./itree.js";
import {
  IN_TREE,
  type IntervalMembership,
  MEMBERSHIP_NAMES,
  type MembershipCode,
  NOT_INSERTED,
  PENDING_INSERT,
  REMOVED,
} from "./membership.js";
import type { NotifierMm } from "./notifierMm.js";
import { traceInterval } from "./notifierTrace.js";
import { ADDRESS_SPACE_END, hex, type MmuNotifierRange } from "./range.js";
import { MmuNotifierSubscriptions } from "./subscriptions.js";

/**
 * The driver's side of an interval notifier (kernel `struct mmu_interval_notifier_ops`).
 */
export interface MmuIntervalNotifierOps<M extends NotifierMm = NotifierMm> {
  /** Optional label used in traces and messages. */
  readonly name?: string;
  /**
   * Called for every invalidation intersecting the notifier's interval, before the PTEs change, in
   * ascending start order (insertion order on ties), from the task changing the mm.
   *
   * Contract: take the driver lock that the read side uses for `readRetry`, call
   * `sub.setSeq(curSeq)` under it, stop all device use of the part of the interval in `range`, and
   * return true. Sleeping is allowed only when `range.blockable`; otherwise return false when the
   * work would need to sleep (the core then fails the invalidation with -EAGAIN): a sleep there is
   * reported as `sleep-in-atomic`. Returning false in a blockable range is a bug (warned). Never call `remove` or
   * `readBegin` from here.
   */
  invalidate(
    sub: MmuIntervalNotifier<M>,
    range: MmuNotifierRange,
    curSeq: number,
  ): boolean | Promise<boolean>;
}

/**
 * The subs.lock section of `mmu_interval_read_begin()`: the notifier's sseq. Pairs with the store in
 * setSeq(): a stale value here is caught by the later readRetry().
 */
function sampleSeq(_subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): number {
  return sub.invalidateSeq;
}

function rejectWith(fail: () => never): Promise<never> {
  try {
    fail();
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * An interval notifier (kernel `struct mmu_interval_notifier`): a subscription to invalidations of
 * the closed interval `[start, last]` of one mm, with a collision-retry read side.
 *
 * `MmuIntervalNotifier.insert(mm, …)` allocates and inserts one; `new MmuIntervalNotifier()` (or a
 * subclass carrying driver state, the kernel's container_of pattern) followed by `sub.insert(mm, …)`
 * inserts an object you own. After `remove()` returned the object may be inserted again.
 */
export class MmuIntervalNotifier<M extends NotifierMm = NotifierMm> {
  /** First address of the watched interval (read-only). */
  start = 0;
  /** Last address of the watched interval, inclusive (read-only). */
  last = 0;
  /**
   * The kernel's `interval_sub->invalidate_seq` (read-only; written by insert and `setSeq`): the
   * curSeq of the last invalidation that touched this notifier, always odd.
   */
  invalidateSeq = 0;
  /** @internal The mm's subscriptions, once inserted. */
  subs: MmuNotifierSubscriptions | null = null;
  /** @internal */
  ops!: MmuIntervalNotifierOps<M>;
  /** @internal Tree membership (membership.ts). */
  member: MembershipCode = NOT_INSERTED;
  /** @internal The tree node while linked. */
  node: IntervalTreeNode<MmuIntervalNotifier> | null = null;
  /** @internal Trace object id (-1 before the first insert). */
  id = -1;
  private mmRef: M | null = null;

  /**
   * `mmu_interval_notifier_insert()`: allocates a notifier for `[start, start + length - 1]` of
   * `mm` and inserts it; see the instance method {@link MmuIntervalNotifier.prototype.insert}.
   * Returns the notifier (a promise of it when the call had to wait). Pairs with `remove`.
   */
  static insert<M extends NotifierMm>(
    mm: M,
    start: number,
    length: number,
    ops: MmuIntervalNotifierOps<M>,
  ): MmuIntervalNotifier<M> | Promise<MmuIntervalNotifier<M>> {
    const sub = new MmuIntervalNotifier<M>();
    const p = sub.insert(mm, start, length, ops);
    return p === undefined ? sub : p.then(() => sub);
  }

  /**
   * `mmu_interval_notifier_insert_locked()`: as {@link MmuIntervalNotifier.insert} for a caller that
   * holds `mm.mmapLock` for write (asserted: a `warn` when it does not). Pairs with `remove`.
   */
  static insertLocked<M extends NotifierMm>(
    mm: M,
    start: number,
    length: number,
    ops: MmuIntervalNotifierOps<M>,
  ): MmuIntervalNotifier<M> | Promise<MmuIntervalNotifier<M>> {
    const sub = new MmuIntervalNotifier<M>();
    const p = sub.insertLocked(mm, start, length, ops);
    return p === undefined ? sub : p.then(() => sub);
  }

  /**
   * `mmu_interval_notifier_insert()`: subscribes this notifier to invalidations of
   * `[start, start + length - 1]` of `mm`.
   *
   * @param mm an address space with users (the caller holds an `mmget`).
   * @param start first address; a non-negative safe integer.
   * @param length number of bytes (up to 2^53, the whole space); `start + length - 1` must be a
   *   safe integer.
   * @param ops the driver callbacks.
   *
   * Contract: must not hold `mm.mmapLock` (the first insert on an mm takes it for write to register
   * the interval tree); never waits for invalidations. On return the notifier may still be pending
   * (inserted during an exclusive period): build device mappings only through readBegin/readRetry.
   * Errors (through the returned promise when one is returned, else thrown): EOVERFLOW for
   * `length === 0` or an end past 2^53-1; EINVAL for bad arguments, a dead mm (also warned, as the
   * kernel does) or a notifier already inserted. Returns undefined when nothing had to wait.
   * Pairs with `remove`.
   */
  insert(mm: M, start: number, length: number, ops: MmuIntervalNotifierOps<M>): Promise<void> | undefined {
    try {
      return this.insertChecked(mm, start, length, ops, false);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * `mmu_interval_notifier_insert_locked()`: as `insert`, for a caller holding `mm.mmapLock` for
   * write (asserted with a `warn`). Pairs with `remove`.
   */
  insertLocked(
    mm: M,
    start: number,
    length: number,
    ops: MmuIntervalNotifierOps<M>,
  ): Promise<void> | undefined {
    try {
      return this.insertChecked(mm, start, length, ops, true);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private insertChecked(
    mm: M,
    start: number,
    length: number,
    ops: MmuIntervalNotifierOps<M>,
    locked: boolean,
  ): Promise<void> | undefined {
    const subs = mm !== null && typeof mm === "object" ? (mm as NotifierMm).notifiers : undefined;
    if (!(subs instanceof MmuNotifierSubscriptions) || subs.mm !== mm) {
      throw new MmunError("EINVAL", "MmuIntervalNotifier.insert: mm is not an address space");
    }
    if (!Number.isSafeInteger(start) || start < 0) {
      throw new MmunError("EINVAL", `MmuIntervalNotifier.insert: start ${String(start)} is not an address`);
    }
    if (!(Number.isSafeInteger(length) || length === ADDRESS_SPACE_END) || length < 0) {
      throw new MmunError("EINVAL", `MmuIntervalNotifier.insert: length ${String(length)} is not a length`);
    }
    if (ops === null || typeof ops !== "object" || typeof ops.invalidate !== "function") {
      throw new MmunError("EINVAL", "MmuIntervalNotifier.insert: ops must have an invalidate function");
    }
    const k = subs.kernel;
    if (this.member !== NOT_INSERTED && this.member !== REMOVED) {
      k.misuse("EINVAL", `${this.describe()} is inserted already (${this.membership}): double insert`);
    }
    if (locked) k.assertHeldWrite(mm.mmapLock, `mmap_assert_write_locked: insertLocked on ${mm.name}`);
    else k.mightLock(mm.mmapLock);
    if (!subs.present || !subs.hasItree) {
      // First interval notifier of this mm: register the tree (takes mmap_lock unless locked).
      const reg = locked
        ? mmuNotifierRegisterLocked(subs, null, "insertLocked")
        : mmuNotifierRegister(subs, null);
      return reg.then(() => this.insertRegistered(mm, subs, start, length, ops));
    }
    return this.insertRegistered(mm, subs, start, length, ops);
  }

  /** `__mmu_interval_notifier_insert()`: the insert once the mm's interval tree is registered. */
  private insertRegistered(
    mm: M,
    subs: MmuNotifierSubscriptions,
    start: number,
    length: number,
    ops: MmuIntervalNotifierOps<M>,
  ): Promise<void> | undefined {
    const k = subs.kernel;
    // The interval is closed: [start, start + length - 1]; compare without forming the sum.
    if (length === 0 || length - 1 > Number.MAX_SAFE_INTEGER - start) {
      throw new MmunError(
        "EOVERFLOW",
        `MmuIntervalNotifier.insert: [${hex(start)}, +${hex(length)}) is empty or ends past 2^53-1`,
      );
    }
    if (mm.users <= 0) {
      const msg = `MmuIntervalNotifier.insert on ${mm.name}, which has no users (mmget not held)`;
      k.warn(msg);
      throw new MmunError("EINVAL", msg);
    }
    this.mmRef = mm;
    this.ops = ops;
    this.start = start;
    this.last = start + length - 1;
    this.subs = subs;
    if (this.id < 0)
      this.id = k.registerObject("mmu_interval_notifier", k.trace === null ? "" : this.describe());
    // Pairs with the mmdrop at the end of remove().
    mm.mmgrab();
    const sub = this as MmuIntervalNotifier;
    const p = subs.controlled ? subs.underLock(itreeLinkOrDefer, sub) : itreeLinkOrDefer(subs, sub); // see underLock
    return p instanceof Promise ? p : undefined;
  }

  /**
   * `mmu_interval_notifier_remove()`: unsubscribes the notifier.
   *
   * Contract: may sleep; must not be called from any invalidate callback (reported as a deadlock
   * and thrown, EDEADLK) nor while holding a lock a callback takes (lockdep). Waits only when the
   * notifier is in the tree during an exclusive period, until that period ends (even when the
   * invalidations in flight do not touch it). On return no callback for it is running and none
   * will start. Removing a notifier that is not inserted (double remove) is misuse (EINVAL).
   * Returns undefined when nothing had to wait. Pairs with `insert`.
   */
  remove(): Promise<void> | undefined {
    const subs = this.subs;
    if (subs === null || (this.member !== PENDING_INSERT && this.member !== IN_TREE)) {
      return this.removeMisuse();
    }
    const k = subs.kernel;
    k.mightSleep("mmu_interval_notifier_remove()");
    if (subs.callbacks.insideCallback()) {
      return rejectWith(() =>
        k.misuse(
          "EDEADLK",
          `${this.describe()}.remove() called from inside an invalidate callback of ${subs.mm.name}: ` +
            "it would wait for the invalidation it is part of",
        ),
      );
    }
    const sub = this as MmuIntervalNotifier;
    const seq = subs.controlled ? subs.underLock(itreeUnlinkOrDefer, sub) : itreeUnlinkOrDefer(subs, sub); // see underLock
    if (typeof seq !== "number") return seq.then((s) => this.waitUnlinked(subs, s));
    return this.waitUnlinked(subs, seq);
  }

  private removeMisuse(): Promise<never> {
    const what = `${this.describe()}.remove()`;
    const subs = this.subs;
    if (subs === null)
      return Promise.reject(new MmunError("EINVAL", `${what}: the notifier was never inserted`));
    return rejectWith(() =>
      subs.kernel.misuse("EINVAL", `${what}: the notifier is ${this.membership} (double remove?)`),
    );
  }

  /** The rest of remove once the tree side is done: waits past gseq `seq` (0: no wait), then drops the mm. */
  private waitUnlinked(subs: MmuNotifierSubscriptions, seq: number): Promise<void> | undefined {
    // The possible sleep below waits for callbacks: the caller must not hold what they take.
    subs.startMap.touch();
    if (seq === 0) {
      this.finishRemove(subs);
      return undefined;
    }
    return waitSeqChange(subs, seq, this.id, "remove").then(() => this.finishRemove(subs));
  }

  private finishRemove(subs: MmuNotifierSubscriptions): void {
    this.member = REMOVED;
    this.node = null;
    const k = subs.kernel;
    if (k.trace !== null) {
      k.event("note", this.id, undefined, "removed");
      traceInterval(k, this as MmuIntervalNotifier);
    }
    // Pairs with the mmgrab in insert().
    subs.mm.mmdrop();
  }

  /**
   * `mmu_interval_read_begin()`: starts a read-side critical section over the interval.
   *
   * Returns the notifier's sequence value (always odd) at once, or a promise of it when an
   * exclusive period that touched this notifier (or in which it was inserted) is still running: it
   * then waits for that period to end. Pass the value to `readRetry` (exactly once, under the driver
   * lock) and to `checkRetry` (any number of times). No loop: `readRetry` may already be true.
   *
   * Contract: may sleep; must not be called while holding the driver lock (lockdep reports it) nor
   * from a callback (EDEADLK). Pairs with `readRetry`.
   */
  readBegin(): number | Promise<number> {
    const subs = this.subs;
    if (subs === null || this.member === REMOVED || this.member === NOT_INSERTED) {
      return rejectWith(() => {
        const msg = `${this.describe()}.readBegin(): the notifier is ${this.membership}`;
        if (subs === null) throw new MmunError("EINVAL", msg);
        return subs.kernel.misuse("EINVAL", msg);
      });
    }
    const k = subs.kernel;
    k.mightSleep("mmu_interval_read_begin()");
    if (subs.callbacks.insideCallback()) {
      return rejectWith(() =>
        k.misuse(
          "EDEADLK",
          `${this.describe()}.readBegin() called from inside an invalidate callback of ${subs.mm.name}`,
        ),
      );
    }
    const sub = this as MmuIntervalNotifier;
    const seq = subs.controlled ? subs.underLock(sampleSeq, sub) : sampleSeq(subs, sub); // see underLock
    if (typeof seq !== "number") return seq.then((s) => this.waitWhileInvalidating(subs, s));
    return this.waitWhileInvalidating(subs, seq);
  }

  /**
   * The rest of readBegin once `seq` was sampled: sleeps while it equals gseq (the exclusive period
   * that set it, or in which the notifier was inserted, runs), then returns it.
   */
  private waitWhileInvalidating(subs: MmuNotifierSubscriptions, seq: number): number | Promise<number> {
    // The possible sleep below waits for callbacks: the caller must not hold what they take.
    subs.startMap.touch();
    // The kernel compares under subs.lock; nothing can run between the sample and here, and the
    // wait re-checks the condition anyway.
    const busy = seq === subs.invalidateSeq;
    const k = subs.kernel;
    if (k.trace !== null) {
      k.event("note", this.id, seq, busy ? "read_begin (waits)" : "read_begin");
      recordEvent(k, "read_begin", this.id, busy ? { value: seq, detail: "waits" } : { value: seq });
    }
    if (!busy) return seq;
    return waitSeqChange(subs, seq, this.id, "read_begin").then(() => seq);
  }

  /**
   * `mmu_interval_read_retry()`: true when an invalidation collided with the critical section begun
   * by the `readBegin` that returned `seq` (discard the results and start over).
   *
   * Contract: call it under the driver lock that the callback holds around `setSeq`, and keep that
   * lock until the device is programmed. Never sleeps. Throws EINVAL when `seq` is not an integer
   * (no readBegin returned it). Pairs with `readBegin`.
   */
  readRetry(seq: number): boolean {
    // sseq is always an integer (setSeq checks): equal means no collision, so only a collision pays
    // for checking `seq`.
    const retry = this.invalidateSeq !== seq;
    if (retry && !Number.isSafeInteger(seq)) this.badSeq("readRetry", seq);
    const subs = this.subs;
    if (subs !== null && subs.kernel.trace !== null)
      recordEvent(subs.kernel, "read_retry", this.id, { value: seq, detail: retry ? "retry" : "ok" });
    return retry;
  }

  /**
   * `mmu_interval_check_retry()`: the same test without the lock, as an early exit. True is final
   * (every later `readRetry(seq)` is true); false is only a hint. Never sleeps. Throws EINVAL when
   * `seq` is not an integer.
   */
  checkRetry(seq: number): boolean {
    if (this.invalidateSeq === seq) return false;
    if (!Number.isSafeInteger(seq)) this.badSeq("checkRetry", seq);
    return true;
  }

  /**
   * `mmu_interval_set_seq()`: records `curSeq` (the value passed to the callback). Call it
   * unconditionally from the invalidate callback, under the driver lock that `readRetry` callers
   * hold. Throws EINVAL when `curSeq` is not an integer. Pairs with `readRetry` under that lock.
   */
  setSeq(curSeq: number): void {
    if (!Number.isSafeInteger(curSeq)) this.badSeq("setSeq", curSeq);
    this.invalidateSeq = curSeq;
    const subs = this.subs;
    if (subs !== null && subs.kernel.trace !== null)
      subs.kernel.event("value", this.id, curSeq, "invalidate_seq");
  }

  private badSeq(what: string, seq: unknown): never {
    const shown = typeof seq === "string" ? JSON.stringify(seq) : String(seq);
    throw new MmunError("EINVAL", `${this.describe()}.${what}(${shown}): not a sequence value (an integer)`);
  }

  /** The mm this notifier was inserted into (EINVAL before the first insert). */
  get mm(): M {
    const mm = this.mmRef;
    if (mm === null) throw new MmunError("EINVAL", "MmuIntervalNotifier.mm: the notifier was never inserted");
    return mm;
  }

  /** Where the notifier stands with respect to the tree. */
  get membership(): IntervalMembership {
    return MEMBERSHIP_NAMES[this.member];
  }

  /** "interval [0x1000, 0x1fff]" (with the ops' name when it has one). */
  describe(): string {
    const name =
      this.member === NOT_INSERTED && this.mmRef === null ? "interval" : (this.ops?.name ?? "interval");
    return `${name} [${hex(this.start)}, ${hex(this.last)}]`;
  }

  toString(): string {
    return this.describe();
  }
}
