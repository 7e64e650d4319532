// replay(): runs a scenario on the schedule a token recorded, to reproduce its failure exactly.

import type { Kernel } from "../mm/kernel.js";
import { Lockdep } from "../sync/lockdep.js";
import { scheduleOf } from "../trace/schedule.js";
import { type ExecutionOptions, type RawExecution, runExecution } from "./execution.js";
import { DEFAULT_MAX_STEPS } from "./options.js";
import type { ExecutionResult, Failure, FailureKind } from "./result.js";
import { type Scenario, scenarioRefOf } from "./scenario.js";
import { ReplayChooser } from "./strategies/replay.js";
import { decodeToken } from "./token.js";

/** What `replay` returns: the execution, and whether it reproduced the token's failure. */
export interface ReplayResult extends ExecutionResult {
  /** True when the run followed the recorded schedule and failed with the token's kind at its step. */
  reproduced: boolean;
  expected: { kind: FailureKind; step: number };
  /**
   * Why the run left the recorded schedule (the scenario changed, or is not deterministic), or
   * undefined when it followed it to the end. A diverged replay never counts as reproduced.
   */
  diverged: string | undefined;
}

/** Replays `token` on `scenario`: the same schedule, hence the same failure at the same step. */
export async function replay(
  scenario: Scenario<unknown, Kernel>,
  token: string,
  options: { trace?: boolean; scenarioRef?: string; createKernel?: ExecutionOptions["createKernel"] } = {},
): Promise<ReplayResult> {
  const sc = scenario;
  const decoded = decodeToken(token);
  const { raw: r, diverged } = await replayDecoded(sc, decoded, options.trace ?? true, options.createKernel);
  const rep = r.failure;
  const trace = r.trace ?? emptyTrace();
  const schedule = r.trace === undefined ? undefined : scheduleOf(r.trace);
  const failure: Failure | undefined =
    rep === undefined
      ? undefined
      : {
          kind: rep.kind,
          message: rep.message,
          token,
          trace,
          schedule: schedule ?? scheduleOf(trace),
          task: rep.task,
          step: rep.step,
          execution: 0,
          replay: replayCommands(options.scenarioRef ?? scenarioRefOf(sc), token),
        };
  return {
    failure,
    reports: r.reports,
    choices: r.choices,
    points: r.points,
    steps: r.steps,
    trace: r.trace,
    schedule,
    reproduced:
      diverged === undefined && rep !== undefined && rep.kind === decoded.kind && rep.step === decoded.step,
    expected: { kind: decoded.kind, step: decoded.step },
    diverged,
  };
}

/**
 * Replays a decoded token: every segment in order (one lockdep graph, or none when the token says
 * lockdep was off), with the token's step bound and fairness, the last one with a trace if asked.
 * The last segment is the failing execution, which made no decision after its last choice: it is
 * replayed exactly. Stops at the first segment that leaves its recorded schedule.
 */
export async function replayDecoded(
  scenario: Scenario<unknown, Kernel>,
  decoded: ReturnType<typeof decodeToken>,
  trace: boolean,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<{ raw: RawExecution; diverged: string | undefined }> {
  const lockdep = decoded.lockdep ? new Lockdep() : null;
  const maxSteps = decoded.maxSteps ?? DEFAULT_MAX_STEPS;
  const n = decoded.segments.length;
  let raw: RawExecution | undefined;
  for (let i = 0; i < n; i++) {
    const isLast = i === n - 1;
    const exec: ExecutionOptions = { maxSteps, fair: decoded.fair, lockdep, trace: trace && isLast };
    if (createKernel !== undefined) exec.createKernel = createKernel;
    const chooser = new ReplayChooser(decoded.segments[i] as number[], { exact: isLast });
    raw = await runExecution(scenario, chooser, exec);
    const where = n > 1 ? `execution ${i + 1} of ${n}: ` : "";
    let why = chooser.divergence;
    if (why === null && chooser.consumed < chooser.length) {
      why =
        `the execution ${raw.failure === undefined ? "ended" : `failed (${raw.failure.kind})`} ` +
        `after ${chooser.consumed} of its ${chooser.length} recorded choices`;
    }
    if (why !== null) return { raw, diverged: where + why };
  }
  return { raw: raw as RawExecution, diverged: undefined };
}

/** The trace of an execution that recorded none. */
export function emptyTrace(): Failure["trace"] {
  return { version: 1, tasks: [], objects: [], events: [], meta: {} };
}

/**
 * The command line and the API call that replay `token`. `cli` is undefined when the command line
 * cannot load the scenario (`scenarioRef` undefined: give `defineScenario` a `module`).
 */
export function replayCommands(
  scenarioRef: string | undefined,
  token: string,
): { cli: string | undefined; api: string } {
  // POSIX shell quoting where needed: inside single quotes only a single quote is special.
  const quoted =
    scenarioRef === undefined || /^[A-Za-z0-9_./:#@%+=,-]+$/.test(scenarioRef)
      ? scenarioRef
      : `'${scenarioRef.replaceAll("'", `'\\''`)}'`;
  return {
    cli: quoted === undefined ? undefined : `npx mmun replay ${quoted} ${token}`,
    api: `await replay(scenario, ${JSON.stringify(token)})`,
  };
}
