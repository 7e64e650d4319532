// A scenario: a world, the tasks that race on it, and what must hold when they are done.

import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import type { ReportKind } from "../sync/report.js";

/**
 * A task of a scenario: runs on the world the scenario's `setup` built. (Declared as a method so a
 * `Scenario<MyWorld>` can be stored where a `Scenario<unknown>` is expected.)
 */
export type ScenarioTask<W, K extends Kernel = Kernel> = {
  task(world: W, kernel: K): Promise<void> | void;
}["task"];

/** What `defineScenario` takes. */
export interface ScenarioSpec<W, K extends Kernel = Kernel> {
  /** A short unique name (letters, digits, `-`, `_`, `/`, `.`), used by the CLI and in tokens. */
  name: string;
  /** One paragraph: what races, and what should (or should not) go wrong. */
  description: string;
  /** Builds a fresh world for one execution on a kernel driven by the explorer's scheduler. */
  setup(kernel: K): W | Promise<W>;
  /** The tasks, by name; spawned in this order after `setup`. */
  tasks: Record<string, ScenarioTask<W, K>>;
  /** Checks the final state; throwing or returning false fails the execution (kind `check`). */
  check?(world: W, kernel: K): boolean | undefined | Promise<boolean | undefined>;
  /** What the scenario is expected to show: `"pass"` for correct patterns, or the failure kind a broken one must produce. */
  expect?: ExpectedOutcome;
  /**
   * The DFS preemption bound `mmun demo` explores this scenario with (default: none, every
   * schedule): for a scenario whose whole schedule space is too large to enumerate, a bound within
   * which it is (most concurrency bugs need one or two preemptions).
   */
  preemptionBound?: number;
  /**
   * The module that defines the scenario (`import.meta.url`), so worker threads can load it
   * (`workers > 1`). Scenarios of the built-in registry have it.
   */
  module?: string;
}

/** `"pass"`, or the kind of failure a scenario of a known-bad pattern must produce. */
export type ExpectedOutcome = "pass" | ReportKind;

/** A validated scenario. */
export interface Scenario<W = unknown, K extends Kernel = Kernel> extends ScenarioSpec<W, K> {
  readonly taskNames: readonly string[];
}

const NAME = /^[A-Za-z0-9_./-]+$/;

/** Validates and freezes a scenario definition. Throws `MmunError("EINVAL")` on a bad one. */
export function defineScenario<W, K extends Kernel = Kernel>(spec: ScenarioSpec<W, K>): Scenario<W, K> {
  if (spec === null || typeof spec !== "object")
    throw new MmunError("EINVAL", "defineScenario needs an object");
  if (typeof spec.name !== "string" || !NAME.test(spec.name)) {
    throw new MmunError("EINVAL", `scenario name must match ${NAME}, got ${JSON.stringify(spec.name)}`);
  }
  if (typeof spec.description !== "string") {
    throw new MmunError("EINVAL", `scenario "${spec.name}" needs a description`);
  }
  if (typeof spec.setup !== "function")
    throw new MmunError("EINVAL", `scenario "${spec.name}" needs setup()`);
  if (spec.tasks === null || typeof spec.tasks !== "object") {
    throw new MmunError("EINVAL", `scenario "${spec.name}" needs tasks`);
  }
  const taskNames = Object.keys(spec.tasks);
  if (taskNames.length === 0) throw new MmunError("EINVAL", `scenario "${spec.name}" has no tasks`);
  for (const n of taskNames) {
    if (typeof spec.tasks[n] !== "function") {
      throw new MmunError("EINVAL", `scenario "${spec.name}": task "${n}" is not a function`);
    }
  }
  if (spec.check !== undefined && typeof spec.check !== "function") {
    throw new MmunError("EINVAL", `scenario "${spec.name}": check must be a function`);
  }
  const pb = spec.preemptionBound;
  if (pb !== undefined && !(Number.isSafeInteger(pb) && pb >= 0)) {
    throw new MmunError("EINVAL", `scenario "${spec.name}": preemptionBound must be a non-negative integer`);
  }
  return Object.freeze({ ...spec, taskNames });
}

/**
 * Where mmun's own scenarios live (a module under it is a built-in, named by its name alone), or
 * undefined where this module has no URL (a script bundle).
 */
function builtinDir(): string | undefined {
  try {
    return new URL("../scenarios/", import.meta.url).href;
  } catch {
    return undefined;
  }
}

/**
 * How the command line names `scenario` (`mmun check|replay <ref>`): a built-in by its name; a
 * scenario of a user's module by that module's path (relative to the working directory when it is
 * below it) and `#name`. Undefined when the command line cannot load it: a scenario without a
 * `module`, or one loaded from something other than a file.
 */
export function scenarioRefOf(scenario: { name: string; module?: string | undefined }): string | undefined {
  const m = scenario.module;
  if (m === undefined) return undefined;
  const builtins = builtinDir();
  if (builtins !== undefined && m.startsWith(builtins)) return scenario.name;
  if (!m.startsWith("file://")) return undefined;
  let path = decodeURIComponent(new URL(m).pathname);
  if (/^\/[A-Za-z]:\//.test(path)) path = path.slice(1);
  const cwd = typeof process === "object" && typeof process.cwd === "function" ? process.cwd() : undefined;
  if (cwd !== undefined) {
    const base = cwd.replaceAll("\\", "/").replace(/\/?$/, "/");
    if (path.startsWith(base)) path = `./${path.slice(base.length)}`;
  }
  return `${path}#${scenario.name}`;
}
