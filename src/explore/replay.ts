// replay(): runs a scenario on the schedule a token recorded, to reproduce its failure exactly.

import type { Kernel } from "../mm/kernel.js";
import { Lockdep } from "../sync/lockdep.js";
import { type ExecutionOptions, type RawExecution, runExecution } from "./execution.js";
import { DEFAULT_MAX_STEPS } from "./options.js";
import type { ExecutionResult, Failure, FailureKind } from "./result.js";
import type { Scenario } from "./scenario.js";
import { ReplayChooser } from "./strategies/replay.js";
import { decodeToken } from "./token.js";

/** What `replay` returns: the execution, and whether it reproduced the token's failure. */
export interface ReplayResult extends ExecutionResult {
  /** True when the failure has the token's kind and step. */
  reproduced: boolean;
  expected: { kind: FailureKind; step: number };
}

/** Replays `token` on `scenario`: the same schedule, hence the same failure at the same step. */
export async function replay(
  scenario: Scenario<unknown, Kernel>,
  token: string,
  options: { trace?: boolean; scenarioRef?: string; createKernel?: ExecutionOptions["createKernel"] } = {},
): Promise<ReplayResult> {
  const sc = scenario;
  const decoded = decodeToken(token);
  const r = await replayDecoded(sc, decoded, options.trace ?? true, options.createKernel);
  const rep = r.failure;
  const failure: Failure | undefined =
    rep === undefined
      ? undefined
      : {
          kind: rep.kind,
          message: rep.message,
          token,
          trace: r.trace ?? emptyTrace(),
          task: rep.task,
          step: rep.step,
          execution: 0,
          replay: replayCommands(options.scenarioRef ?? sc.name, token),
        };
  return {
    failure,
    reports: r.reports,
    choices: r.choices,
    points: r.points,
    steps: r.steps,
    trace: r.trace,
    reproduced: rep !== undefined && rep.kind === decoded.kind && rep.step === decoded.step,
    expected: { kind: decoded.kind, step: decoded.step },
  };
}

/** Replays a decoded token: every segment in order, the last one with a trace if asked. */
export async function replayDecoded(
  scenario: Scenario<unknown, Kernel>,
  decoded: ReturnType<typeof decodeToken>,
  trace: boolean,
  createKernel?: ExecutionOptions["createKernel"],
): Promise<RawExecution> {
  const lockdep = new Lockdep();
  const maxSteps = decoded.maxSteps ?? DEFAULT_MAX_STEPS;
  let last: RawExecution | undefined;
  for (let i = 0; i < decoded.segments.length; i++) {
    const isLast = i === decoded.segments.length - 1;
    const exec: ExecutionOptions = { maxSteps, lockdep, trace: trace && isLast };
    if (createKernel !== undefined) exec.createKernel = createKernel;
    last = await runExecution(scenario, new ReplayChooser(decoded.segments[i] as number[]), exec);
  }
  return last as RawExecution;
}

/** The trace of an execution that recorded none. */
export function emptyTrace(): Failure["trace"] {
  return { version: 1, tasks: [], objects: [], events: [], meta: {} };
}

/** The CLI command and API call that replay `token`. */
export function replayCommands(scenarioRef: string, token: string): { cli: string; api: string } {
  const quoted = /^[A-Za-z0-9_./:-]+$/.test(scenarioRef) ? scenarioRef : JSON.stringify(scenarioRef);
  return {
    cli: `npx mmun replay ${quoted} ${token}`,
    api: `await replay(scenario, ${JSON.stringify(token)})`,
  };
}
