// Follows mm/mmu_notifier.c and include/linux/mmu_notifier.h: struct mmu_notifier (the classic
// subscription to a whole mm), its ops, and its registration: mmu_notifier_register / unregister,
// get / put (one shared notifier per mm and ops) and synchronize. The walks over the per-mm list
// (mn_hlist_*) are in classicWalks.ts; `mm.notifiers` (subscriptions.ts) offers all of this as methods.
//
// Locks. `*Locked` functions are for a caller holding `mm.mmapLock` for write (the kernel's `__` and
// `_locked` variants), asserted with mmap_assert_write_locked. The list itself changes under
// subs.lock (`subs.underLock`; see subscriptions.ts), and a walk reads it under SRCU.

import { MmunError } from "../lib/errno.js";
import { isThenable } from "../lib/thenable.js";
import type { NotifierMm } from "./notifierMm.js";
import type { MmuNotifierRange } from "./range.js";
import type { MmuNotifierSubscriptions } from "./subscriptions.js";

/**
 * The callbacks of a classic notifier (kernel `struct mmu_notifier_ops`). All are optional. A
 * notifier has either `archInvalidateSecondaryTlbs` (devices sharing the CPU page tables) or
 * `invalidateRangeStart`/`invalidateRangeEnd` (devices with their own tables), never both.
 */
export interface MmuNotifierOps {
  /** Optional label used in traces and messages. */
  readonly name?: string;
  /**
   * The mm is going away (exit) or the notifier is unregistered, before its pages are freed: stop
   * all device access. May run twice (exit and unregister, possibly at once): make it idempotent.
   * May sleep.
   */
  release?(sub: MmuNotifier, mm: NotifierMm): void | Promise<void>;
  /** Test and clear the accessed bit of `[start, end)` and flush the secondary TLB; non-zero if young. */
  clearFlushYoung?(sub: MmuNotifier, mm: NotifierMm, start: number, end: number): number;
  /** As clearFlushYoung, without the flush. */
  clearYoung?(sub: MmuNotifier, mm: NotifierMm, start: number, end: number): number;
  /** Non-destructive: non-zero if `address` was accessed. */
  testYoung?(sub: MmuNotifier, mm: NotifierMm, address: number): number;
  /**
   * Before the PTEs of `range` change. Returns 0, or -EAGAIN only when `range.blockable` is false and
   * the work would sleep (then the notifier must not have `invalidateRangeEnd`). Runs inside
   * `kernel.nonBlockStart/End` when the range is not blockable, so sleeping there is reported.
   */
  invalidateRangeStart?(sub: MmuNotifier, range: MmuNotifierRange): number | Promise<number>;
  /** After the PTEs changed; once per successful start (and after a failed non-blocking start). */
  invalidateRangeEnd?(sub: MmuNotifier, range: MmuNotifierRange): void | Promise<void>;
  /** A CPU TLB flush of `[start, end)`, possibly under the page-table lock: must not sleep. */
  archInvalidateSecondaryTlbs?(sub: MmuNotifier, mm: NotifierMm, start: number, end: number): void;
  /** For `get`: allocates the notifier of `mm` (default: `new MmuNotifier(ops)`). */
  allocNotifier?(mm: NotifierMm): MmuNotifier;
  /** For `put`: frees the notifier after the grace period that follows the last put. Must not sleep. */
  freeNotifier?(sub: MmuNotifier): void;
}

/**
 * A classic notifier (kernel `struct mmu_notifier`): called for every invalidation of its mm,
 * whatever the range. Subclass it to carry driver state. Register with `mm.notifiers.register`, or
 * share one per (mm, ops) with `mm.notifiers.get(ops)` / `put`.
 */
export class MmuNotifier {
  /** The callbacks (set by `get` to the ops it was asked for). */
  ops: MmuNotifierOps;
  /** The mm it is registered on (set by registration; null before). */
  mm: NotifierMm | null = null;
  /** References taken by `get` (1 after registration). Read-only. */
  users = 0;
  /** @internal On the mm's list (callbacks are called). */
  linked = false;
  /** @internal Between a registration and its unregister / last put. */
  registered = false;
  /** True once the deferred free after the last `put` ran. */
  freed = false;

  constructor(ops: MmuNotifierOps) {
    if (ops === null || typeof ops !== "object")
      throw new MmunError("EINVAL", "MmuNotifier needs an ops object");
    this.ops = ops;
  }

  toString(): string {
    return `mmu_notifier "${this.ops.name ?? "classic"}"`;
  }
}

/** The kernel's UINT_MAX: the most users a classic notifier can have. */
const MAX_USERS = 0xffffffff;

function checkNotifier(notifier: MmuNotifier, what: string): void {
  if (!(notifier instanceof MmuNotifier)) {
    throw new MmunError("EINVAL", `${what}: expected an MmuNotifier`);
  }
}

/**
 * `mmu_notifier_register()`: takes `mm.mmapLock` for write around
 * {@link mmuNotifierRegisterLocked}. Implements `mm.notifiers.register` (null: the first interval
 * insert enabling the tree). Pairs with {@link mmuNotifierUnregister} (or, for `get`, with put).
 */
export async function mmuNotifierRegister(
  subs: MmuNotifierSubscriptions,
  notifier: MmuNotifier | null,
): Promise<void> {
  if (notifier !== null) checkNotifier(notifier, "register");
  const lk = subs.mm.mmapLock;
  const p = lk.downWrite();
  if (p !== undefined) await p;
  try {
    await mmuNotifierRegisterLocked(subs, notifier, "register");
  } finally {
    lk.upWrite();
  }
}

/**
 * `__mmu_notifier_register()`: links `notifier` at the head of the list (newest first) inside
 * `mm.takeAllLocks`, so no invalidation is in flight; with null, enables the interval tree. The
 * caller holds `mm.mmapLock` for write (asserted). `what` names the public call in messages.
 *
 * Throws EINVAL for a dead mm (no users), for ops with both `archInvalidateSecondaryTlbs` and
 * start/end (also warned once), or a notifier registered already; EINTR when `takeAllLocks` fails.
 */
export async function mmuNotifierRegisterLocked(
  subs: MmuNotifierSubscriptions,
  notifier: MmuNotifier | null,
  what = "registerLocked",
): Promise<void> {
  const mm = subs.mm;
  const k = subs.kernel;
  if (notifier !== null) checkNotifier(notifier, what);
  k.assertHeldWrite(mm.mmapLock, `mmap_assert_write_locked: ${what} on ${mm.name}`);
  if (mm.users <= 0) k.misuse("EINVAL", `BUG: registering a notifier on ${mm.name}, which has no users`);
  if (notifier !== null) {
    const ops = notifier.ops;
    if (
      ops.archInvalidateSecondaryTlbs !== undefined &&
      (ops.invalidateRangeStart !== undefined || ops.invalidateRangeEnd !== undefined)
    ) {
      const msg = "a notifier may have archInvalidateSecondaryTlbs or invalidateRangeStart/End, not both";
      if (!subs.globals.warnedBothHooks) {
        subs.globals.warnedBothHooks = true;
        k.warn(msg);
      }
      throw new MmunError("EINVAL", msg);
    }
    if (notifier.registered) k.misuse("EINVAL", `${notifier} is registered already`);
  }
  primeLockdep(subs);
  if (mm.takeAllLocks !== undefined) {
    const r = await mm.takeAllLocks();
    if (r !== 0) throw new MmunError("EINTR", `mm_take_all_locks on ${mm.name} failed (${r})`);
  }
  try {
    subs.present = true;
    if (notifier !== null) {
      // Pairs with the mmdrop in mmuNotifierUnregister() or in the free after the last put.
      mm.mmgrab();
      notifier.mm = mm;
      notifier.users = 1;
      notifier.registered = true;
      const p = subs.underLock(linkClassic, notifier);
      if (p instanceof Promise) await p;
      if (k.trace !== null) k.event("note", subs.id, undefined, `registered ${notifier}`);
    } else {
      subs.hasItree = true;
      if (k.trace !== null) k.event("note", subs.id, undefined, "interval tree registered");
    }
  } finally {
    if (mm.dropAllLocks !== undefined) mm.dropAllLocks();
  }
}

/** `hlist_add_head_rcu()` of registration: `notifier` first on the list. Under subs.lock. */
function linkClassic(subs: MmuNotifierSubscriptions, notifier: MmuNotifier): void {
  subs.classic = [notifier, ...subs.classic];
  notifier.linked = true;
}

/** `hlist_del_init_rcu()`: unlinks `notifier` if it is on the list. Under subs.lock. */
function unlinkClassic(subs: MmuNotifierSubscriptions, notifier: MmuNotifier): void {
  if (!notifier.linked) return;
  notifier.linked = false;
  subs.classic = subs.classic.filter((n) => n !== notifier);
}

/**
 * The lockdep priming of `__mmu_notifier_register()`: teaches lockdep that invalidations happen from
 * reclaim (fs_reclaim -> the invalidate map), so allocating under a lock a callback takes is
 * reported even if reclaim never ran. Linux did this at registration from v5.4 ("mm/mmu_notifiers:
 * prime lockdep") until v5.11, when fs_reclaim_acquire() itself started touching the map on every
 * reclaim-capable allocation; an allocation helper in a later layer should do the latter too (the
 * priming then becomes redundant).
 */
function primeLockdep(subs: MmuNotifierSubscriptions): void {
  const k = subs.kernel;
  if (k.lockdep === null || k.sched.current === null) return;
  const fs = subs.globals.fsReclaim;
  fs.acquire();
  subs.startMap.acquire();
  subs.startMap.release();
  fs.release();
}

/**
 * `mmu_notifier_unregister()`: implements `mm.notifiers.unregister`: `release` if the notifier is
 * still linked, unlink, an SRCU grace period, then the mm reference dropped. May sleep. Pairs with
 * {@link mmuNotifierRegister}.
 */
export async function mmuNotifierUnregister(
  subs: MmuNotifierSubscriptions,
  notifier: MmuNotifier,
): Promise<void> {
  checkNotifier(notifier, "unregister");
  const mm = subs.mm;
  const k = subs.kernel;
  if (notifier.mm !== mm || !notifier.registered) {
    k.misuse("EINVAL", `unregister: ${notifier} is not registered on ${mm.name}`);
  }
  if (mm.count <= 0) k.misuse("EINVAL", `BUG: unregister on ${mm.name}, which was freed`);
  notifier.registered = false;
  if (notifier.linked) {
    const idx = subs.srcu.readLock();
    try {
      const rel = notifier.ops.release;
      if (rel !== undefined) {
        const r = rel.call(notifier.ops, notifier, mm);
        if (isThenable(r)) await r;
      }
    } finally {
      subs.srcu.readUnlock(idx);
    }
    const p = subs.underLock(unlinkClassic, notifier);
    if (p instanceof Promise) await p;
  }
  // Waits for every classic callback in flight, including a release run by exit.
  const s = subs.srcu.synchronize();
  if (s !== undefined) await s;
  // Pairs with the mmgrab in mmuNotifierRegisterLocked().
  mm.mmdrop();
}

/**
 * `find_get_mmu_notifier()`: the linked notifier of `ops` with one more user, or null. Under
 * subs.lock (`subs.underLock`; the kernel takes it inside). Throws EOVERFLOW at 2^32-1 users.
 */
function findGetMmuNotifier(subs: MmuNotifierSubscriptions, ops: MmuNotifierOps): MmuNotifier | null {
  for (const n of subs.classic) {
    if (n.ops !== ops) continue;
    if (n.users === MAX_USERS) throw new MmunError("EOVERFLOW", `get: ${n} has ${MAX_USERS} users`);
    n.users++;
    return n;
  }
  return null;
}

/**
 * `mmu_notifier_get()`: takes `mm.mmapLock` for write around {@link mmuNotifierGetLocked}.
 * Implements `mm.notifiers.get`. Pairs with {@link mmuNotifierPut}.
 */
export async function mmuNotifierGet(
  subs: MmuNotifierSubscriptions,
  ops: MmuNotifierOps,
): Promise<MmuNotifier> {
  const lk = subs.mm.mmapLock;
  const p = lk.downWrite();
  if (p !== undefined) await p;
  try {
    return await mmuNotifierGetLocked(subs, ops, "get");
  } finally {
    lk.upWrite();
  }
}

/**
 * `mmu_notifier_get_locked()`: the one classic notifier of this mm for `ops` (by identity), with one
 * more user, or a new one from `ops.allocNotifier(mm)` (a plain MmuNotifier when absent),
 * registered. The caller holds `mm.mmapLock` for write (asserted). Pairs with {@link mmuNotifierPut}.
 */
export async function mmuNotifierGetLocked(
  subs: MmuNotifierSubscriptions,
  ops: MmuNotifierOps,
  what = "getLocked",
): Promise<MmuNotifier> {
  const mm = subs.mm;
  if (ops === null || typeof ops !== "object") throw new MmunError("EINVAL", "get: ops must be an object");
  subs.kernel.assertHeldWrite(mm.mmapLock, `mmap_assert_write_locked: ${what} on ${mm.name}`);
  if (subs.present) {
    const f = subs.underLock(findGetMmuNotifier, ops);
    const found = f instanceof Promise ? await f : f;
    if (found !== null) return found;
  }
  const sub = ops.allocNotifier !== undefined ? ops.allocNotifier(mm) : new MmuNotifier(ops);
  if (!(sub instanceof MmuNotifier))
    throw new MmunError("EINVAL", "get: allocNotifier must return an MmuNotifier");
  sub.ops = ops;
  try {
    await mmuNotifierRegisterLocked(subs, sub, what);
  } catch (e) {
    if (ops.freeNotifier !== undefined) ops.freeNotifier(sub);
    throw e;
  }
  return sub;
}

/**
 * The subs.lock section of `mmu_notifier_put()`: drops one user; the last one unlinks the notifier.
 * True when it was the last.
 */
function dropUser(subs: MmuNotifierSubscriptions, notifier: MmuNotifier): boolean {
  if (notifier.users === 0) {
    subs.kernel.warn(`put: ${notifier} has no users left (unbalanced put)`);
    return false;
  }
  notifier.users--;
  if (notifier.users !== 0) return false;
  unlinkClassic(subs, notifier);
  notifier.registered = false;
  return true;
}

/**
 * `call_srcu(…, mmu_notifier_free_rcu)`: after a grace period, `ops.freeNotifier` (atomically) and
 * the mm reference dropped.
 */
function freeAfterGracePeriod(subs: MmuNotifierSubscriptions, notifier: MmuNotifier): undefined {
  const mm = subs.mm;
  subs.srcu.callSrcu(() => {
    const free = notifier.ops.freeNotifier;
    if (free !== undefined) free.call(notifier.ops, notifier);
    notifier.freed = true;
    // Pairs with the mmgrab in mmuNotifierRegisterLocked().
    mm.mmdrop();
  });
  return undefined;
}

/**
 * `mmu_notifier_put()`: implements `mm.notifiers.put`: drops a reference taken by get; the last one
 * unlinks the notifier and frees it after a grace period. Never sleeps (a promise only for the
 * controlled scheduler's lock point). Pairs with {@link mmuNotifierGet}.
 */
export function mmuNotifierPut(
  subs: MmuNotifierSubscriptions,
  notifier: MmuNotifier,
): Promise<void> | undefined {
  checkNotifier(notifier, "put");
  if (notifier.mm !== subs.mm) {
    subs.kernel.misuse("EINVAL", `put: ${notifier} is not registered on ${subs.mm.name}`);
  }
  const last = subs.underLock(dropUser, notifier);
  if (typeof last === "boolean") return last ? freeAfterGracePeriod(subs, notifier) : undefined;
  return last.then((l) => (l ? freeAfterGracePeriod(subs, notifier) : undefined));
}

/**
 * `mmu_notifier_synchronize()`: implements `mm.notifiers.synchronize`: waits until every deferred
 * free queued by put so far has run. May sleep.
 */
export function mmuNotifierSynchronize(subs: MmuNotifierSubscriptions): Promise<void> | undefined {
  const s = subs.srcu.synchronize();
  if (s !== undefined) return s.then(() => subs.srcu.barrier());
  return subs.srcu.barrier();
}
