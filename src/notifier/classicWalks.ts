// Follows mm/mmu_notifier.c: the mn_hlist_* walks over an mm's classic notifiers (struct
// mmu_notifier, classicNotifier.ts), and the aging and secondary-TLB hooks that walk the same list.
//
// The list is newest first (the kernel adds at the head) and is walked inside the read side of the
// kernel-wide SRCU domain, so a walk may sleep and `unregister` can wait for walks in flight with a
// grace period. The list is an immutable array replaced on every change: a walk reads the array it
// started with (RCU's snapshot) and skips entries unlinked since, as an RCU reader that had not
// reached them would.

import { EAGAIN } from "../lib/errno.js";
import { forEachMaybeAsync, isThenable, withFinally } from "../lib/thenable.js";
import type { MmuNotifier, MmuNotifierOps } from "./classicNotifier.js";
import { describeRange, type MmuNotifierRange } from "./range.js";
import type { MmuNotifierSubscriptions } from "./subscriptions.js";

/** Runs `body` inside an SRCU read section of the notifier domain, for a sync or async body. */
function srcuSection<T>(subs: MmuNotifierSubscriptions, body: () => T | Promise<T>): T | Promise<T> {
  const srcu = subs.srcu;
  const idx = srcu.readLock();
  return withFinally(body, () => srcu.readUnlock(idx));
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
  let r: R | PromiseLike<R>;
  if (nonBlock) {
    const k = subs.kernel;
    k.nonBlockStart();
    r = withFinally(call, () => k.nonBlockEnd());
  } else r = call();
  if (!isThenable(r)) {
    done(r as R);
    return undefined;
  }
  return Promise.resolve(r as PromiseLike<R>).then(done);
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

/** Unlinks every classic notifier of the mm (`hlist_del_init_rcu` of each); under subs.lock. */
function unlinkAll(subs: MmuNotifierSubscriptions): void {
  for (const sub of subs.classic) sub.linked = false;
  subs.classic = [];
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
    const p = subs.underLock(unlinkAll);
    if (p instanceof Promise) await p;
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
