// Shared by the pattern tests: the catalogue's claim for a correct pattern's scenario.

import { expect } from "vitest";
import { explore } from "../../src/explore/explore.js";
import type { Scenario } from "../../src/explore/scenario.js";
import { builtinScenario } from "../../src/scenarios/index.js";

/** DFS stops here when the space within 2 preemptions is larger (none is, today: see the test). */
export const DFS_BUDGET = 50_000;
/** PCT executions per correct scenario (the "at least 10,000"). */
export const PCT_EXECUTIONS = 10_000;

/**
 * `scenario` is registered, every schedule within 2 preemptions passes (DFS enumerates them all), and
 * 10,000 PCT executions (seed 7) find nothing.
 */
export async function passesCatalogue(scenario: Scenario<unknown>): Promise<void> {
  expect(builtinScenario(scenario.name), "a built-in scenario (mmun list, check, demo)").toBe(scenario);
  expect(scenario.expect).toBe("pass");
  const dfs = await explore(scenario, { strategy: "dfs", preemptionBound: 2, executions: DFS_BUDGET });
  expect(dfs.failures.map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
  expect(dfs.stats.exhausted, "DFS within 2 preemptions enumerates every schedule").toBe(true);
  expect(dfs.executions).toBeGreaterThan(10);
  const pct = await explore(scenario, { strategy: "pct", seed: 7, executions: PCT_EXECUTIONS });
  expect(pct.failures.map((f) => `${f.kind}: ${f.message}`)).toEqual([]);
  expect(pct.executions).toBe(PCT_EXECUTIONS);
}
