// The package as users get it: `npm pack` (which builds, through prepack), the tarball's file list,
// and the tarball installed into a CommonJS project, whose TypeScript scenario the installed
// `mmun` checks and replays with plain node and no flag. Offline: the tarball is unpacked into
// node_modules/mmun and its dependencies are linked from this checkout's node_modules.

import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec, type Run } from "../cli/run.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const scratch = mkdtempSync(join(tmpdir(), "mmun-package-"));
const app = join(scratch, "app");
const installed = join(app, "node_modules/mmun");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Manifest {
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  exports: unknown;
  bin: Record<string, string>;
  types: string;
  browser: Record<string, string>;
}

let files: string[] = [];
let manifest: Manifest;

/** Runs a shell command line in the app project; npm stays offline. */
function sh(line: string): Promise<Run> {
  const env = { ...process.env, npm_config_offline: "true", npm_config_update_notifier: "false" };
  return exec("sh", ["-c", line], app, env);
}

beforeAll(async () => {
  // npm pack runs prepack (a clean build); its output goes to stderr, the JSON to stdout.
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", scratch], {
    cwd: root,
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (packed === undefined) throw new Error("npm pack printed no package");
  files = packed.files.map((f) => f.path);
  // What `npm install <tarball>` does, offline: unpack, link the bin, provide the dependencies.
  mkdirSync(installed, { recursive: true });
  mkdirSync(join(app, "node_modules/.bin"));
  await run("tar", ["-xzf", join(scratch, packed.filename), "-C", installed, "--strip-components=1"]);
  manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as Manifest;
  for (const dep of Object.keys(manifest.dependencies ?? {})) {
    symlinkSync(join(root, "node_modules", dep), join(app, "node_modules", dep));
  }
  const bin = join(installed, manifest.bin.mmun as string);
  chmodSync(bin, 0o755);
  symlinkSync(bin, join(app, "node_modules/.bin/mmun"));
  // A CommonJS project (what `npm init` makes) with a TypeScript scenario importing the package.
  writeFileSync(join(app, "package.json"), '{ "name": "app", "private": true, "type": "commonjs" }\n');
  writeFileSync(
    join(app, "race.ts"),
    `import { defineScenario, Kernel } from "mmun";
import { bump } from "./helper.js";

interface World { n: number }

export const racy = defineScenario({
  name: "my/race",
  description: "two tasks increment a counter without a lock",
  setup: (): World => ({ n: 0 }),
  tasks: {
    a: async (w: World, k: Kernel) => { const v = w.n; await k.point(); w.n = v + 1; },
    b: async (w: World) => bump(w),
  },
  check: (w: World) => w.n === 2,
});

export const calm = defineScenario({
  name: "my/calm",
  description: "one task",
  setup: (): World => ({ n: 0 }),
  tasks: { a: async (w: World) => bump(w) },
  // The CLI's kernel is an instance of this module's Kernel: one copy of mmun.
  check: (w: World, k: unknown) => w.n === 1 && k instanceof Kernel,
});
`,
  );
  // The driver guide's example: a mirror driver of the user's own, against the installed "mmun".
  const guide = readFileSync(join(root, "docs/guide.md"), "utf8");
  const driver = /^```ts\n(\/\/ my-driver\.ts\n[\s\S]*?)^```$/m.exec(guide)?.[1];
  if (driver === undefined) throw new Error("docs/guide.md lost its example driver");
  writeFileSync(join(app, "my-driver.ts"), driver.split("\nconst checked")[0] as string);
  writeFileSync(join(app, "helper.ts"), "export function bump(w: { n: number }): void { w.n += 1; }\n");
  writeFileSync(join(app, "bad.ts"), "export const a: number = 1;\nexport const b = ;\n");
  writeFileSync(join(app, "bad.mjs"), "export const a = 1;\n\nexport const b = ;\n");
  writeFileSync(
    join(app, "old.cts"),
    'const { defineScenario } = require("mmun");\nexports.s = defineScenario;\n',
  );
}, 240_000);

/** Every target a package.json field points at ("exports" nests conditions). */
function targets(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (typeof v === "object" && v !== null) return Object.values(v).flatMap(targets);
  return [];
}

describe("the npm package", () => {
  it("ships each source map with the source it names, the LICENSE, and a file for every export", () => {
    const shipped = new Set(files);
    const maps = files.filter((f) => f.endsWith(".map"));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(installed, map), "utf8")) as { sources: string[] };
      for (const source of sources) expect(shipped).toContain(join(dirname(map), source));
    }
    expect(shipped).toContain("LICENSE");
    const license = readFileSync(join(installed, "LICENSE"), "utf8");
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the mmun authors\n/);
    const all = [manifest.exports, manifest.bin, manifest.types, manifest.browser].flatMap(targets);
    for (const target of all) expect(shipped).toContain(target.replace(/^\.\//, ""));
  });

  it("needs no build and no script on install", () => {
    for (const script of ["preinstall", "install", "postinstall", "prepare"]) {
      expect(manifest.scripts).not.toHaveProperty(script);
    }
    expect(files.some((f) => f.startsWith("dist/") && f.endsWith(".js"))).toBe(true);
  });

  it("is imported by its name, as an ES module", async () => {
    const r = await sh(
      `node --input-type=module -e 'const m = await import("mmun"); console.log(typeof m.explore)'`,
    );
    expect(r.stdout).toBe("function\n");
  });

  it("the installed mmun lists, checks and replays a TypeScript scenario of a CommonJS project with plain node", async () => {
    const list = await sh("npx mmun list ./race.ts");
    expect(list.stdout).toMatch(/^my\/calm .*\nmy\/race /);
    const calm = await sh("npx mmun check ./race.ts#my/calm --strategy dfs");
    expect(calm.stdout).toMatch(/no failure found/);
    expect(calm.code).toBe(0);
    // README.md's "A first look" line, as written there.
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const line = /^(npx mmun check \.\/race\.ts#my\/race .*?) +# /m.exec(readme)?.[1];
    expect(line).toBe("npx mmun check ./race.ts#my/race --strategy dfs");
    const race = await sh(line as string);
    expect(race.code).toBe(1);
    const printed = /replay: (npx mmun replay .*)$/m.exec(race.stdout)?.[1];
    expect(printed).toMatch(/^npx mmun replay \.\/race\.ts#my\/race \S+$/);
    const again = await sh(printed as string);
    expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
    expect(again.code).toBe(0);
    const workers = await sh("npx mmun check ./race.ts#my/race --workers 2");
    expect(workers.stdout).toMatch(/FAIL check/);
    expect(workers.code).toBe(1);
  }, 120_000);

  it("the installed mmun checks a user's own driver (docs/guide.md's my-driver.ts, TypeScript, importing mmun), and its printed replay command works as printed", async () => {
    const list = await sh("npx mmun list ./my-driver.ts");
    expect(list.stdout).toMatch(/^my\/driver-vs-mprotect /m);
    expect(list.stdout).toMatch(/^my\/driver-without-retry /m);
    const good = await sh("npx mmun check ./my-driver.ts#my/driver-vs-mprotect --strategy dfs");
    expect(good.stdout).toMatch(/no failure found/);
    expect(good.code).toBe(0);
    const bad = await sh("npx mmun check ./my-driver.ts#my/driver-without-retry");
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAIL stale-mapping/);
    const printed = /replay: (npx mmun replay .*)$/m.exec(bad.stdout)?.[1];
    expect(printed).toMatch(/^npx mmun replay \.\/my-driver\.ts#my\/driver-without-retry \S+$/);
    const again = await sh(printed as string);
    expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
    expect(again.code).toBe(0);
  }, 120_000);

  it("the installed mmun reports a scenario module's syntax error at its file and line", async () => {
    const [ts, js, cts] = await Promise.all([
      sh("npx mmun check ./bad.ts"),
      sh("npx mmun check ./bad.mjs"),
      sh("npx mmun list ./old.cts"),
    ]);
    expect(ts.stderr).toMatch(/bad\.ts:2:18: SyntaxError: .*\n {2}export const b = ;\n {19}\^/);
    expect(js.stderr).toMatch(
      /bad\.mjs:3: SyntaxError: Unexpected token ';'\n {2}export const b = ;\n {19}\^/,
    );
    expect(cts.stderr).toMatch(/old\.cts is CommonJS \(\.cts\), and mmun is ESM-only/);
    for (const r of [ts, js, cts]) expect(r.code).toBe(2);
  }, 60_000);
});
