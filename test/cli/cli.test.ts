import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { readTrace } from "../../src/trace/read.js";
import { TRACE_VERSION } from "../../src/trace/schema.js";
import { exec, type Run } from "./run.js";

const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
/** tsx by URL, so the CLI runs from source in any working directory. */
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const scratch = mkdtempSync(join(tmpdir(), "mmun-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the CLI from source in the repository root. */
function mmun(...args: string[]): Promise<Run> {
  return mmunIn(root, ...args);
}

/** Runs the CLI from source in `cwd`. */
function mmunIn(cwd: string, ...args: string[]): Promise<Run> {
  return exec(process.execPath, ["--import", tsx, main, ...args], cwd);
}

/** The replay command a `check` printed, run exactly as printed (in a shell) from `cwd`. */
function replayAsPrinted(checkOutput: string, cwd: string): Promise<Run> {
  const line = /replay: (npx mmun replay .*)$/m.exec(checkOutput)?.[1];
  expect(line).toBeDefined();
  const cli = `'${process.execPath}' --import '${tsx}' '${main}'`;
  return exec("sh", ["-c", (line as string).replace(/^npx mmun/, cli)], cwd);
}

/** Writes `files` (path → text) under a new directory of the scratch space; returns it. */
function project(name: string, files: Record<string, string>): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  return dir;
}

/** A scenario module's text: a racy counter and a calm one, from the project's own sources. */
function racyModule(from: string, typed: boolean): string {
  const w = typed ? ": { n: number }" : "";
  return `import { defineScenario, Kernel } from ${JSON.stringify(from)};
import { bump } from "./helper.js";

export const racy = defineScenario({
  name: "my/race", description: "two tasks increment a counter without a lock",
  setup: ()${w} => ({ n: 0 }),
  tasks: { a: async (w${w}, k) => { const v = w.n; await k.point(); w.n = v + 1; }, b: async (w${w}) => bump(w) },
  check: (w${w}) => w.n === 2,
});
export const calm = defineScenario({
  name: "my/calm", description: "one task", setup: ()${w} => ({ n: 0 }),
  tasks: { a: async (w${w}) => bump(w) },
  // The kernel the CLI made is an instance of the Kernel this module imported: one copy of mmun.
  check: (w${w}, k${typed ? ": unknown" : ""}) => w.n === 1 && k instanceof Kernel,
});
`;
}
const helper = (typed: boolean) =>
  typed
    ? "export function bump(w: { n: number }): void { w.n += 1; }\n"
    : "export function bump(w) { w.n += 1; }\n";

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
    expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
    const p = JSON.parse(readFileSync(perfetto, "utf8")) as { traceEvents: { ph: string; name: string }[] };
    expect(p.traceEvents.some((e) => e.ph === "M" && e.name === "thread_name")).toBe(true);
    const t = readTrace(readFileSync(trace, "utf8"));
    expect(t.version).toBe(TRACE_VERSION);
    expect(t.events.length).toBeGreaterThan(0);
    // What the visualizer titles the page with.
    expect(t.meta.scenario).toBe("classic/lost-update");
    expect(t.meta.token).toBe(cmd?.[2]);
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

  const sources = join(root, "src/index.ts");

  it("check, replay and list load a TypeScript module, even in a CommonJS package, with one copy of mmun", async () => {
    const dir = project("ts-cjs", {
      "package.json": '{ "type": "commonjs" }\n',
      "race.ts": racyModule(sources, true),
      "helper.ts": helper(true),
    });
    const list = await mmunIn(dir, "list", "./race.ts", "--json");
    expect(list.stderr).toBe("");
    expect((JSON.parse(list.stdout) as { name: string }[]).map((r) => r.name).sort()).toEqual([
      "my/calm",
      "my/race",
    ]);
    const calm = await mmunIn(dir, "check", "./race.ts#my/calm", "--strategy", "dfs");
    expect(calm.stdout).toMatch(/no failure found/);
    expect(calm.code).toBe(0);
    const race = await mmunIn(dir, "check", "./race.ts#my/race", "--strategy", "dfs");
    expect(race.code).toBe(1);
    expect(race.stdout).toMatch(/replay: npx mmun replay \.\/race\.ts#my\/race \S+$/m);
    const again = await replayAsPrinted(race.stdout, dir);
    expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
    expect(again.code).toBe(0);
    const workers = await mmunIn(dir, "check", "./race.ts#my/race", "--workers", "2");
    expect(workers.stdout).toMatch(/FAIL check/);
    expect(workers.code).toBe(1);
  }, 60_000);

  it("loads a .mts module too", async () => {
    const dir = project("mts", {
      "one.mts": `import { defineScenario } from ${JSON.stringify(sources)};
export const one = defineScenario({ name: "my/mts", description: "m", setup: () => ({}), tasks: { a: () => {} } });
`,
    });
    const mts = await mmunIn(dir, "list", "./one.mts");
    expect(mts.stdout).toMatch(/^my\/mts /);
  });

  it("a scenario module with a syntax error is reported at its file and line", async () => {
    const dir = project("syntax", {
      "package.json": '{ "type": "module" }\n',
      "bad.ts": "export const a: number = 1;\nexport const b = ;\n",
      "worse.js": "export const a = 1;\n\nexport const b = ;\n",
      "imports.ts": 'import { b } from "./worse.js";\nexport const c: unknown = b;\n',
    });
    const ts = await mmunIn(dir, "check", "./bad.ts");
    expect(ts.code).toBe(2);
    expect(ts.stderr).toMatch(/bad\.ts:2:\d+: SyntaxError: .*\n {2}export const b = ;\n/);
    const js = await mmunIn(dir, "list", "./imports.ts");
    expect(js.code).toBe(2);
    expect(js.stderr).toMatch(/worse\.js:3(:\d+)?: SyntaxError: /);
  }, 60_000);

  it("the replay command check prints reproduces the failure when run as printed: built-in, .ts and .js modules", async () => {
    const dir = project("as-printed", {
      "package.json": '{ "type": "module" }\n',
      "race.js": racyModule(sources, false),
      "helper.js": helper(false),
      "one.ts": `import { defineScenario } from ${JSON.stringify(sources)};
export const one = defineScenario({
  name: "my/one", description: "a lost update", setup: () => ({ n: 0 }),
  tasks: {
    a: async (w: { n: number }, k) => { const v = w.n; await k.point(); w.n = v + 1; },
    b: async (w: { n: number }) => { w.n += 1; },
  },
  check: (w) => w.n === 2,
});
`,
    });
    for (const [args, ref] of [
      [["classic/lost-update", "--seed", "2"], "classic/lost-update"],
      [["./race.js#my/race", "--strategy", "dfs"], "./race.js#my/race"],
      // A module's only scenario is named too: the command stays right when the module gains one.
      [["./one.ts", "--strategy", "dfs"], "./one.ts#my/one"],
    ] as const) {
      const check = await mmunIn(dir, "check", ...args);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain(`replay: npx mmun replay ${ref} `);
      const again = await replayAsPrinted(check.stdout, dir);
      expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
      expect(again.code).toBe(0);
    }
  }, 60_000);

  it("a negative number is an option's value: --executions -5 and --executions=-5 give the same usage error", async () => {
    const [spaced, joined] = await Promise.all([
      mmun("check", "classic/abba", "--executions", "-5"),
      mmun("check", "classic/abba", "--executions=-5"),
    ]);
    expect(spaced.code).toBe(2);
    expect(spaced.stderr).toMatch(/^mmun check: EINVAL: .*-5/);
    expect(spaced.stderr).toBe(joined.stderr);
  });

  it("an option the chosen strategy does not take is a usage error", async () => {
    const runs = await Promise.all(
      [
        ["--preemption-bound", "2"],
        ["--strategy", "dfs", "--pct-depth", "2"],
        ["--strategy", "dfs", "--seed", "1"],
        ["--strategy", "pct", "--delay-bound", "1"],
      ].map((args) => mmun("check", "classic/abba", ...args)),
    );
    for (const r of runs) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^mmun check: EINVAL: --[a-z-]+ applies to [a-z ]+, not to (random|pct|dfs)\n/,
      );
    }
  }, 60_000);

  it("a usage error is one line and where the help is, not the whole help", async () => {
    const cases: [string[], string][] = [
      [
        ["check", "classic/abba", "--bogus"],
        'mmun check: EINVAL: unknown option --bogus\nsee "mmun check --help"\n',
      ],
      [
        ["check", "classic/abba", "--strategy"],
        'mmun check: EINVAL: --strategy needs a value\nsee "mmun check --help"\n',
      ],
      [
        ["replay", "classic/abba"],
        'mmun replay: EINVAL: replay takes a scenario and a token\nsee "mmun replay --help"\n',
      ],
      [["frobnicate"], 'mmun: EINVAL: unknown command "frobnicate"\nsee "mmun --help"\n'],
      [["--frobnicate"], 'mmun: EINVAL: unknown option --frobnicate\nsee "mmun --help"\n'],
    ];
    const runs = await Promise.all(cases.map(([args]) => mmun(...args)));
    for (const [i, r] of runs.entries()) {
      const stderr = cases[i]?.[1];
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(stderr);
      expect(r.stdout).toBe("");
    }
  }, 60_000);

  it("with --json an error is a JSON object on stdout, and the exit status stays 2", async () => {
    const [r, missing] = await Promise.all([
      mmun("check", "classic/abba", "--json", "--executions", "x"),
      mmun("replay", "no/such", "1c1.AAABAA", "--json"),
    ]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: "EINVAL", message: '--executions needs an integer, got "x"' },
    });
    expect(missing.code).toBe(2);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe("ENOENT");
  });

  it("counts are singular or plural as they should be", async () => {
    const [one, many] = await Promise.all([
      mmun("check", "classic/ordered", "--executions", "1"),
      mmun("check", "classic/ordered", "--executions", "2"),
    ]);
    expect(one.stdout).toMatch(/: 1 execution \(1 distinct schedule\) with random/);
    expect(many.stdout).toMatch(/: 2 executions \(2 distinct schedules\) with random/);
  });
});

describe("what a failure shows: its schedule, a checked token, a replay that says when it diverges", () => {
  it("check prints the schedule under the failure (last 20 steps by default, --last N, --full) and --json carries it", async () => {
    const [plain, lastTwo, full, json] = await Promise.all([
      mmun("check", "classic/order-violation", "--strategy", "pct"),
      mmun("check", "classic/order-violation", "--strategy", "pct", "--last", "2"),
      mmun("check", "classic/order-violation", "--strategy", "pct", "--full"),
      mmun("check", "classic/order-violation", "--strategy", "pct", "--json"),
    ]);
    expect(plain.stdout).toMatch(/schedule \(the last 20 steps of \d+; --full shows all\):/);
    expect(plain.stdout).toMatch(/^ {2}> +\d+ {2}\(outside any task\) FAILS \(check\)$/m);
    expect(lastTwo.stdout).toMatch(/schedule \(the last 2 steps of \d+; --full shows all\):/);
    expect(full.stdout).toMatch(/schedule \(\d+ steps\):/);
    const f = (JSON.parse(json.stdout) as { failures: { schedule: { tasks: string[]; rows: unknown[] } }[] })
      .failures[0];
    expect(f?.schedule.tasks).toEqual(["producer", "consumer"]);
    expect(f?.schedule.rows.length).toBeGreaterThan(20);
  });

  it("check --delay-bound, iterative bounding with the bound reached, and --no-lockdep/--unfair tokens that replay as printed", async () => {
    const [bounded, iterative, noLockdep, both] = await Promise.all([
      mmun("check", "classic/reorder-20", "--strategy", "dfs", "--delay-bound", "2"),
      mmun("check", "classic/same-lock", "--strategy", "dfs", "--executions", "300"),
      mmun("check", "classic/abba", "--strategy", "dfs", "--no-lockdep"),
      mmun("check", "classic/lost-update", "--no-lockdep", "--unfair", "--max-steps", "3"),
    ]);
    expect(bounded.code).toBe(1);
    expect(bounded.stdout).toMatch(/FAIL check in execution \d+/);
    expect(iterative.code).toBe(0);
    expect(iterative.stdout).toMatch(/300 executions .*schedule space not exhausted, delay bound reached \d/);
    expect(noLockdep.stdout).toMatch(/FAIL deadlock/);
    expect(noLockdep.stdout).toMatch(/token: {2}2d\d+\.\S*\+l\./);
    expect(both.stdout).toMatch(/token: {2}\S*!3\+lu\./);
    for (const out of [noLockdep, both]) {
      const again = await replayAsPrinted(out.stdout, root);
      expect(again.code, again.stdout).toBe(0);
      expect(again.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
    }
  }, 60_000);

  it("replay rejects a token with a changed character, and says so when a valid token leaves its schedule", async () => {
    const found = await mmun("check", "classic/abba", "--strategy", "dfs");
    const token = /token: {2}(\S+)/.exec(found.stdout)?.[1] as string;
    const changed = token.replace(/.(?=\.[^.]*$)/, (c) => (c === "A" ? "B" : "A"));
    const { encodeToken, decodeToken } = await import("../../src/explore/token.js");
    const d = decodeToken(token);
    const longer = encodeToken(d.kind, d.step, [[...(d.segments[0] as number[]), 0]]);
    const [bad, diverged] = await Promise.all([
      mmun("replay", "classic/abba", changed),
      mmun("replay", "classic/abba", longer),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/fails its check: a character was changed, added or lost/);
    expect(diverged.code).toBe(1);
    expect(diverged.stdout).toMatch(
      /NOT reproduced: the run left the recorded schedule the execution failed/,
    );
  });
});
