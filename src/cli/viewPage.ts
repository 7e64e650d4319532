// The visualizer's page for the command line: one self-contained HTML file (web/, built by Vite) with
// a bundle of traces put in its data slot. The published package ships it built (dist/web/index.html,
// by `npm run build`); a checkout builds it from web/ on first use, cached in the system's temporary
// directory under a hash of its sources, so the CLI run from source always shows the page as it is.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { MmunError } from "../lib/errno.js";
import type { TraceBundle } from "../trace/bundle.js";

/** The package root: src/cli/ and dist/cli/ are both two levels below it. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The page's empty data slot, replaced by the bundle. */
const SLOT = '<script type="application/json" id="mmun-data">null</script>';

/** The built page's HTML (building it first in a checkout). */
export async function viewPageHtml(): Promise<string> {
  const web = join(ROOT, "web");
  if (existsSync(join(web, "index.html"))) return readFileSync(await buildFromCheckout(web), "utf8");
  const built = join(ROOT, "dist/web/index.html");
  if (!existsSync(built)) {
    throw new MmunError("ENOENT", `the visualizer page is missing (${built}): run "npm run build"`);
  }
  return readFileSync(built, "utf8");
}

/** `html` with `bundle` in its data slot (safe inside a script element). */
export function withBundle(html: string, bundle: TraceBundle): string {
  const at = html.indexOf(SLOT);
  if (at < 0) throw new Error("the visualizer page has no data slot");
  const json = JSON.stringify(bundle).replace(/</g, "\\u003c");
  return `${html.slice(0, at)}<script type="application/json" id="mmun-data">${json}</script>${html.slice(at + SLOT.length)}`;
}

/** Every file the page is built from, relative to the root, sorted. */
function sources(web: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(ROOT, path));
    }
  };
  walk(web);
  for (const dir of ["src/trace", "src/lib"]) walk(join(ROOT, dir));
  return out.sort();
}

/** Builds web/ with Vite into a cache directory named after the sources' hash; returns the page's path. */
async function buildFromCheckout(web: string): Promise<string> {
  const hash = createHash("sha256");
  for (const f of sources(web))
    hash
      .update(f)
      .update("\0")
      .update(readFileSync(join(ROOT, f)))
      .update("\0");
  const dir = join(tmpdir(), `mmun-view-${hash.digest("hex").slice(0, 16)}`);
  const page = join(dir, "index.html");
  if (existsSync(page)) return page;
  // Build beside it, then rename: a concurrent build of the same sources loses the race harmlessly.
  const scratch = `${dir}.${process.pid}.${Date.now()}`;
  mkdirSync(scratch, { recursive: true });
  try {
    const vite = (await import("vite")) as typeof import("vite");
    await vite.build({
      configFile: join(web, "vite.config.ts"),
      logLevel: "warn",
      build: { outDir: scratch, emptyOutDir: true },
    });
    try {
      renameSync(scratch, dir);
    } catch (e) {
      if (!existsSync(page)) throw e;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return page;
}
