// The versioned trace format shared by the runtime, the explorer, the CLI and the visualizer.
//
// A trace is a list of events in execution order. Every event names the step (a counter of
// operations on kernel objects, the same number lockdep and failure reports quote), the logical
// time, the task that caused it, and the object it concerns. Version 2 adds what the visualizer
// draws on the address axis: the areas and PTEs of each address space, each device's page table,
// and the notifier protocol as structured events (invalidations, callbacks, readBegin/readRetry,
// the interval notifiers and their deferred state). docs/trace-format.md documents both versions;
// readers must reject versions they do not know (`readTrace` does).

/** The version written by this build. */
export const TRACE_VERSION = 2;

/** Every version this build reads: version 1 traces have no address-space or structured notifier events. */
export const TRACE_VERSIONS: readonly TraceVersion[] = [1, 2];

export type TraceVersion = 1 | 2;

/** What happened. */
export type TraceEventKind =
  /** A task was created (`value` = parent task id or -1). */
  | "spawn"
  /** A task ended (`detail` = error message when it threw). */
  | "end"
  /** The scheduler switched to this task. */
  | "run"
  /** The task must wait on `obj` (`detail` says for what). */
  | "block"
  /** The task was made runnable again (`value` = waker task id or -1; `detail` "timeout" on expiry). */
  | "wake"
  /** The task acquired `obj` (`detail` = mode: "write", "read", "recursive-read"). */
  | "acquire"
  /** The task released `obj`. */
  | "release"
  /** A fence or completion was signalled. */
  | "signal"
  /** An explicit scheduling point (`detail` = label). */
  | "point"
  /** A protocol value changed, e.g. a notifier sequence number (`value`, `detail` = field). */
  | "value"
  /** A warning (`detail` = message). */
  | "warn"
  /** A failure report (`detail` = "<kind>: <message>"). */
  | "report"
  /** Free text from higher layers (`detail`). */
  | "note"
  // ---- Version 2 ----
  /** The areas of the address space `obj` after a change (`areas`). */
  | "vmas"
  /** A CPU PTE of the address space `obj` changed: page `addr`, `value` = frame, swap slot or device frame, `detail` = state ({@link PteState} words). */
  | "pte"
  /** The device page table `obj` maps page `addr` of address space `mm` to frame `value` (`detail` "write" or "read"). */
  | "dev_map"
  /** The device page table `obj` dropped its translations of `[addr, end)` in address space `mm`. */
  | "dev_unmap"
  /** An invalidation of `[addr, end)` of address space `mm` starts (`obj` = its notifier subscriptions, `detail` = the event, e.g. "UNMAP"). */
  | "inv_start"
  /** That invalidation ends (`value` -11 when a non-blocking start failed with -EAGAIN and ended at once). */
  | "inv_end"
  /** The interval notifier `obj` is called for `[addr, end)` with cur_seq `value` (`detail` = the event). */
  | "callback"
  /** `readBegin` on the interval notifier `obj` returned (or, `detail` "waits", must wait to return) `value`. */
  | "read_begin"
  /** `readRetry(value)` on the interval notifier `obj`: `detail` "retry" (collided) or "ok". */
  | "read_retry"
  /** The interval notifier `obj` covering `[addr, end)` of `mm` is now in the state `detail` (see {@link IntervalMembershipName}). */
  | "interval";

/**
 * A PTE's state in a "pte" event: space-separated words among `present`, `write`, `dirty`,
 * `young`, `zero` (the shared zero page), `protnone`, `swap`, `migration`, `device-private`, or
 * `none` alone for a cleared entry.
 */
export type PteState = string;

/** Where an interval notifier stands ("interval" events): the deferred list holds the `pending-*` ones. */
export type IntervalMembershipName = "pending-insert" | "in-tree" | "pending-remove" | "unlinked" | "removed";

/** One mapped area in a "vmas" event: `[start, end)`, `prot` as /proc/pid/maps writes it ("rw-p", "r--s"). */
export interface TraceArea {
  start: number;
  end: number;
  prot: string;
}

/** One event. `obj` is -1 when the event concerns no object. */
export interface TraceEvent {
  step: number;
  time: number;
  task: number;
  kind: TraceEventKind;
  obj: number;
  value?: number;
  detail?: string;
  /** Version 2: the first byte of the page or range the event concerns. */
  addr?: number;
  /** Version 2: one past the last byte of the range. */
  end?: number;
  /** Version 2: the address space (object id of an "mm") of a device or notifier event. */
  mm?: number;
  /** Version 2, "vmas" events: the areas, in address order. */
  areas?: TraceArea[];
}

/** A kernel object named in events: a lock, wait queue, fence, notifier… */
export interface TraceObject {
  id: number;
  /** The object's type, e.g. "mutex", "spinlock", "rwsem", "waitqueue", "fence", "lockmap". */
  type: string;
  name: string;
}

/** A task named in events. */
export interface TraceTask {
  id: number;
  name: string;
}

/** A whole trace, as written to JSON. This build writes {@link TRACE_VERSION}. */
export interface Trace {
  version: TraceVersion;
  tasks: TraceTask[];
  objects: TraceObject[];
  events: TraceEvent[];
  /** Free-form facts about the run (scenario, token, failure). */
  meta: Record<string, string | number | boolean>;
}
