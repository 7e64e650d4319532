// Real traces for the visualizer's tests: the first failure the explorer finds in a built-in scenario.

import { explore } from "../../src/explore/explore.js";
import type { Failure } from "../../src/explore/result.js";
import { builtinScenario } from "../../src/scenarios/index.js";

/** The first failure DFS finds in the built-in scenario `name` (its trace carries the scenario's name). */
export async function counterexample(name: string): Promise<Failure> {
  const scenario = builtinScenario(name);
  if (scenario === undefined) throw new Error(`no built-in scenario ${name}`);
  const r = await explore(scenario, { strategy: "dfs", executions: 2000 });
  const f = r.failures[0];
  if (f === undefined) throw new Error(`${name}: DFS found no failure`);
  f.trace.meta.scenario = name;
  return f;
}

/** The failure `npx mmun check <name>` reports (explore's defaults: random, seed 0), its trace named. */
export async function checked(name: string): Promise<Failure> {
  const scenario = builtinScenario(name);
  if (scenario === undefined) throw new Error(`no built-in scenario ${name}`);
  const f = (await explore(scenario)).failures[0];
  if (f === undefined) throw new Error(`${name}: check found no failure`);
  f.trace.meta.scenario = name;
  return f;
}
