// What an exploration returns.

import type { Report, ReportKind } from "../sync/report.js";
import type { Schedule } from "../trace/schedule.js";
import type { Trace } from "../trace/schema.js";

/** The kinds of failure (the report kinds of the runtime and the oracles). */
export type FailureKind = ReportKind;

/** One failing execution. */
export interface Failure {
  kind: FailureKind;
  message: string;
  /** Replays this failure exactly: `replay(scenario, token)` or `mmun replay <scenario> <token>`. */
  token: string;
  /** The trace of the failing execution (recorded by replaying it). */
  trace: Trace;
  /** Who did what at each step of the failing execution, from its trace (`formatSchedule` prints it). */
  schedule: Schedule;
  /** The task that was running when it was detected (null outside tasks). */
  task: string | null;
  /** The kernel step at which it was detected. */
  step: number;
  /** Which execution of the search found it (0-based). */
  execution: number;
  /**
   * The command line and the API call that replay it. `cli` is undefined for a scenario the command
   * line cannot load (one defined without `module: import.meta.url`).
   */
  replay: { cli: string | undefined; api: string };
}

/** The outcome of one execution. */
export interface ExecutionResult {
  /** The first failure, or undefined when the execution passed. */
  failure: Failure | undefined;
  /** Every report raised (the first failing one included). */
  reports: Report[];
  /** Task ids chosen at each point with more than one runnable task. */
  choices: number[];
  /** Scheduling points passed. */
  points: number;
  /** Kernel steps (operations on kernel objects). */
  steps: number;
  /** The trace, when recorded. */
  trace: Trace | undefined;
  /** The schedule, from the trace when recorded. */
  schedule: Schedule | undefined;
}

/** Counters of a search. */
export interface ExploreStats {
  strategy: string;
  seed: number;
  /**
   * True when DFS enumerated every schedule (within its preemption or delay bound, if any; under
   * iterative bounding, every schedule).
   */
  exhausted: boolean;
  /**
   * Iterative bounding (DFS given a budget and no bound): the delay bound the search reached. Every
   * schedule with fewer delays was explored, and when `exhausted`, every schedule; when it stopped
   * at a failure, the failing schedule has this many delays. Undefined for other searches.
   */
  boundReached: number | undefined;
  /** Scheduling points over all executions. */
  points: number;
  /** The most scheduling points of one execution. */
  maxPoints: number;
  /** Points where more than one task was runnable, over all executions. */
  decisions: number;
  /** Executions that hit `maxSteps`. */
  bounded: number;
  workers: number;
  shard: string | undefined;
}

/** What `explore` returns. */
export interface ExploreResult {
  scenario: string;
  executions: number;
  /** Executions with a schedule (choice list) not seen before in this search. */
  distinctSchedules: number;
  failures: Failure[];
  stats: ExploreStats;
}
