// mmun demo: the main job. Explores every built-in scenario with every strategy, prints a table
// of what was found against what each scenario is expected to show, and writes a report.

import { writeFileSync } from "node:fs";
import { runSelftests, type SelftestTotals } from "../../drivers/dmirror/selftests/suite.js";
import { explore, type StrategyName } from "../../explore/explore.js";
import type { ExploreResult } from "../../explore/result.js";
import { MmunError } from "../../lib/errno.js";
import { builtinScenarios } from "../../scenarios/index.js";
import { count, parseCommandArgs } from "../args.js";

/** The DFS budget: iterative delay bounding goes as far as it allows. */
const DFS_BUDGET = 20_000;

export const DEMO_HELP = `usage: mmun demo [options]

Explores every built-in scenario (correct patterns and known-bad variants) with the random, PCT and
DFS strategies, prints a table of what each found against what it is expected to show, and writes
a Markdown report with every failure's replay command. DFS runs the scenario's preemption bound if
it has one, else iterative delay bounding (bound 0, 1, 2, ... until every schedule was enumerated
or ${DFS_BUDGET.toLocaleString("en-US")} executions ran).
Then runs the ported kernel HMM self-test (mmun selftest) and prints its totals.
Exit status: 0 when every scenario behaved as expected and no self-test failed, 1 otherwise.

Options:
  --out FILE        where to write the report (default mmun-demo-report.md; "-" for none)
  --seed N          seed of the random and PCT searches (default 0)
  --executions N    budget of the random and PCT searches (default 1000)
  --json            print the results as JSON instead of the table
  -h, --help        print this help
`;

const STRATEGIES: StrategyName[] = ["random", "pct", "dfs"];

interface Row {
  scenario: string;
  expect: string;
  strategy: StrategyName;
  outcome: string;
  executions: number;
  exhausted: boolean;
  boundReached: number | undefined;
  preemptionBound: number | undefined;
  token: string | undefined;
  replay: string | undefined;
  message: string | undefined;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      out: { type: "string" },
      seed: { type: "string" },
      executions: { type: "string" },
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
  const rows: Row[] = [];
  const verdicts: { scenario: string; expect: string; ok: boolean; found: string }[] = [];
  const t0 = performance.now();
  for (const scenario of builtinScenarios) {
    const expect = scenario.expect ?? "pass";
    const found = new Set<string>();
    for (const strategy of STRATEGIES) {
      const r: ExploreResult = await explore(scenario, {
        strategy,
        seed,
        ...(strategy !== "dfs"
          ? { executions }
          : scenario.preemptionBound === undefined
            ? { executions: DFS_BUDGET }
            : { preemptionBound: scenario.preemptionBound }),
      });
      const f = r.failures[0];
      const outcome = f === undefined ? "pass" : f.kind;
      found.add(outcome);
      rows.push({
        scenario: scenario.name,
        expect,
        strategy,
        outcome: f === undefined ? "pass" : `${f.kind} @${f.execution}`,
        executions: r.executions,
        exhausted: r.stats.exhausted,
        boundReached: r.stats.boundReached,
        preemptionBound: strategy === "dfs" ? scenario.preemptionBound : undefined,
        token: f?.token,
        replay: f?.replay.cli,
        message: f?.message,
      });
    }
    const ok = expect === "pass" ? found.size === 1 && found.has("pass") : found.has(expect);
    verdicts.push({ scenario: scenario.name, expect, ok, found: [...found].join(", ") });
  }
  const secs = (performance.now() - t0) / 1000;
  const { totals: selftest } = await runSelftests();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ rows, verdicts, selftest }, null, 2)}\n`);
  } else {
    printTable(rows, verdicts, secs);
    console.log(`\n${selftestLine(selftest)}`);
  }
  const out = values.out ?? "mmun-demo-report.md";
  if (out !== "-") {
    writeFileSync(out, report(rows, verdicts, seed, executions, selftest));
    if (!values.json) console.log(`\nreport written to ${out}`);
  }
  return verdicts.every((v) => v.ok) && selftest.fail === 0 ? 0 : 1;
}

function printTable(rows: Row[], verdicts: { scenario: string; ok: boolean }[], secs: number): void {
  const cols = ["scenario", "expect", "random", "pct", "dfs", "verdict"];
  const lines: string[][] = [];
  for (const v of verdicts) {
    const mine = rows.filter((r) => r.scenario === v.scenario);
    const cell = (s: StrategyName) => {
      const r = mine.find((x) => x.strategy === s);
      if (r === undefined) return "-";
      const bound = r.preemptionBound === undefined ? "" : `, pb ${r.preemptionBound}`;
      const space =
        s === "dfs" && r.outcome === "pass"
          ? r.exhausted
            ? ` (all${bound})`
            : r.boundReached === undefined
              ? ` (budget${bound})`
              : ` (delays < ${r.boundReached})`
          : "";
      return `${r.outcome}${space} /${r.executions}`;
    };
    lines.push([
      v.scenario,
      mine[0]?.expect ?? "",
      cell("random"),
      cell("pct"),
      cell("dfs"),
      v.ok ? "ok" : "UNEXPECTED",
    ]);
  }
  const widths = cols.map((c, i) => Math.max(c.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(fmt(cols));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
  const bad = verdicts.filter((v) => !v.ok).length;
  console.log(
    `\n${count(verdicts.length, "scenario")}, ${bad === 0 ? "all as expected" : `${bad} NOT as expected`} ` +
      `(cells: outcome @execution /executions run; dfs "(all)" = every schedule enumerated, ` +
      `"(delays < b)" = every schedule with fewer than b delays, "pb N" = every schedule with at most N preemptions), ${secs.toFixed(1)} s`,
  );
}

/** The self-test's totals in a line. */
function selftestLine(t: SelftestTotals): string {
  return `kernel HMM self-test (mmun selftest): pass:${t.pass} fail:${t.fail} skip:${t.skip}`;
}

function report(
  rows: Row[],
  verdicts: { scenario: string; expect: string; ok: boolean; found: string }[],
  seed: number,
  executions: number,
  selftest: SelftestTotals,
): string {
  const lines = [
    "# mmun demo report",
    "",
    `Every built-in scenario explored with random and PCT (seed ${seed}, ${count(executions, "execution")}) and ` +
      `DFS (within the scenario's preemption bound where it has one, else iterative delay bounding up to ${count(DFS_BUDGET, "execution")}).`,
    "",
    "| scenario | expected | found | verdict |",
    "| --- | --- | --- | --- |",
    ...verdicts.map(
      (v) => `| ${v.scenario} | ${v.expect} | ${v.found} | ${v.ok ? "ok" : "**unexpected**"} |`,
    ),
    "",
    `${selftestLine(selftest)}; \`mmun selftest\` prints each case, with the reason of each skip.`,
    "",
    "## Failures",
    "",
  ];
  for (const r of rows) {
    if (r.token === undefined) continue;
    lines.push(`### ${r.scenario} (${r.strategy}): ${r.outcome}`, "", "```", r.message ?? "", "```", "");
    lines.push(`Replay: \`${r.replay}\``, "");
  }
  return `${lines.join("\n")}\n`;
}
