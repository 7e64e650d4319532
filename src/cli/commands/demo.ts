// mmun demo: the main job. Explores every built-in scenario (the classic bugs, the notifier's
// protocol, the dmirror device, the driver patterns and every broken driver) with every strategy,
// prints one line per scenario (what was expected, what was found, how much was explored, how long
// it took, the replay token of the counterexample), writes a report folder with each
// counterexample's trace, and exits 1 when any scenario did not behave as expected.
//
// The results are data first (DemoRun per search, DemoRow per scenario): the table, the JSON, the
// report folder and any other rendering are made from them.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runSelftests, type SelftestTotals } from "../../drivers/dmirror/selftests/suite.js";
import { explore, type StrategyName } from "../../explore/explore.js";
import type { Failure } from "../../explore/result.js";
import type { Scenario } from "../../explore/scenario.js";
import { MmunError } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import { builtinScenarios } from "../../scenarios/index.js";
import { toPerfetto } from "../../trace/perfetto.js";
import { formatSchedule } from "../../trace/schedule.js";
import { count, parseCommandArgs } from "../args.js";
import { htmlReport } from "../htmlReport.js";

/** The DFS budget: iterative delay bounding goes as far as it allows. */
const DFS_BUDGET = 20_000;

export const DEMO_HELP = `usage: mmun demo [options]

Explores every built-in scenario (the classic concurrency bugs, the notifier's protocol, the dmirror
device, the driver patterns ptlock, cmdq and fence racing the mm, and every broken driver) with the
random, PCT and DFS strategies, and prints one line per scenario: the expected outcome, the verdict,
executions and distinct schedules explored, time, the failure found and its replay token. DFS runs
the scenario's preemption bound if it has one, else iterative delay bounding (bound 0, 1, 2, ... until
every schedule was enumerated or ${DFS_BUDGET.toLocaleString("en-US")} executions ran); PCT's depth is one more than that bound.
Writes a report folder: report.md (the table, each search, each counterexample's schedule and replay
command) and traces/ (each counterexample's trace, in mmun's format and as Perfetto JSON).
Then runs the ported kernel HMM self-test (mmun selftest) and prints its totals.
Exit status: 0 when every scenario behaved as expected and no self-test failed, 1 otherwise.

Options:
  --out DIR         the report folder (default mmun-demo-report; "-" for none)
  --html FILE       also write the table as one self-contained HTML page, each failure viewable
                    in place in the visualizer (opens from disk, no server)
  --seed N          seed of the random and PCT searches (default 0)
  --executions N    budget of the random and PCT searches (default 1000)
  --filter TEXT     only the scenarios whose name contains TEXT
  --json            print the results as JSON instead of the table
  -h, --help        print this help
`;

const STRATEGIES: StrategyName[] = ["random", "pct", "dfs"];

/** One search of one scenario. */
export interface DemoRun {
  strategy: StrategyName;
  /** "pass", or the kind of the first failure. */
  outcome: string;
  executions: number;
  schedules: number;
  ms: number;
  /** DFS: every schedule (within the bound) was enumerated. */
  exhausted: boolean;
  /** Iterative DFS: the delay bound reached. */
  boundReached: number | undefined;
  /** DFS: the scenario's preemption bound; PCT: its depth. */
  bound: number | undefined;
  /** The failure, when one was found (its trace goes to the report folder). */
  failure: Failure | undefined;
}

/** One scenario: its searches and its verdict. */
export interface DemoRow {
  scenario: string;
  description: string;
  expect: string;
  /** True when the scenario behaved as expected: no failure for "pass", else the expected kind found. */
  ok: boolean;
  runs: DemoRun[];
  executions: number;
  schedules: number;
  ms: number;
  /** The counterexample shown: the first failure of the expected kind (else the first failure). */
  shown: { strategy: StrategyName; failure: Failure } | undefined;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      out: { type: "string" },
      html: { type: "string" },
      seed: { type: "string" },
      executions: { type: "string" },
      filter: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const seed = values.seed === undefined ? 0 : Number(values.seed);
  const executions = values.executions === undefined ? 1000 : Number(values.executions);
  if (!Number.isSafeInteger(seed))
    throw new MmunError("EINVAL", `--seed needs an integer, got "${values.seed}"`);
  if (!(Number.isSafeInteger(executions) && executions > 0)) {
    throw new MmunError("EINVAL", `--executions needs a positive integer, got "${values.executions}"`);
  }
  const filter = values.filter;
  const scenarios = builtinScenarios.filter((s) => filter === undefined || s.name.includes(filter));
  if (scenarios.length === 0) throw new MmunError("ENOENT", `no built-in scenario name contains "${filter}"`);
  const t0 = performance.now();
  const rows: DemoRow[] = [];
  for (const [i, scenario] of scenarios.entries()) {
    if (!values.json && process.stderr.isTTY) {
      process.stderr.write(`\r[${i + 1}/${scenarios.length}] ${scenario.name}\u001b[K`);
    }
    rows.push(await demoScenario(scenario, seed, executions));
  }
  if (!values.json && process.stderr.isTTY) process.stderr.write("\r\u001b[K");
  const secs = (performance.now() - t0) / 1000;
  const { totals: selftest } = filter === undefined ? await runSelftests() : { totals: undefined };
  const out = values.out ?? "mmun-demo-report";
  if (out !== "-") writeReport(out, rows, seed, executions, secs, selftest);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify(demoJson(rows, seed, executions, secs, selftest, out), null, 2)}\n`,
    );
  } else {
    printTable(rows, secs);
    if (selftest !== undefined) console.log(`\n${selftestLine(selftest)}`);
    if (out !== "-")
      console.log(
        `\nreport written to ${join(out, "report.md")}, counterexample traces in ${join(out, "traces")}`,
      );
  }
  if (values.html !== undefined) {
    await writeHtmlReport(values.html, rows, seed, executions, selftest);
    if (!values.json) console.log(`HTML report written to ${values.html}`);
  }
  return rows.every((r) => r.ok) && (selftest?.fail ?? 0) === 0 ? 0 : 1;
}

/** Explores `scenario` with every strategy; the verdict compares what was found with `expect`. */
export async function demoScenario(
  scenario: Scenario<unknown, Kernel>,
  seed: number,
  executions: number,
): Promise<DemoRow> {
  const expect = scenario.expect ?? "pass";
  const pb = scenario.preemptionBound;
  const runs: DemoRun[] = [];
  for (const strategy of STRATEGIES) {
    const bound = strategy === "dfs" ? pb : strategy === "pct" ? (pb ?? 2) + 1 : undefined;
    const t = performance.now();
    const r = await explore(scenario, {
      strategy,
      seed,
      ...(strategy === "random" ? { executions } : {}),
      ...(strategy === "pct" ? { executions, pctDepth: (pb ?? 2) + 1 } : {}),
      ...(strategy === "dfs"
        ? pb === undefined
          ? { executions: DFS_BUDGET }
          : { preemptionBound: pb }
        : {}),
    });
    const f = r.failures[0];
    runs.push({
      strategy,
      outcome: f === undefined ? "pass" : f.kind,
      executions: r.executions,
      schedules: r.distinctSchedules,
      ms: performance.now() - t,
      exhausted: r.stats.exhausted,
      boundReached: r.stats.boundReached,
      bound,
      failure: f,
    });
  }
  const found = runs.filter((r) => r.failure !== undefined);
  // A correct scenario passes every search; a broken one shows its expected kind, and nothing else.
  const ok =
    expect === "pass" ? found.length === 0 : found.length > 0 && found.every((r) => r.outcome === expect);
  // The counterexample shown: of the expected kind, the shortest token (the shortest schedule).
  const expected = found.filter((r) => r.outcome === expect);
  const pick = [...(expected.length > 0 ? expected : found)].sort(
    (a, b) => (a.failure?.token.length ?? 0) - (b.failure?.token.length ?? 0),
  )[0];
  return {
    scenario: scenario.name,
    description: scenario.description,
    expect,
    ok,
    runs,
    executions: runs.reduce((a, r) => a + r.executions, 0),
    schedules: runs.reduce((a, r) => a + r.schedules, 0),
    ms: runs.reduce((a, r) => a + r.ms, 0),
    shown: pick === undefined ? undefined : { strategy: pick.strategy, failure: pick.failure as Failure },
  };
}

/** Tokens longer than this are cut in the terminal table (report.md and --json have them whole). */
const TOKEN_COLUMN = 44;

/**
 * The table's cells of a row: scenario, expected, verdict, executions, schedules, time, found, token
 * (cut to `tokenWidth` characters and an ellipsis).
 */
export function demoCells(r: DemoRow, tokenWidth = Number.POSITIVE_INFINITY): string[] {
  const token = r.shown?.failure.token ?? "-";
  const found = r.runs.map((x) => x.outcome).filter((o) => o !== "pass");
  return [
    r.scenario,
    r.expect,
    r.ok ? "ok" : "UNEXPECTED",
    String(r.executions),
    String(r.schedules),
    `${(r.ms / 1000).toFixed(2)} s`,
    found.length === 0 ? "-" : [...new Set(found)].join(", "),
    token.length > tokenWidth ? `${token.slice(0, tokenWidth - 1)}…` : token,
  ];
}

export const DEMO_COLUMNS = [
  "scenario",
  "expect",
  "verdict",
  "executions",
  "schedules",
  "time",
  "failure kind",
  "replay token",
];

function printTable(rows: DemoRow[], secs: number): void {
  const lines = rows.map((r) => demoCells(r, TOKEN_COLUMN));
  const widths = DEMO_COLUMNS.map((c, i) => Math.max(c.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  console.log(fmt(DEMO_COLUMNS));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
  const bad = rows.filter((r) => !r.ok);
  console.log(
    `\n${count(rows.length, "scenario")}, ${bad.length === 0 ? "all as expected" : `${bad.length} NOT as expected: ${bad.map((r) => r.scenario).join(", ")}`}, ` +
      `${count(
        rows.reduce((a, r) => a + r.executions, 0),
        "execution",
      )} in ${secs.toFixed(1)} s (random, PCT and DFS each; executions and schedules are their sums; ` +
      `replay: npx mmun replay <scenario> <token>; a token cut with … is whole in the report)`,
  );
}

/** The self-test's totals in a line. */
function selftestLine(t: SelftestTotals): string {
  return `kernel HMM self-test (mmun selftest): pass:${t.pass} fail:${t.fail} skip:${t.skip}`;
}

/** What a search covered, in words: "pass (all, pb 2)", "stale-mapping @18". */
function runText(x: DemoRun): string {
  if (x.failure !== undefined) return `${x.outcome} @${x.failure.execution}`;
  if (x.strategy !== "dfs") return "pass";
  if (x.exhausted) return x.bound === undefined ? "pass (all schedules)" : `pass (all, pb ${x.bound})`;
  return x.boundReached === undefined ? "pass (budget)" : `pass (delays < ${x.boundReached})`;
}

/** The file name (without extension) of a row's counterexample trace. */
function traceName(r: DemoRow): string {
  return `${r.scenario.replace(/[^A-Za-z0-9_.-]+/g, "-")}.${r.shown?.strategy}`;
}

/** The JSON of `--json`: every row and search, failures without their traces (they are in the folder). */
function demoJson(
  rows: DemoRow[],
  seed: number,
  executions: number,
  secs: number,
  selftest: SelftestTotals | undefined,
  out: string,
) {
  return {
    seed,
    executions,
    seconds: Number(secs.toFixed(2)),
    ok: rows.every((r) => r.ok),
    rows: rows.map((r) => ({
      scenario: r.scenario,
      expect: r.expect,
      ok: r.ok,
      executions: r.executions,
      schedules: r.schedules,
      ms: Math.round(r.ms),
      failureKind: r.shown?.failure.kind,
      token: r.shown?.failure.token,
      replay: r.shown?.failure.replay.cli,
      trace:
        r.shown === undefined || out === "-" ? undefined : join(out, "traces", `${traceName(r)}.trace.json`),
      runs: r.runs.map(({ failure, ...x }) => ({
        ...x,
        ms: Math.round(x.ms),
        failure:
          failure === undefined
            ? undefined
            : {
                kind: failure.kind,
                message: failure.message,
                token: failure.token,
                execution: failure.execution,
                step: failure.step,
                task: failure.task,
                replay: failure.replay.cli,
              },
      })),
    })),
    selftest,
  };
}

/** report.md and traces/ under `dir`. */
function writeReport(
  dir: string,
  rows: DemoRow[],
  seed: number,
  executions: number,
  secs: number,
  selftest: SelftestTotals | undefined,
): void {
  const traces = join(dir, "traces");
  mkdirSync(traces, { recursive: true });
  const lines = [
    "# mmun demo report",
    "",
    `Every built-in scenario explored with random and PCT (seed ${seed}, ${count(executions, "execution")} each; ` +
      `PCT at depth one more than the scenario's preemption bound) and DFS (within the scenario's preemption ` +
      `bound where it has one, else iterative delay bounding up to ${count(DFS_BUDGET, "execution")}), in ${secs.toFixed(1)} s.`,
    "",
    `| ${DEMO_COLUMNS.join(" | ")} | random | pct | dfs |`,
    `|${DEMO_COLUMNS.map(() => " --- |").join("")} --- | --- | --- |`,
    ...rows.map((r) => {
      const c = demoCells(r).map((x, i) => (i === 7 && x !== "-" ? `\`${x}\`` : x));
      if (!r.ok) c[2] = "**UNEXPECTED**";
      return `| ${c.join(" | ")} | ${r.runs.map(runText).join(" | ")} |`;
    }),
    "",
    ...(selftest === undefined
      ? []
      : [`${selftestLine(selftest)}; \`mmun selftest\` prints each case, with the reason of each skip.`, ""]),
    "## Counterexamples",
    "",
    "For each scenario that failed, the first failure of the expected kind: what went wrong, the command",
    "that replays it, the schedule (who did what at each step) and its trace (`traces/`, in mmun's format",
    "for `mmun view`, and as Perfetto/Chrome trace-event JSON).",
    "",
  ];
  for (const r of rows) {
    const s = r.shown;
    if (s === undefined) continue;
    const f = s.failure;
    const name = traceName(r);
    writeFileSync(join(traces, `${name}.trace.json`), `${JSON.stringify(f.trace)}\n`);
    writeFileSync(join(traces, `${name}.perfetto.json`), `${JSON.stringify(toPerfetto(f.trace))}\n`);
    lines.push(
      `### ${r.scenario}: ${f.kind}${r.ok ? "" : " (UNEXPECTED)"}`,
      "",
      r.description,
      "",
      `Found by ${s.strategy} at execution ${f.execution}, step ${f.step}${f.task === null ? "" : `, in task "${f.task}"`}:`,
      "",
      "```",
      f.message,
      "```",
      "",
      `Replay: \`${f.replay.cli ?? f.replay.api}\``,
      "",
      `Trace: [traces/${name}.trace.json](traces/${name}.trace.json), ` +
        `[traces/${name}.perfetto.json](traces/${name}.perfetto.json)`,
      "",
      "```",
      formatSchedule(f.schedule),
      "```",
      "",
    );
  }
  writeFileSync(join(dir, "report.md"), `${lines.join("\n")}\n`);
}

/** `--html FILE`: the table as the visualizer's page, every failure's trace inside (htmlReport.ts). */
async function writeHtmlReport(
  file: string,
  rows: DemoRow[],
  seed: number,
  executions: number,
  selftest: SelftestTotals | undefined,
): Promise<void> {
  const html = await htmlReport(
    "mmun demo",
    `Every built-in scenario explored with random and PCT (seed ${seed}, ${count(executions, "execution")}) and ` +
      `DFS (within the scenario's preemption bound where it has one, else iterative delay bounding up to ${count(DFS_BUDGET, "execution")}).`,
    STRATEGIES,
    rows.map((r) => ({
      scenario: r.scenario,
      description: r.description,
      expect: r.expect,
      ok: r.ok,
      cells: r.runs.map((x) => ({
        strategy: x.strategy,
        text: `${runText(x)} /${x.executions}`,
        failure: x.failure,
      })),
    })),
    selftest === undefined ? [] : [selftestLine(selftest)],
  );
  writeFileSync(file, html);
}
