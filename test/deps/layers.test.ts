// The dependency rules of .dependency-cruiser.cjs (DESIGN.md §1's layers, no value import cycle),
// on the real tree and on a small tree made to break them.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cruise, type ICruiseResult } from "dependency-cruiser";
import { afterAll, describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const config = createRequire(import.meta.url)(join(root, ".dependency-cruiser.cjs")) as {
  forbidden: unknown[];
  options: Record<string, unknown>;
};

async function violations(baseDir: string): Promise<string[]> {
  // The fixture trees have no tsconfig: resolve the sources' ".js" specifiers to ".ts" directly.
  const { tsConfig: _, ...options } = config.options;
  const out = await cruise(
    existsSync(join(baseDir, "web")) ? ["src", "web"] : ["src"],
    { ...options, baseDir, validate: true, ruleSet: { forbidden: config.forbidden } } as never,
    { extensionAlias: { ".js": [".ts", ".js"] } },
  );
  const result = out.output as ICruiseResult;
  // Every import resolved (a rule cannot see what it could not resolve).
  const unresolved = result.modules.flatMap((m) =>
    m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith(".")),
  );
  expect(unresolved.map((d) => d.module)).toEqual([]);
  expect(result.summary.totalDependenciesCruised).toBeGreaterThan(0);
  return result.summary.violations
    .map(
      (v) =>
        `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name).join(" -> ")})` : ""}`,
    )
    .sort();
}

const fixtures: string[] = [];
afterAll(() => {
  for (const d of fixtures) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "mmun-deps-"));
  fixtures.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe("the layer and cycle rules", () => {
  it("hold on src/ and web/", async () => {
    expect(await violations(root)).toEqual([]);
  });

  it("reject an upward import and a value cycle, and allow a type-only cycle and downward imports", async () => {
    const dir = tree({
      "src/lib/a.ts": "export const a = 1;\n",
      "src/sync/up.ts": 'import { m } from "../mm/m.js";\nexport const up = m;\n',
      "src/mm/m.ts": 'import { a } from "../lib/a.js";\nexport const m = a;\n',
      "src/explore/x.ts": 'import { y } from "./y.js";\nexport const x = () => y;\n',
      "src/explore/y.ts": 'import { x } from "./x.js";\nexport const y = () => x;\n',
      "src/explore/t1.ts": 'import type { T2 } from "./t2.js";\nexport interface T1 { t?: T2 }\n',
      "src/explore/t2.ts": 'import type { T1 } from "./t1.js";\nexport interface T2 { t?: T1 }\n',
    });
    const found = await violations(dir);
    expect(found).toEqual([
      "layer-sync: src/sync/up.ts -> src/mm/m.ts",
      "no-value-cycle: src/explore/x.ts -> src/explore/y.ts (cycle src/explore/y.ts -> src/explore/x.ts)",
    ]);
  });

  it("let web/ import src/trace and src/lib, and nothing else of src/ (the visualizer never reads the runtime)", async () => {
    const dir = tree({
      "src/lib/a.ts": "export const a = 1;\n",
      "src/trace/t.ts": 'import { a } from "../lib/a.js";\nexport const t = a;\n',
      "src/mm/m.ts": 'import { a } from "../lib/a.js";\nexport const m = a;\n',
      "web/src/ok.ts":
        'import { t } from "../../src/trace/t.js";\nimport { a } from "../../src/lib/a.js";\nexport const ok = t + a;\n',
      "web/src/bad.ts": 'import { m } from "../../src/mm/m.js";\nexport const bad = m;\n',
    });
    expect(await violations(dir)).toEqual(["web-reads-trace-and-lib-only: web/src/bad.ts -> src/mm/m.ts"]);
  });
});
