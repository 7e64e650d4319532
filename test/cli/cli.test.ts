import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
const scratch = mkdtempSync(join(tmpdir(), "mmun-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the CLI from source; resolves with exit code and output instead of throwing. */
async function mmun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", main, ...args], {
      cwd: root,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : -1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}

describe("the mmun command line", () => {
  it("prints help and version", async () => {
    const help = await mmun("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/check <scenario\|path>/);
    const v = await mmun("--version");
    expect(v.stdout).toMatch(/^mmun \d+\.\d+\.\d+/);
  });

  it("lists the built-in scenarios with their expected outcome", async () => {
    const r = await mmun("list", "--json");
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { name: string; expect: string }[];
    expect(rows.find((x) => x.name === "classic/abba")?.expect).toBe("lock-order");
    expect(rows.find((x) => x.name === "notifier/reader-vs-invalidations")?.expect).toBe("pass");
    expect(rows.find((x) => x.name === "notifier/broken-reader-no-retry")?.expect).toBe("check");
  });

  it("the README's check of the notifier's broken reader finds the stale page with DFS, as printed", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const line = "npx mmun check notifier/broken-reader-no-retry --strategy dfs";
    expect(readme).toContain(line);
    const r = await mmun(...line.split(" ").slice(2));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL check/);
    expect(r.stdout).toMatch(/published page \d v\d under seq \d+ but the PTE is v\d \(stale\)/);
  }, 60_000);

  it("check finds the lost update, prints a token, and the printed replay command reproduces it", async () => {
    const r = await mmun("check", "classic/lost-update", "--seed", "2");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL check/);
    const cmd = /replay: npx mmun replay (\S+) (\S+)/.exec(r.stdout);
    expect(cmd).not.toBeNull();
    const perfetto = join(scratch, "p.json");
    const trace = join(scratch, "t.json");
    const again = await mmun(
      "replay",
      cmd?.[1] as string,
      cmd?.[2] as string,
      "--perfetto",
      perfetto,
      "--trace",
      trace,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/reproduced: same failure, same step/);
    const p = JSON.parse(readFileSync(perfetto, "utf8")) as { traceEvents: { ph: string; name: string }[] };
    expect(p.traceEvents.some((e) => e.ph === "M" && e.name === "thread_name")).toBe(true);
    const t = JSON.parse(readFileSync(trace, "utf8")) as { version: number; events: unknown[] };
    expect(t.version).toBe(1);
    expect(t.events.length).toBeGreaterThan(0);
  }, 60_000);

  it("check of a correct scenario under exhaustive DFS exits 0 and says the space was exhausted", async () => {
    const r = await mmun("check", "classic/ordered", "--strategy", "dfs");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/schedule space exhausted/);
    expect(r.stdout).toMatch(/no failure found/);
  });

  it("check --json gives machine-readable results", async () => {
    const r = await mmun("check", "classic/abba", "--json");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as { failures: { kind: string; token: string }[] };
    expect(j.failures[0]?.kind).toBe("lock-order");
  });

  it("check loads a scenario from a module path", async () => {
    const file = join(scratch, "mine.ts");
    writeFileSync(
      file,
      `import { defineScenario } from ${JSON.stringify(join(root, "src/explore/scenario.ts"))};
export const mine = defineScenario({
  name: "mine", description: "two tasks race on a flag",
  setup: () => ({ x: 0 }),
  tasks: { a: async (w, k) => { const v = w.x; await k.point(); w.x = v + 1; }, b: async (w) => { w.x += 1; } },
  check: (w) => w.x === 2,
});
`,
    );
    const r = await mmun("check", file, "--strategy", "dfs");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL check/);
  }, 60_000);

  it("bad input is a usage error with exit status 2", async () => {
    const a = await mmun("check", "no/such-scenario");
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/ENOENT/);
    const b = await mmun("check", "classic/abba", "--strategy", "bogus");
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/unknown strategy/);
    const c = await mmun("frobnicate");
    expect(c.code).toBe(2);
    const d = await mmun("replay", "classic/abba", "garbage");
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/not a replay token/);
  }, 60_000);
});
