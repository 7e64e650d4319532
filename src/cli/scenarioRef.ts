// Resolving the <scenario> argument of the CLI: a built-in name, or a module path[#name].

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Scenario } from "../explore/scenario.js";
import { findScenario } from "../explore/scenarioModule.js";
import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import { builtinScenario, builtinScenarios } from "../scenarios/index.js";

/**
 * Loads the scenario `ref` names: a built-in scenario name (`mmun list`), or a path to a module
 * exporting scenarios made with `defineScenario`, optionally followed by `#name` to pick one.
 */
export async function loadScenario(ref: string): Promise<Scenario<unknown, Kernel>> {
  const builtin = builtinScenario(ref);
  if (builtin !== undefined) return builtin;
  const hash = ref.lastIndexOf("#");
  const path = hash > 0 ? ref.slice(0, hash) : ref;
  const name = hash > 0 ? ref.slice(hash + 1) : undefined;
  const file = resolve(path);
  if (!existsSync(file)) {
    const near = builtinScenarios.filter((s) => s.name.includes(ref)).map((s) => s.name);
    throw new MmunError(
      "ENOENT",
      `no built-in scenario and no file named "${ref}"` +
        (near.length > 0 ? ` (did you mean ${near.join(", ")}?)` : "; run `mmun list` for the built-in ones"),
    );
  }
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const scenario = findScenario(mod, name);
  // Workers load the scenario from its module: make sure it knows it.
  return scenario.module === undefined ? { ...scenario, module: pathToFileURL(file).href } : scenario;
}
