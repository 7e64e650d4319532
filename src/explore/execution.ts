// Runs one execution of a scenario on a fresh kernel under the controlled scheduler.

import { Kernel } from "../mm/kernel.js";
import { type Chooser, ControlledScheduler } from "../sync/controlledScheduler.js";
import type { Lockdep } from "../sync/lockdep.js";
import type { Report, ReportKind } from "../sync/report.js";
import type { Trace } from "../trace/schema.js";
import type { Scenario } from "./scenario.js";

/** The explorer handles every report itself: `run()` never rejects. */
const NO_FAILURES: readonly ReportKind[] = [];

/** The raw outcome of one execution (before it becomes a `Failure` with a token). */
export interface RawExecution {
  /** The first report (every report kind is a failure under the explorer), if any. */
  failure: Report | undefined;
  reports: Report[];
  choices: number[];
  points: number;
  steps: number;
  /** True when the chooser stopped the execution (DFS sharding), not a failure. */
  pruned: boolean;
  trace: Trace | undefined;
}

export interface ExecutionOptions {
  maxSteps: number;
  /** Fair scheduling of spinning tasks (default true; `ControlledOptions.fair`). */
  fair?: boolean;
  lockdep: Lockdep | null;
  trace: boolean;
  /** Builds the kernel (the explorer uses the package's top-level kernel class). */
  createKernel?: (options: ConstructorParameters<typeof Kernel>[0]) => Kernel;
}

/**
 * Runs `scenario` once with `chooser` picking at every decision. Stops at the first report
 * (warnings included: the explorer treats every report as a failure) and then skips `check`.
 */
export async function runExecution(
  scenario: Scenario<unknown, Kernel>,
  chooser: Chooser,
  options: ExecutionOptions,
): Promise<RawExecution> {
  const sched = new ControlledScheduler(chooser, { maxSteps: options.maxSteps, fair: options.fair ?? true });
  let failure: Report | undefined;
  const make = options.createKernel ?? ((o) => new Kernel(o));
  const kernel = make({
    runtime: sched,
    lockdep: options.lockdep ?? false,
    trace: options.trace,
    failOn: NO_FAILURES,
    // A method, not an arrow: tsx (keepNames) would name an arrow with a defineProperty per execution.
    onReport(r) {
      if (failure === undefined) {
        failure = r;
        sched.abort();
      }
    },
  });
  let world: unknown;
  try {
    world = await scenario.setup(kernel);
  } catch (e) {
    kernel.report(
      "error",
      `setup of scenario "${scenario.name}" threw: ${e instanceof Error ? e.message : String(e)}`,
      e,
    );
  }
  if (failure === undefined) {
    for (const name of scenario.taskNames) {
      const fn = scenario.tasks[name];
      if (fn !== undefined) kernel.spawn(name, () => fn(world, kernel));
    }
    await sched.run();
  }
  const pruned = failure === undefined && sched.aborted;
  if (failure === undefined && !pruned && scenario.check !== undefined) {
    try {
      const ok = await scenario.check(world, kernel);
      if (ok === false) kernel.report("check", `check of scenario "${scenario.name}" returned false`);
    } catch (e) {
      kernel.report("check", e instanceof Error ? e.message : String(e), e);
    }
  }
  return {
    failure,
    reports: kernel.reports,
    choices: sched.choices,
    points: sched.points,
    steps: sched.step,
    pruned,
    trace: kernel.trace === null ? undefined : kernel.trace.toJSON(),
  };
}
