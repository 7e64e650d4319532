// After the explorer detects a failure the execution stops there: every trace event keeps the task
// that caused it, and no report is raised by work done after the failure (issue: a phantom
// "(outside any task)" used to unlock locks and raise a second, invented report).

import { describe, expect, it } from "vitest";
import { explore, replay, type StrategyName } from "../../src/explore/explore.js";
import { encodeToken } from "../../src/explore/token.js";
import { builtinScenarios } from "../../src/scenarios/index.js";
import type { Trace } from "../../src/trace/schema.js";

/** Events credited to no task while a task was running (between its "run" and its "block"/"end"). */
function unattributed(trace: Trace): string[] {
  let running = -1;
  const bad: string[] = [];
  for (const e of trace.events) {
    if (e.kind === "run") running = e.task;
    else if (e.task === -1 && running !== -1) bad.push(`step ${e.step}: ${e.kind} ${e.detail ?? ""}`);
    if ((e.kind === "block" || e.kind === "end") && e.task === running) running = -1;
  }
  return bad;
}

const broken = builtinScenarios.filter((s) => s.expect !== undefined && s.expect !== "pass");
const strategies: StrategyName[] = ["random", "pct", "dfs"];

describe("a failing execution stops at its failure, credited to the task that caused it (seed 0)", () => {
  it("there are built-in failures to replay", () => {
    expect(broken.length).toBeGreaterThanOrEqual(6);
  });

  for (const scenario of broken) {
    // Uniform random search does not find the order violation (it needs a long uninterrupted run).
    for (const strategy of strategies.filter(
      (x) => x !== "random" || scenario.name !== "classic/order-violation",
    )) {
      it(`${scenario.name} under ${strategy}: one report, of the expected kind, every event attributed`, async () => {
        // DFS with a budget: iterative delay bounding (unbounded DFS spends it on orders of whole tasks).
        const found = await explore(scenario, {
          strategy,
          ...(strategy === "dfs" ? { executions: 10_000 } : {}),
        });
        const f = found.failures[0];
        expect(f?.kind).toBe(scenario.expect);
        const r = await replay(scenario, f?.token as string);
        expect(r.reproduced).toBe(true);
        // Exactly the failure: no second report made by work after it.
        expect(r.reports.map((x) => [x.kind, x.step])).toEqual([[f?.kind, f?.step]]);
        expect(unattributed(r.trace as Trace)).toEqual([]);
        // The failure's own trace (built when the search found it) is the replay's.
        expect(unattributed(f?.trace as Trace)).toEqual([]);
      });
    }
  }

  it("classic/abba: the lock taken by the failing step is held by t2 in the trace (choices 0, 0, 0)", async () => {
    const abba = broken.find((s) => s.name === "classic/abba");
    const r = await replay(abba as (typeof broken)[number], encodeToken("lock-order", 6, [[0, 0, 0]]));
    const last = r.trace?.events.at(-1);
    const t2 = r.trace?.tasks.find((t) => t.name === "t2")?.id;
    expect(last).toMatchObject({ kind: "acquire", task: t2, step: 6 });
  });
});
