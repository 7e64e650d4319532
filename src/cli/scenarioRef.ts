// Resolving the <scenario> argument of the CLI: a built-in name, or a module path[#name] (a .js,
// .mjs, .ts or .mts file; TypeScript needs no flag).

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importModule } from "../explore/moduleLoader.js";
import type { Scenario } from "../explore/scenario.js";
import { findScenario, scenariosOf } from "../explore/scenarioModule.js";
import { MmunError } from "../lib/errno.js";
import type { Kernel } from "../mm/kernel.js";
import { builtinScenario, builtinScenarios } from "../scenarios/index.js";

/** A scenario, and the reference to it that `mmun replay` accepts from the same directory. */
export interface LoadedScenario {
  scenario: Scenario<unknown, Kernel>;
  ref: string;
}

/**
 * Loads the scenario `ref` names: a built-in scenario name (`mmun list`), or a path to a module
 * exporting scenarios made with `defineScenario`, optionally followed by `#name` to pick one.
 * The returned ref of a module scenario always carries its `#name`, so a replay command stays
 * unambiguous when the module gains a scenario.
 */
export async function loadScenario(ref: string): Promise<LoadedScenario> {
  const builtin = builtinScenario(ref);
  if (builtin !== undefined) return { scenario: builtin, ref };
  const hash = ref.lastIndexOf("#");
  const path = hash > 0 ? ref.slice(0, hash) : ref;
  const name = hash > 0 ? ref.slice(hash + 1) : undefined;
  const { url, mod } = await loadModule(path, ref);
  const scenario = findScenario(mod, name);
  // Workers load the scenario from its module: make sure it knows it.
  const known = scenario.module === undefined ? { ...scenario, module: url } : scenario;
  return { scenario: known, ref: `${path}#${scenario.name}` };
}

/** The scenarios a module file exports (`mmun list <path>`). */
export async function loadScenarios(path: string): Promise<Scenario<unknown, Kernel>[]> {
  const { mod } = await loadModule(path, path);
  const all = scenariosOf(mod);
  if (all.length === 0) {
    throw new MmunError("EINVAL", `${path} exports no scenario (made with defineScenario)`);
  }
  return all;
}

async function loadModule(path: string, ref: string): Promise<{ url: string; mod: Record<string, unknown> }> {
  const file = resolve(path);
  if (!existsSync(file)) {
    const near = builtinScenarios.filter((s) => s.name.includes(ref)).map((s) => s.name);
    throw new MmunError(
      "ENOENT",
      `no built-in scenario and no file named "${ref}"` +
        (near.length > 0 ? ` (did you mean ${near.join(", ")}?)` : "; run `mmun list` for the built-in ones"),
    );
  }
  const url = pathToFileURL(file).href;
  try {
    return { url, mod: await importModule(url) };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (file.endsWith(".cts") && (code === "ERR_PACKAGE_PATH_NOT_EXPORTED" || code === "ERR_REQUIRE_ESM")) {
      throw new MmunError(
        "EINVAL",
        `${path} is CommonJS (.cts), and mmun is ESM-only: a .cts file cannot require it; write the scenarios in a .ts or .mts file`,
      );
    }
    throw locatedSyntaxError(e, url) ?? e;
  }
}

/**
 * A syntax error of a scenario module (or of a module it imports) as `file:line[:column]: message`
 * and the offending line; `undefined` for any other error. tsx reports where TypeScript failed to
 * parse; Node does not say where a JavaScript module failed, so a child process loads the module
 * again and its uncaught-error report, which does, is read back. (On this error path only; a
 * module whose static imports fail to parse stops before any of its code runs.)
 */
function locatedSyntaxError(e: unknown, url: string): SyntaxError | undefined {
  if (!(e instanceof Error)) return undefined;
  // tsx (esbuild): "Transform failed with 1 error:\n/path/file.ts:2:17: ERROR: Unexpected ";"".
  const ts = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(e.message);
  if (ts !== null) {
    const [, file = "", line = "", column = "", message = ""] = ts;
    const text = readLine(file, Number(line));
    const caret = text === undefined ? "" : `\n  ${text}\n  ${" ".repeat(Number(column))}^`;
    return new SyntaxError(`${file}:${line}:${Number(column) + 1}: SyntaxError: ${message}${caret}`);
  }
  if (e.name !== "SyntaxError") return undefined;
  const loader = import.meta.resolve("../explore/moduleLoader.js");
  const script = `const { importModule } = await import(${JSON.stringify(loader)});
await importModule(${JSON.stringify(url)});`;
  const child = spawnSync(process.execPath, [...process.execArgv, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  // "file:///path/file.js:2\n<the line>\n<spaces>^^^\n\nSyntaxError: ..." (a CommonJS file: its path)
  const js = /^((?:file:\/\/)?\/.*):(\d+)\n(.*)\n( *\^+)$/m.exec(child.stderr ?? "");
  if (js === null) return undefined;
  const [, at = "", line = "", text = "", caret = ""] = js;
  const file = at.startsWith("file:") ? fileURLToPath(at) : at;
  return new SyntaxError(`${file}:${line}: SyntaxError: ${e.message}\n  ${text}\n  ${caret}`);
}

function readLine(file: string, line: number): string | undefined {
  try {
    return readFileSync(file, "utf8").split(/\r?\n/)[line - 1];
  } catch {
    return undefined;
  }
}
