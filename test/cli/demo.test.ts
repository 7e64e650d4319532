// mmun demo: one row per scenario with its verdict; the report folder holds each counterexample's
// trace; the exit status is 1 as soon as one verdict is not the expected one.

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { demoCells, demoScenario } from "../../src/cli/commands/demo.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { exec } from "./run.js";

const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const scratch = mkdtempSync(join(tmpdir(), "mmun-demo-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface DemoJson {
  ok: boolean;
  rows: {
    scenario: string;
    expect: string;
    ok: boolean;
    executions: number;
    schedules: number;
    failureKind?: string;
    token?: string;
    replay?: string;
    trace?: string;
    runs: { strategy: string; outcome: string }[];
  }[];
}

describe("mmun demo", () => {
  it("--json: a broken driver's row has its verdict, the kind found, a token that replays, and its trace in the report folder", async () => {
    const out = join(scratch, "report");
    const r = await exec(
      process.execPath,
      ["--import", tsx, main, "demo", "--filter", "broken/no-set-seq", "--json", "--out", out],
      root,
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as DemoJson;
    expect(j.ok).toBe(true);
    const [row] = j.rows;
    expect(row).toMatchObject({
      scenario: "broken/no-set-seq",
      expect: "stale-mapping",
      ok: true,
      failureKind: "stale-mapping",
    });
    expect(row?.runs.map((x) => x.strategy)).toEqual(["random", "pct", "dfs"]);
    expect(row?.runs.every((x) => x.outcome === "stale-mapping")).toBe(true);
    expect(row?.schedules).toBeGreaterThan(0);
    expect(row?.schedules).toBeLessThanOrEqual(row?.executions as number);
    const tracePath = row?.trace ?? "";
    const trace = JSON.parse(readFileSync(tracePath, "utf8")) as { events: unknown[] };
    expect(trace.events.length).toBeGreaterThan(0);
    expect(existsSync(tracePath.replace(/\.trace\.json$/, ".perfetto.json"))).toBe(true);
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain(`\`${row?.replay}\``);
    const again = await exec(
      "sh",
      ["-c", (row?.replay ?? "").replace(/^npx mmun/, `'${process.execPath}' --import '${tsx}' '${main}'`)],
      root,
    );
    expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
  }, 120_000);

  it("a scenario that does not show what it is expected to is UNEXPECTED (the demo then exits 1)", async () => {
    const quiet = defineScenario({
      name: "my/claims-a-deadlock",
      description: "one task, no deadlock, though it says it deadlocks",
      setup: () => ({}),
      tasks: { a: async (_w, k) => k.point() },
      expect: "deadlock",
    });
    const row = await demoScenario(quiet, 0, 20);
    expect(row.ok).toBe(false);
    expect(demoCells(row).slice(0, 3)).toEqual(["my/claims-a-deadlock", "deadlock", "UNEXPECTED"]);
    const loud = defineScenario({
      ...quiet,
      name: "my/deadlocks",
      expect: "pass",
      tasks: { a: async (_w, k) => k.completion("never").wait() },
    });
    const bad = await demoScenario(loud, 0, 20);
    expect(bad.ok).toBe(false);
    expect(bad.shown?.failure.kind).toBe("deadlock");
  });

  it("--filter matching nothing is an error, not an empty success", async () => {
    const r = await exec(
      process.execPath,
      ["--import", tsx, main, "demo", "--filter", "no-such-scenario", "--out", "-"],
      root,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ENOENT/);
  }, 60_000);
});
