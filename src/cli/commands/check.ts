// mmun check <scenario|path>: explore a scenario's interleavings and report failures with tokens.

import { type ExploreOptions, explore, type StrategyName } from "../../explore/explore.js";
import type { ExploreResult, Failure } from "../../explore/result.js";
import { MmunError } from "../../lib/errno.js";
import { formatSchedule } from "../../trace/schedule.js";
import { count, parseCommandArgs } from "../args.js";
import { progressLine } from "../progress.js";
import { loadScenario } from "../scenarioRef.js";
import { scheduleLength } from "../scheduleOptions.js";

export const CHECK_HELP = `usage: mmun check <scenario | path/to/module.{js,ts}[#name]> [options]

Explores the scenario's interleavings and prints each failure with a token that replays it.
A module is a .js, .mjs, .ts or .mts file; #name picks one of several scenarios.
Exit status: 0 when no failure was found, 1 when one was, 2 on a usage error.

Options:
  --strategy random|pct|dfs  search strategy (default random)
  --seed N                   random, pct: the seed (default 0)
  --executions N             execution budget (default 1000; dfs 100000); dfs given a budget and
                             no bound runs iterative delay bounding (bound 0, 1, 2, ...)
  --max-steps N              scheduling points per execution (default 10000)
  --preemption-bound N       dfs: at most N preemptions per execution
  --delay-bound N            dfs: at most N delays from a round-robin schedule per execution
  --pct-depth D              pct: bug depth to target (default 3)
  --no-lockdep               do not check lock order (deadlocks are still found when they happen)
  --unfair                   no fair scheduling of spinning tasks (cpuRelax, condResched)
  --workers N                worker threads (default 1)
  --shard i/n                explore only shard i of n (spread a search over machines)
  --all                      collect every distinct failure instead of stopping at the first
  --last N                   print the last N steps of each failure's schedule (default 20)
  --full                     print the whole schedule of each failure
  --json                     print the result as JSON (without traces, with schedules)
  -h, --help                 print this help
`;

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new MmunError("EINVAL", `--${name} needs an integer, got "${v}"`);
  return n;
}

/** The options only some strategies take, and which. */
const STRATEGY_OPTIONS: Record<string, readonly StrategyName[]> = {
  seed: ["random", "pct"],
  "preemption-bound": ["dfs"],
  "delay-bound": ["dfs"],
  "pct-depth": ["pct"],
};
const STRATEGIES: readonly string[] = ["random", "pct", "dfs"];

/** Rejects an option the strategy does not take (an unknown strategy is explore's to reject). */
function checkStrategyOptions(strategy: string, given: Record<string, unknown>): void {
  if (!STRATEGIES.includes(strategy)) return;
  for (const [name, takers] of Object.entries(STRATEGY_OPTIONS)) {
    if (given[name] !== undefined && !(takers as readonly string[]).includes(strategy)) {
      throw new MmunError("EINVAL", `--${name} applies to ${takers.join(" and ")}, not to ${strategy}`);
    }
  }
}

export async function checkCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: {
      strategy: { type: "string" },
      seed: { type: "string" },
      executions: { type: "string" },
      "max-steps": { type: "string" },
      "preemption-bound": { type: "string" },
      "delay-bound": { type: "string" },
      "pct-depth": { type: "string" },
      "no-lockdep": { type: "boolean" },
      unfair: { type: "boolean" },
      workers: { type: "string" },
      shard: { type: "string" },
      all: { type: "boolean" },
      last: { type: "string" },
      full: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const last = scheduleLength(values.last, values.full);
  if (values.help) {
    process.stdout.write(CHECK_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new MmunError("EINVAL", "check takes exactly one scenario");
  checkStrategyOptions(values.strategy ?? "random", values);
  const { scenario, ref } = await loadScenario(positionals[0] as string);
  const options: ExploreOptions = { scenarioRef: ref };
  if (values.strategy !== undefined) options.strategy = values.strategy as StrategyName;
  const set = <K extends keyof ExploreOptions>(k: K, v: ExploreOptions[K] | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  set("seed", int("seed", values.seed));
  set("executions", int("executions", values.executions));
  set("maxSteps", int("max-steps", values["max-steps"]));
  set("preemptionBound", int("preemption-bound", values["preemption-bound"]));
  set("delayBound", int("delay-bound", values["delay-bound"]));
  set("pctDepth", int("pct-depth", values["pct-depth"]));
  set("workers", int("workers", values.workers));
  set("shard", values.shard);
  if (values.all) options.failures = "all";
  if (values["no-lockdep"]) options.lockdep = false;
  if (values.unfair) options.fair = false;
  const budget = options.executions ?? (options.strategy === "dfs" ? 100_000 : 1000);
  const progress = progressLine(scenario.name, budget, !values.json);
  options.onProgress = progress.onProgress;
  const result = await explore(scenario, options);
  progress.done();
  if (values.json) {
    process.stdout.write(`${JSON.stringify(withoutTraces(result), null, 2)}\n`);
  } else {
    printResult(result, scenario.expect, progress.elapsed(), last);
  }
  return result.failures.length > 0 ? 1 : 0;
}

/** The result as JSON-friendly data, traces left out (replay writes them). */
export function withoutTraces(result: ExploreResult) {
  return { ...result, failures: result.failures.map(({ trace: _trace, ...f }) => f) };
}

function printResult(result: ExploreResult, expect: string | undefined, secs: number, last: number): void {
  const s = result.stats;
  const rate = secs > 0 ? Math.round(result.executions / secs) : result.executions;
  const space =
    s.strategy === "dfs"
      ? (s.exhausted ? ", schedule space exhausted" : ", schedule space not exhausted") +
        (s.boundReached === undefined ? "" : `, delay bound reached ${s.boundReached}`)
      : "";
  console.log(
    `${result.scenario}: ${count(result.executions, "execution")} ` +
      `(${count(result.distinctSchedules, "distinct schedule")}${space}) ` +
      `with ${s.strategy}${s.strategy !== "dfs" ? ` seed ${s.seed}` : ""}, ${count(rate, "execution")}/s`,
  );
  if (result.failures.length === 0) {
    console.log(
      `no failure found${expect !== undefined && expect !== "pass" ? ` (this scenario is expected to fail with ${expect})` : ""}`,
    );
    return;
  }
  for (const f of result.failures) printFailure(f, last);
  if (expect !== undefined) {
    const got = result.failures[0]?.kind;
    console.log(
      expect === "pass"
        ? "\nthis scenario is expected to pass"
        : `\nexpected: ${expect}${got === expect ? " (as found)" : ` (found ${got})`}`,
    );
  }
}

/** One failure: where it happened, what went wrong, the schedule that led there, and how to replay it. */
function printFailure(f: Failure, last: number): void {
  console.log(
    `\nFAIL ${f.kind} in execution ${f.execution}, step ${f.step}${f.task === null ? "" : `, task "${f.task}"`}`,
  );
  console.log(f.message.replace(/^/gm, "  "));
  console.log(formatSchedule(f.schedule, { last }).replace(/^/gm, "  "));
  console.log(`  token:  ${f.token}`);
  if (f.replay.cli !== undefined) console.log(`  replay: ${f.replay.cli}`);
  console.log(`          ${f.replay.api}`);
}
