// Finding scenarios among a module's exports (for the CLI's "path to a module" and for workers).

import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import type { Scenario } from "./scenario.js";

/** True for a value made by `defineScenario`. */
export function isScenario(v: unknown): v is Scenario<unknown, Kernel> {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as Scenario).name === "string" &&
    typeof (v as Scenario).setup === "function" &&
    Array.isArray((v as Scenario).taskNames)
  );
}

/** Every scenario a module exports: directly, or in exported arrays. */
export function scenariosOf(mod: Record<string, unknown>): Scenario<unknown, Kernel>[] {
  const out: Scenario<unknown, Kernel>[] = [];
  for (const v of Object.values(mod)) {
    if (isScenario(v)) out.push(v);
    else if (Array.isArray(v)) for (const x of v) if (isScenario(x)) out.push(x);
  }
  return [...new Set(out)];
}

/** The scenario named `name` in a module's exports (or its only one when `name` is undefined). */
export function findScenario(mod: Record<string, unknown>, name?: string): Scenario<unknown, Kernel> {
  const all = scenariosOf(mod);
  if (name === undefined) {
    if (all.length === 1) return all[0] as Scenario<unknown, Kernel>;
    throw new MmunError(
      "EINVAL",
      all.length === 0
        ? "the module exports no scenario (made with defineScenario)"
        : `the module exports several scenarios; name one of: ${all.map((s) => s.name).join(", ")}`,
    );
  }
  const s = all.find((x) => x.name === name);
  if (s === undefined) {
    throw new MmunError(
      "ENOENT",
      `no scenario "${name}" in the module (it has: ${all.map((x) => x.name).join(", ")})`,
    );
  }
  return s;
}
