// The notifier protocol in the trace (format version 2, docs/trace-format.md): invalidations, callbacks,
// readBegin / readRetry results and the interval notifiers' tree membership, as structured events the
// visualizer draws. Callers test `kernel.trace !== null` first: nothing here runs untraced.

import type { SyncKernel } from "../sync/syncKernel.js";
import { recordEvent } from "../trace/recorder.js";
import type { MmuIntervalNotifier } from "./intervalNotifier.js";
import { MMU_NOTIFIER_EVENT_NAMES, type MmuNotifierRange } from "./range.js";
import type { MmuNotifierSubscriptions } from "./subscriptions.js";

function eventName(range: MmuNotifierRange): string {
  return MMU_NOTIFIER_EVENT_NAMES[range.event] ?? String(range.event);
}

/** "inv_start" / "inv_end" of `range` on `subs`; `value` -EAGAIN for a failed non-blocking start. */
export function traceInvalidation(
  subs: MmuNotifierSubscriptions,
  kind: "inv_start" | "inv_end",
  range: MmuNotifierRange,
  value?: number,
): void {
  const fields = { detail: eventName(range), addr: range.start, end: range.end, mm: subs.mm.id };
  recordEvent(subs.kernel, kind, subs.id, value === undefined ? fields : { value, ...fields });
}

/** "callback": `sub` is called for `range` with `cur`. */
export function traceIntervalCallback(
  k: SyncKernel,
  sub: MmuIntervalNotifier,
  range: MmuNotifierRange,
  cur: number,
): void {
  recordEvent(k, "callback", sub.id, {
    value: cur,
    detail: eventName(range),
    addr: range.start,
    end: range.end,
    mm: sub.mm.id,
  });
}

/** "interval": where `sub` stands now (in the tree, on the deferred list, unlinked, removed). */
export function traceInterval(k: SyncKernel, sub: MmuIntervalNotifier): void {
  recordEvent(k, "interval", sub.id, {
    detail: sub.membership,
    addr: sub.start,
    end: sub.last + 1,
    mm: sub.mm.id,
  });
}
