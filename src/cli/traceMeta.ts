// What a trace written or shown by the command line says about itself (its `meta`): the scenario, and
// for a failing execution the failure and the command that replays it. The visualizer titles its
// page with them.

import type { Failure } from "../explore/result.js";
import type { Trace } from "../trace/schema.js";

/** `trace` with the scenario and the failure (if any) in its meta; the trace is not copied. */
export function withMeta(trace: Trace, scenario: string, failure: Failure | undefined): Trace {
  trace.meta.scenario = scenario;
  if (failure !== undefined) {
    trace.meta.failure = failure.kind;
    trace.meta.step = failure.step;
    if (failure.task !== null) trace.meta.task = failure.task;
    trace.meta.token = failure.token;
    if (failure.replay.cli !== undefined) trace.meta.replay = failure.replay.cli;
  }
  return trace;
}
