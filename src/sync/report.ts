// What the runtime (and the layers above it) report: failures and warnings, with where they happened.

/**
 * The kinds of report. The runtime raises `deadlock`, `sleep-in-atomic`, `lock-order`, `warn` and
 * `error`; higher layers raise `stale-mapping` and `use-after-free` (oracles) and `check` (a scenario
 * check) through the same channel.
 */
export type ReportKind =
  | "stale-mapping"
  | "use-after-free"
  | "deadlock"
  | "sleep-in-atomic"
  | "lock-order"
  | "warn"
  | "check"
  | "error";

/** One report. */
export interface Report {
  kind: ReportKind;
  message: string;
  /** The task that was running, or null outside any task. */
  task: string | null;
  /** The kernel's step counter when it was raised. */
  step: number;
  /** The logical time when it was raised. */
  time: number;
  /** The thrown value, for `error` reports of a task that threw. */
  error?: unknown;
  /** True on the `error` report of an execution stopped by the controlled scheduler's step bound. */
  stepBound?: true;
}
