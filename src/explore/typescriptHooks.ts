// Module resolution hooks for TypeScript scenario files (Node only; registered with module.register
// by moduleLoader.ts, after tsx, and run on Node's loader thread).
//
// A scenario file is an ES module whatever its package.json says: mmun is ESM-only, and tsx alone
// follows "type" and compiles the .ts file of a CommonJS package to CommonJS, where `import "mmun"`
// fails. So a .ts or .mts file outside node_modules resolves as format "module" (tsx then compiles
// it as one), and its relative imports find the TypeScript file a ".js" specifier stands for, as
// tsc's NodeNext resolution does. .cts files and packages keep tsx's and Node's rules.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** A specifier these hooks resolve to ACTIVE (Node alone leaves it as is): are they registered? */
export const PROBE = "mmun:typescript-hooks";
export const ACTIVE = "mmun:typescript-hooks-active";

interface ResolveContext {
  parentURL?: string | undefined;
}
interface ResolveResult {
  url: string;
  format?: string | null | undefined;
  shortCircuit?: boolean | undefined;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<ResolveResult>;

const ESM_TS = /\.m?ts$/;
const PATH = /^(\.{1,2}\/|\/|file:)/;
/** The TypeScript files a ".js"-like specifier may stand for, by its extension ("" for none). */
const TS_FOR: Record<string, string[]> = { ".js": [".ts"], ".mjs": [".mts"], "": [".ts", ".mts"] };

/** A file of the user's own (not a package's) that is a TypeScript ES module. */
function userTypeScript(url: string): boolean {
  if (!url.startsWith("file:")) return false;
  const path = new URL(url).pathname;
  return ESM_TS.test(path) && !path.includes("/node_modules/");
}

/** The TypeScript ES module a relative specifier names, when it names one. */
function typescriptFile(url: URL): string | undefined {
  const path = url.pathname;
  if (ESM_TS.test(path)) return existsSync(fileURLToPath(url)) ? url.href : undefined;
  const ext = /\.m?js$/.exec(path)?.[0] ?? (/\.[^/]*$/.test(path) ? undefined : "");
  if (ext === undefined || existsSync(fileURLToPath(url))) return undefined;
  for (const ts of TS_FOR[ext] ?? []) {
    const candidate = new URL(url.href);
    candidate.pathname = path.slice(0, path.length - ext.length) + ts;
    if (existsSync(fileURLToPath(candidate))) return candidate.href;
  }
  return undefined;
}

/** Node's resolve hook: see the file comment. */
export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  if (specifier === PROBE) return { url: ACTIVE, shortCircuit: true };
  const parent = context.parentURL;
  if (parent !== undefined && userTypeScript(parent) && PATH.test(specifier)) {
    const ts = typescriptFile(new URL(specifier, parent));
    if (ts !== undefined) return { url: ts, format: "module", shortCircuit: true };
  }
  const resolved = await nextResolve(specifier, context);
  return userTypeScript(resolved.url) ? { ...resolved, format: "module" } : resolved;
}
