// Follows mm/mmu_notifier.c, the interval-tree side of an mm's notifiers (mn_itree_*): the write side
// of the protocol specified in the header of intervalNotifier.ts, and the tree changes of insert and
// remove, deferred while the tree is frozen.
//
//   start (mnItreeInvalidate): under subs.lock (mnItreeInvStartRange): active++; look up the first
//     intersecting notifier; if one exists gseq |= 1 (odd: the tree is frozen). Then, without the
//     lock, call every intersecting notifier in tree order with cur = gseq (odd, and unchanged until
//     this invalidation's own end). A false return is warned in a blockable range; in a non-blocking
//     one the walk stops, the interval phase ends itself (active--) and the start fails with -EAGAIN.
//   end (mnItreeInvEnd): under subs.lock: active--; if it reached 0 while gseq is odd: gseq++, apply
//     the deferred list newest first (the kernel's hlist is LIFO), then, without the lock, wake every
//     waiter.
//   insert / remove (itreeLinkOrDefer / itreeUnlinkOrDefer, under subs.lock): change the tree at
//     once unless gseq is odd; then queue on the deferred list (an insert during a partial period
//     links at once and makes the period exclusive, so its readers wait for the end).
//
// Locking. subs.lock is taken through subs.underLock (subscriptions.ts says why only the controlled
// scheduler really takes it); a section run under it never releases it. mn_itree_inv_start_range
// takes the lock inside in the kernel; here its caller runs it under the lock, so that it stays one
// synchronous function, and it asserts the lock on entry. The other sections assert it where the
// kernel does: in mn_itree_is_invalidating (lockdep_assert_held). Asserts apply where the lock is
// really taken (the controlled scheduler).
//
// A callback that throws is a driver bug: the walk stops, the interval phase it began is ended, and
// the error propagates to the caller of the entry point.

import { EAGAIN } from "../lib/errno.js";
import { isThenable, withFinally } from "../lib/thenable.js";
import type { MmuIntervalNotifier } from "./intervalNotifier.js";
import { IN_TREE, PENDING_INSERT, PENDING_REMOVE, UNLINKED } from "./membership.js";
import { traceInterval, traceIntervalCallback } from "./notifierTrace.js";
import { ADDRESS_SPACE_END, describeRange, MmuNotifierEvent, type MmuNotifierRange } from "./range.js";
import type { MmuNotifierSubscriptions } from "./subscriptions.js";

/**
 * `mn_itree_is_invalidating()`: true while an exclusive period runs (gseq odd, the tree frozen).
 * Called under subs.lock, asserted where the lock is really taken (the controlled scheduler).
 */
export function mnItreeIsInvalidating(subs: MmuNotifierSubscriptions): boolean {
  if (subs.controlled) subs.kernel.assertHeld(subs.lock);
  return subs.invalidateSeq % 2 === 1;
}

function setGseq(subs: MmuNotifierSubscriptions, v: number): void {
  subs.invalidateSeq = v;
  const k = subs.kernel;
  if (k.trace !== null) k.event("value", subs.id, v, "invalidate_seq");
}

function linkIntoTree(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  sub.node = subs.itree.insert(sub.start, sub.last, sub);
  sub.member = IN_TREE;
}

/**
 * The subs.lock section of `__mmu_interval_notifier_insert()`: links `sub` into the tree, or queues
 * it on the deferred list while the tree is frozen, and gives it its first (odd) sseq. Run it with
 * `subs.underLock`. Pairs with {@link itreeUnlinkOrDefer}.
 */
export function itreeLinkOrDefer(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): void {
  const k = subs.kernel;
  if (subs.activeInvalidateRanges !== 0) {
    if (mnItreeIsInvalidating(subs)) {
      // Exclusive: the tree is frozen; the end of the period links it.
      subs.deferred.push(sub);
      sub.member = PENDING_INSERT;
    } else {
      // Partial: an invalidation in flight may cover it without having seen it; make the period
      // exclusive so its readers wait for the end.
      setGseq(subs, subs.invalidateSeq + 1);
      linkIntoTree(subs, sub);
    }
    sub.invalidateSeq = subs.invalidateSeq;
  } else {
    if (mnItreeIsInvalidating(subs)) k.warn(`${subs.mm.name}: gseq ${subs.invalidateSeq} is odd while idle`);
    // Odd and different from gseq: its first readBegin does not wait.
    sub.invalidateSeq = subs.invalidateSeq - 1;
    linkIntoTree(subs, sub);
  }
  if (k.trace !== null) {
    k.event("value", sub.id, sub.invalidateSeq, "invalidate_seq");
    k.event("note", sub.id, undefined, sub.member === PENDING_INSERT ? "insert deferred" : "inserted");
    traceInterval(k, sub);
  }
}

/**
 * The subs.lock section of `mmu_interval_notifier_remove()`: unlinks `sub`, cancels its pending
 * insert, or (while the tree is frozen) queues its removal. Returns the gseq to wait past, or 0 when
 * the removal is complete. Throws (misuse) when the notifier is not removable. Run it with
 * `subs.underLock`. Pairs with {@link itreeLinkOrDefer}.
 */
export function itreeUnlinkOrDefer(subs: MmuNotifierSubscriptions, sub: MmuIntervalNotifier): number {
  const k = subs.kernel;
  if (sub.member !== PENDING_INSERT && sub.member !== IN_TREE) {
    k.misuse("EINVAL", `${sub.describe()}.remove(): the notifier is ${sub.membership} (double remove?)`);
  }
  let wait = 0;
  if (mnItreeIsInvalidating(subs)) {
    if (sub.member === PENDING_INSERT) {
      // Inserted during this period and not linked yet: just cancel the insert.
      const i = subs.deferred.lastIndexOf(sub);
      if (i >= 0) subs.deferred.splice(i, 1);
      sub.member = UNLINKED;
    } else {
      subs.deferred.push(sub);
      sub.member = PENDING_REMOVE;
      wait = subs.invalidateSeq;
    }
  } else {
    if (sub.member !== IN_TREE || sub.node === null) {
      k.warn(`${sub.describe()}.remove(): not in the tree although gseq is even`);
    } else subs.itree.remove(sub.node);
    sub.node = null;
    sub.member = UNLINKED;
  }
  if (k.trace !== null) {
    k.event("note", sub.id, wait, wait === 0 ? "remove" : "remove deferred (waits)");
    traceInterval(k, sub);
  }
  return wait;
}

/**
 * The sleep of `mmu_interval_read_begin()` and `mmu_interval_notifier_remove()`:
 * `wait_event(subs->wq, gseq != seq)`. Resolves at once when gseq already differs.
 */
export function waitSeqChange(
  subs: MmuNotifierSubscriptions,
  seq: number,
  objId: number,
  what: string,
): Promise<void> {
  const k = subs.kernel;
  if (k.trace !== null) k.event("note", objId, seq, `${what}: waits for gseq != ${seq}`);
  const w = subs.wq.waitEvent(() => subs.invalidateSeq !== seq);
  return w === undefined ? Promise.resolve() : w;
}

/**
 * `mn_itree_inv_start_range()`: begins the interval phase of one invalidation: active++, and when a
 * notifier intersects `range`, gseq |= 1 (the exclusive period starts, or goes on). Returns the tree
 * index of the first intersecting notifier, or -1. Run under subs.lock (`subs.underLock`): the
 * kernel takes the lock inside. Pairs with {@link mnItreeInvEnd}.
 */
export function mnItreeInvStartRange(subs: MmuNotifierSubscriptions, range: MmuNotifierRange): number {
  if (subs.controlled) subs.kernel.assertHeld(subs.lock);
  subs.activeInvalidateRanges++;
  const first = subs.itree.firstIndex(range.start, range.end - 1);
  const flip = first !== -1 && subs.invalidateSeq % 2 === 0;
  if (flip) subs.invalidateSeq++;
  const k = subs.kernel;
  if (k.trace !== null) {
    traceActive(subs);
    if (flip) k.event("value", subs.id, subs.invalidateSeq, "invalidate_seq");
    k.event(
      "note",
      subs.id,
      subs.invalidateSeq,
      `start ${describeRange(range)}${first === -1 ? " (no intersecting notifier)" : ""}`,
    );
  }
  return first;
}

function traceActive(subs: MmuNotifierSubscriptions): void {
  subs.kernel.event("value", subs.id, subs.activeInvalidateRanges, "active_invalidate_ranges");
}

/**
 * `mn_itree_invalidate()`: the interval phase of a start. Calls every notifier intersecting `range`,
 * in tree order, with the period's odd cur_seq. Returns 0, or -EAGAIN when a callback of a
 * non-blocking range declined (the phase is then ended already: the caller must not end it), or a
 * promise of either. Pairs with {@link mnItreeInvEnd} when it returned 0.
 */
export function mnItreeInvalidate(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): number | Promise<number> {
  const first = subs.controlled
    ? subs.underLock(mnItreeInvStartRange, range)
    : mnItreeInvStartRange(subs, range); // see underLock
  if (typeof first !== "number") return first.then((i) => walk(subs, range, i));
  return walk(subs, range, first);
}

/** The callback loop of mn_itree_invalidate from tree index `i` (mn_itree_inv_next steps it). */
function walk(subs: MmuNotifierSubscriptions, range: MmuNotifierRange, i: number): number | Promise<number> {
  if (i === -1) return 0;
  // mnItreeInvStartRange made gseq odd; only the end that brings active to 0 changes it, and this
  // invalidation's end has not run: gseq is the cur_seq of every callback of this walk.
  const cur = subs.invalidateSeq;
  const tree = subs.itree;
  const s = range.start;
  const l = range.end - 1;
  const k = subs.kernel;
  const ctx = subs.callbacks;
  const depth = ctx.syncDepth;
  try {
    do {
      const sub = tree.valueAt(i);
      if (k.trace !== null) traceCallback(subs, sub, range, cur);
      ctx.syncDepth++;
      const ret: unknown = callInvalidate(subs, sub, range, cur);
      ctx.syncDepth--;
      if (ret !== true) {
        if (isThenable(ret)) return walkAsync(subs, range, i, cur, ret);
        const r = callbackDeclined(subs, range, sub, ret);
        if (r !== 0) return r;
      }
      i = tree.nextIndex(i, s, l);
    } while (i !== -1);
  } catch (e) {
    ctx.syncDepth = depth;
    return endThenRethrow(subs, e);
  }
  return 0;
}

/** The rest of the walk once a callback returned a promise (`pending`, from the callback at `i`). */
async function walkAsync(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
  i: number,
  cur: number,
  pending: PromiseLike<unknown>,
): Promise<number> {
  const tree = subs.itree;
  const s = range.start;
  const l = range.end - 1;
  const k = subs.kernel;
  const ctx = subs.callbacks;
  let ret: unknown;
  try {
    ret = await pending;
    for (;;) {
      if (ret !== true) {
        const r = callbackDeclined(subs, range, tree.valueAt(i), ret);
        if (r !== 0) return await r;
      }
      i = tree.nextIndex(i, s, l);
      if (i === -1) return 0;
      const sub = tree.valueAt(i);
      if (k.trace !== null) traceCallback(subs, sub, range, cur);
      ctx.syncDepth++;
      try {
        ret = callInvalidate(subs, sub, range, cur);
      } finally {
        ctx.syncDepth--;
      }
      if (isThenable(ret)) ret = await ret;
    }
  } catch (e) {
    return await endThenRethrow(subs, e);
  }
}

/**
 * Calls `sub`'s invalidate callback. For a non-blocking range the call runs inside
 * `kernel.nonBlockStart/End` (across its promise, if it returns one), so a callback that sleeps
 * there (a mutex_lock instead of a trylock, a fence wait) is reported as `sleep-in-atomic`. The
 * kernel wraps only the classic starts (mn_hlist_invalidate_range_start); for interval callbacks it
 * relies on review, and the sleep shows up as an OOM reaper stuck behind a driver lock. mmun checks
 * both alike.
 */
function callInvalidate(
  subs: MmuNotifierSubscriptions,
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  cur: number,
): unknown {
  if (range.blockable) return sub.ops.invalidate(sub, range, cur);
  const k = subs.kernel;
  k.nonBlockStart();
  return withFinally(
    () => sub.ops.invalidate(sub, range, cur),
    () => k.nonBlockEnd(),
  );
}

function traceCallback(
  subs: MmuNotifierSubscriptions,
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  cur: number,
): void {
  subs.kernel.event("note", sub.id, cur, `invalidate ${describeRange(range)} cur_seq=${cur}`);
  traceIntervalCallback(subs.kernel, sub, range, cur);
}

/** A callback did not return true: 0 to go on, or -EAGAIN (or its promise) to stop the walk. */
function callbackDeclined(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
  sub: MmuIntervalNotifier,
  ret: unknown,
): number | Promise<number> {
  const k = subs.kernel;
  if (ret !== false) {
    k.warn(`${sub.describe()}: invalidate returned ${String(ret)}, not a boolean (taken as ${Boolean(ret)})`);
    if (ret) return 0;
  }
  if (range.blockable) {
    k.warn(`${sub.describe()}: invalidate returned false for the blockable range ${describeRange(range)}`);
    return 0;
  }
  // Non-blocking and the driver would have to sleep: stop; the caller will not call end, so end the
  // interval phase here.
  if (k.trace !== null) k.event("note", sub.id, undefined, "invalidate would block: -EAGAIN");
  const p = mnItreeInvEnd(subs);
  return p === undefined ? -EAGAIN : p.then(() => -EAGAIN);
}

/**
 * The subs.lock section of mn_itree_inv_end: active--; the end that brings it to 0 during an
 * exclusive period makes gseq even and applies the deferred list, newest first, like rtnl_unlock().
 * Returns true when waiters must be woken.
 */
function dropActiveRange(subs: MmuNotifierSubscriptions): boolean {
  const k = subs.kernel;
  if (subs.activeInvalidateRanges === 0) {
    k.warn(`${subs.mm.name}: invalidate_range_end without a matching start (no invalidation is active)`);
    return false;
  }
  subs.activeInvalidateRanges--;
  if (k.trace !== null) traceActive(subs);
  if (subs.activeInvalidateRanges !== 0 || !mnItreeIsInvalidating(subs)) return false;
  setGseq(subs, subs.invalidateSeq + 1);
  const d = subs.deferred;
  for (let j = d.length - 1; j >= 0; j--) {
    const sub = d[j] as MmuIntervalNotifier;
    if (sub.member === PENDING_INSERT) {
      linkIntoTree(subs, sub);
      if (k.trace !== null) {
        k.event("note", sub.id, undefined, "deferred insert applied");
        traceInterval(k, sub);
      }
    } else if (sub.member === PENDING_REMOVE && sub.node !== null) {
      subs.itree.remove(sub.node);
      sub.node = null;
      sub.member = UNLINKED;
      if (k.trace !== null) {
        k.event("note", sub.id, undefined, "deferred remove applied");
        traceInterval(k, sub);
      }
    }
  }
  d.length = 0;
  return true;
}

function wakeIf(subs: MmuNotifierSubscriptions, wake: boolean): undefined {
  if (wake) subs.wq.wakeUpAll();
  return undefined;
}

/**
 * `mn_itree_inv_end()`: ends the interval phase of one invalidation (see dropActiveRange); after
 * releasing subs.lock, wakes every waiter if the exclusive period ended. Returns undefined, or a
 * promise under the controlled scheduler. Pairs with {@link mnItreeInvStartRange}.
 */
export function mnItreeInvEnd(subs: MmuNotifierSubscriptions): Promise<void> | undefined {
  const wake = subs.controlled ? subs.underLock(dropActiveRange) : dropActiveRange(subs); // see underLock
  if (typeof wake === "boolean") return wakeIf(subs, wake);
  return wake.then((w) => wakeIf(subs, w));
}

/**
 * Ends the interval phase an entry point began, then throws `e` (a callback threw): synchronously
 * when the end completed at once, else through the returned promise.
 */
export function endThenRethrow(subs: MmuNotifierSubscriptions, e: unknown): Promise<never> {
  const p = mnItreeInvEnd(subs);
  if (p === undefined) throw e;
  return p.then(() => {
    throw e;
  });
}

/**
 * `mn_itree_release()`: at exit, one blockable RELEASE invalidation over the whole address space:
 * every interval notifier is called once; they stay registered (and must still be removed).
 */
export async function mnItreeRelease(subs: MmuNotifierSubscriptions): Promise<void> {
  const range: MmuNotifierRange = {
    mm: subs.mm,
    start: 0,
    end: ADDRESS_SPACE_END,
    event: MmuNotifierEvent.RELEASE,
    blockable: true,
    owner: undefined,
  };
  const r = mnItreeInvalidate(subs, range);
  if (typeof r !== "number") await r;
  const p = mnItreeInvEnd(subs);
  if (p !== undefined) await p;
}
