// The versioned trace format shared by the runtime, the explorer, the CLI and the visualizer.
//
// A trace is a list of events in execution order. Every event names the step (a counter of
// operations on kernel objects, the same number lockdep and failure reports quote), the logical
// time, the task that caused it, and the object it concerns. Version 1 is documented in
// docs/trace-format.md; readers must reject versions they do not know.

/** The version written by this build. */
export const TRACE_VERSION = 1;

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
  | "note";

/** One event. `obj` is -1 when the event concerns no object. */
export interface TraceEvent {
  step: number;
  time: number;
  task: number;
  kind: TraceEventKind;
  obj: number;
  value?: number;
  detail?: string;
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

/** A whole trace, as written to JSON. */
export interface Trace {
  version: typeof TRACE_VERSION;
  tasks: TraceTask[];
  objects: TraceObject[];
  events: TraceEvent[];
  /** Free-form facts about the run (scenario, token, failure). */
  meta: Record<string, string | number | boolean>;
}
