// Importing a scenario module by URL, TypeScript included (Node only: the CLI and worker threads;
// never reached from src/index.ts, so the library stays browser-safe).
//
// TypeScript goes through tsx (a runtime dependency, imported only when a .ts, .mts or .cts module
// is loaded): it runs on every Node this package supports (Node's own type stripping needs 22.18),
// compiles with esbuild, and maps a ".js" import to its ".ts" file as tsc does. typescriptHooks.ts
// adds one rule on top: a scenario file is an ES module.

import { register } from "node:module";
import { ACTIVE, PROBE } from "./typescriptHooks.js";

const TYPESCRIPT = /\.[cm]?ts$/;

/** Registration in this thread, once. */
let registered: Promise<void> | undefined;

/**
 * Imports the module at `url` (a file: URL). A TypeScript module first gets the TypeScript loader
 * registered in this thread, unless the thread has it already (newer Node versions hand the main
 * thread's hooks to worker threads).
 */
export async function importModule(url: string): Promise<Record<string, unknown>> {
  if (TYPESCRIPT.test(new URL(url).pathname)) {
    registered ??= registerTypeScript();
    await registered;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** True when typescriptHooks.ts answers resolution in this thread. */
function hooksActive(): boolean {
  return import.meta.resolve(PROBE) === ACTIVE;
}

async function registerTypeScript(): Promise<void> {
  if (hooksActive()) return;
  const fromSource = import.meta.url.endsWith(".ts");
  // From mmun's own TypeScript sources tsx is registered already (node --import tsx).
  if (!fromSource) {
    const [esm, cjs] = await Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]);
    esm.register();
    cjs.register();
  }
  // Registered last, so it resolves first and hands tsx the format to compile to.
  register(new URL(fromSource ? "./typescriptHooks.ts" : "./typescriptHooks.js", import.meta.url));
}
