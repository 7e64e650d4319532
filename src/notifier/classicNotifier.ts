// Follows mm/mmu_notifier.c and include/linux/mmu_notifier.h: struct mmu_notifier (the classic
// subscription to a whole mm), its ops, and the mn_hlist_* walks over the per-mm list.
//
// The list is newest first (the kernel adds at the head) and is walked inside the read side of the
// kernel-wide SRCU domain, so a walk may sleep and `unregister` can wait for walks in flight with a
// grace period. We keep the list as an immutable array replaced on every change: a walk reads the
// array it started with (RCU's snapshot) and skips entries unlinked since, as an RCU reader that had
// not reached them would. Registration, unregistration, get/put and the mm core entry points live in
// subscriptions.ts; this file holds the notifier object and the walks.

import { EAGAIN, MmunError } from "../lib/errno.js";
import type { NotifierMm } from "./notifierMm.js";
import { describeRange, type MmuNotifierRange } from "./range.js";
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

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

/** Calls `each(i)` for i in [from, n); continues asynchronously once a call returns a promise. */
function forEachMaybeAsync(
  n: number,
  each: (i: number) => PromiseLike<unknown> | undefined,
  from = 0,
): Promise<void> | undefined {
  for (let i = from; i < n; i++) {
    const p = each(i);
    if (p !== undefined) return Promise.resolve(p).then(() => forEachMaybeAsync(n, each, i + 1));
  }
  return undefined;
}

/** Runs `body` inside an SRCU read section of the notifier domain, for a sync or async body. */
function srcuSection<T>(
  subs: MmuNotifierSubscriptions,
  body: () => T | Promise<T> | undefined,
): T | Promise<T> | undefined {
  const srcu = subs.srcu;
  const idx = srcu.readLock();
  let r: T | Promise<T> | undefined;
  try {
    r = body();
  } catch (e) {
    srcu.readUnlock(idx);
    throw e;
  }
  if (!(r instanceof Promise)) {
    srcu.readUnlock(idx);
    return r;
  }
  return r.then(
    (v) => {
      srcu.readUnlock(idx);
      return v;
    },
    (e: unknown) => {
      srcu.readUnlock(idx);
      throw e;
    },
  );
}

/** Runs the synchronous `body` inside an SRCU read section of the notifier domain. */
function srcuSync<T>(subs: MmuNotifierSubscriptions, body: () => T): T {
  const srcu = subs.srcu;
  const idx = srcu.readLock();
  try {
    return body();
  } finally {
    srcu.readUnlock(idx);
  }
}

/**
 * Calls `call` inside kernel.nonBlockStart/End when `nonBlock` (also across its promise, if it
 * returns one) and hands its (awaited) result to `done`.
 */
function callWrapped<R>(
  subs: MmuNotifierSubscriptions,
  nonBlock: boolean,
  call: () => R | PromiseLike<R>,
  done: (r: R) => void,
): PromiseLike<unknown> | undefined {
  const k = subs.kernel;
  if (nonBlock) k.nonBlockStart();
  let r: R | PromiseLike<R>;
  try {
    r = call();
  } catch (e) {
    if (nonBlock) k.nonBlockEnd();
    throw e;
  }
  if (!isThenable(r)) {
    if (nonBlock) k.nonBlockEnd();
    done(r as R);
    return undefined;
  }
  return Promise.resolve(r).then(
    (v) => {
      if (nonBlock) k.nonBlockEnd();
      done(v);
    },
    (e: unknown) => {
      if (nonBlock) k.nonBlockEnd();
      throw e;
    },
  );
}

/**
 * mn_hlist_invalidate_range_start: every linked notifier's start, even after one failed; if any
 * failed, every linked notifier's end (none can tell whose start failed), then the error.
 */
export function mnHlistInvalidateRangeStart(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): number | Promise<number> {
  const list = subs.classic;
  const k = subs.kernel;
  const nonBlock = !range.blockable;
  let ret = 0;
  const start = (i: number): PromiseLike<unknown> | undefined => {
    const sub = list[i] as MmuNotifier;
    const ops = sub.ops;
    if (!sub.linked || ops.invalidateRangeStart === undefined) return undefined;
    if (k.trace !== null) k.event("note", subs.id, undefined, `${sub} start ${describeRange(range)}`);
    return callWrapped(
      subs,
      nonBlock,
      () =>
        (ops.invalidateRangeStart as NonNullable<MmuNotifierOps["invalidateRangeStart"]>).call(
          ops,
          sub,
          range,
        ),
      (r) => {
        ret = checkStartResult(subs, range, sub, r, ret);
      },
    );
  };
  const end = (i: number): PromiseLike<unknown> | undefined => {
    const sub = list[i] as MmuNotifier;
    const ops = sub.ops;
    if (!sub.linked || ops.invalidateRangeEnd === undefined) return undefined;
    const r = ops.invalidateRangeEnd(sub, range);
    return isThenable(r) ? r : undefined;
  };
  const afterStarts = (): number | Promise<number> => {
    if (ret === 0) return 0;
    // Only reachable in non-blocking mode for correct drivers: end every notifier that has an end.
    const p = forEachMaybeAsync(list.length, end);
    return p === undefined ? ret : p.then(() => ret);
  };
  const r = srcuSection<number>(subs, () => {
    const p = forEachMaybeAsync(list.length, start);
    return p === undefined ? afterStarts() : p.then(afterStarts);
  });
  return r as number | Promise<number>;
}

function checkStartResult(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
  sub: MmuNotifier,
  r: unknown,
  ret: number,
): number {
  const k = subs.kernel;
  let v = r;
  if (typeof v !== "number") {
    k.warn(`${sub}: invalidateRangeStart returned ${String(v)}, not 0 or a negative errno (taken as 0)`);
    v = 0;
  }
  if (v === 0) return ret;
  if (k.trace !== null) {
    k.event(
      "note",
      subs.id,
      v as number,
      `${sub} start failed with ${String(v)} in ${range.blockable ? "" : "non-"}blockable context`,
    );
  }
  if (range.blockable || v !== -EAGAIN) {
    k.warn(
      `${sub}: invalidateRangeStart failed with ${String(v)} (only -EAGAIN, and only when non-blockable, is legal)`,
    );
  }
  if (sub.ops.invalidateRangeEnd !== undefined) {
    k.warn(`${sub}: a notifier whose invalidateRangeStart can fail must not have invalidateRangeEnd`);
  }
  return v as number;
}

/** mn_hlist_invalidate_end: every linked notifier's end (non-blocking regions when not blockable). */
export function mnHlistInvalidateEnd(
  subs: MmuNotifierSubscriptions,
  range: MmuNotifierRange,
): Promise<void> | undefined {
  const list = subs.classic;
  const k = subs.kernel;
  const nonBlock = !range.blockable;
  const end = (i: number): PromiseLike<unknown> | undefined => {
    const sub = list[i] as MmuNotifier;
    const ops = sub.ops;
    if (!sub.linked || ops.invalidateRangeEnd === undefined) return undefined;
    if (k.trace !== null) k.event("note", subs.id, undefined, `${sub} end ${describeRange(range)}`);
    return callWrapped(
      subs,
      nonBlock,
      () =>
        (ops.invalidateRangeEnd as NonNullable<MmuNotifierOps["invalidateRangeEnd"]>).call(ops, sub, range),
      () => {},
    );
  };
  const r = srcuSection<void>(subs, () => forEachMaybeAsync(list.length, end));
  return r instanceof Promise ? r : undefined;
}

/**
 * mn_hlist_release: every notifier's `release`, then all are unlinked, then a grace period (so a
 * `release` started by a concurrent `unregister` has returned before exit frees the pages).
 */
export async function mnHlistRelease(subs: MmuNotifierSubscriptions): Promise<void> {
  const list = subs.classic;
  const mm = subs.mm;
  const k = subs.kernel;
  const idx = subs.srcu.readLock();
  try {
    for (const sub of list) {
      const rel = sub.ops.release;
      if (!sub.linked || rel === undefined) continue;
      if (k.trace !== null) k.event("note", subs.id, undefined, `${sub} release`);
      const r = rel.call(sub.ops, sub, mm);
      if (isThenable(r)) await r;
    }
    const p = subs.spinLock();
    if (p !== undefined) await p;
    for (const sub of subs.classic) sub.linked = false;
    subs.classic = [];
    subs.spinUnlock();
  } finally {
    subs.srcu.readUnlock(idx);
  }
  const s = subs.srcu.synchronize();
  if (s !== undefined) await s;
}

/** __mmu_notifier_clear_flush_young: OR of every result. */
export function mnHlistClearFlushYoung(subs: MmuNotifierSubscriptions, start: number, end: number): number {
  return srcuSync(subs, () => {
    let young = 0;
    for (const sub of subs.classic) {
      const f = sub.ops.clearFlushYoung;
      if (sub.linked && f !== undefined) young |= f.call(sub.ops, sub, subs.mm, start, end);
    }
    return young;
  });
}

/** __mmu_notifier_clear_young: OR of every result. */
export function mnHlistClearYoung(subs: MmuNotifierSubscriptions, start: number, end: number): number {
  return srcuSync(subs, () => {
    let young = 0;
    for (const sub of subs.classic) {
      const f = sub.ops.clearYoung;
      if (sub.linked && f !== undefined) young |= f.call(sub.ops, sub, subs.mm, start, end);
    }
    return young;
  });
}

/** __mmu_notifier_test_young: the first non-zero result. */
export function mnHlistTestYoung(subs: MmuNotifierSubscriptions, address: number): number {
  return srcuSync(subs, () => {
    let young = 0;
    for (const sub of subs.classic) {
      const f = sub.ops.testYoung;
      if (!sub.linked || f === undefined) continue;
      young = f.call(sub.ops, sub, subs.mm, address);
      if (young !== 0) break;
    }
    return young;
  });
}

/** __mmu_notifier_arch_invalidate_secondary_tlbs. */
export function mnHlistArchInvalidateSecondaryTlbs(
  subs: MmuNotifierSubscriptions,
  start: number,
  end: number,
): void {
  srcuSync(subs, () => {
    for (const sub of subs.classic) {
      const f = sub.ops.archInvalidateSecondaryTlbs;
      if (sub.linked && f !== undefined) f.call(sub.ops, sub, subs.mm, start, end);
    }
  });
}
