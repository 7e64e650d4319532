#!/usr/bin/env node
// The mmun command line. Subcommands arrive with the layers they drive (DESIGN.md §4).

import { readFileSync } from "node:fs";
import { MmunError } from "../lib/errno.js";
import { parseCommandArgs, wantsJson } from "./args.js";
import { checkCommand } from "./commands/check.js";
import { demoCommand } from "./commands/demo.js";
import { listCommand } from "./commands/list.js";
import { replayCommand } from "./commands/replay.js";
import { selftestCommand } from "./commands/selftest.js";
import { viewCommand } from "./commands/view.js";

const HELP = `mmun: Linux's mmu_interval_notifier and HMM, executable and checkable

usage: mmun [--help] [--version] <command> [args]

Commands:
  demo                         explore every built-in scenario, print a table, write a report
  check <scenario|path>        explore a scenario's interleavings; print failures with replay tokens
  replay <scenario> <token>    replay one failing schedule exactly; write its trace
  list [path]                  list the built-in scenarios, or those of a module
  selftest                     run the ported kernel HMM self-test (hmm-tests.c); print TAP
  view <trace.json>...         show traces in the browser visualizer (serves 127.0.0.1)

A scenario module is a .js, .mjs, .ts or .mts file (TypeScript needs no flag and no build step).

Run "mmun <command> --help" for a command's options.

Options:
  -h, --help      print this help
  -v, --version   print the version

Benchmarks run from a checkout: npm run bench -- <suite> (see README.md).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  demo: demoCommand,
  check: checkCommand,
  replay: replayCommand,
  list: listCommand,
  selftest: selftestCommand,
  view: viewCommand,
};

/** Runs the command line; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first !== undefined && !first.startsWith("-")) {
    const run = COMMANDS[first];
    if (run === undefined) {
      return failed("mmun", new MmunError("EINVAL", `unknown command "${first}"`), wantsJson(argv));
    }
    try {
      return await run(argv.slice(1));
    } catch (e) {
      return failed(`mmun ${first}`, e, wantsJson(argv.slice(1)));
    }
  }
  let values: { help?: boolean | undefined; version?: boolean | undefined };
  try {
    values = parseCommandArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
    }).values;
  } catch (e) {
    return failed("mmun", e, false);
  }
  if (values.version) {
    process.stdout.write(`mmun ${version()}\n`);
    return 0;
  }
  process.stdout.write(HELP);
  return 0;
}

/**
 * Reports an error that stopped `command` and returns exit status 2: one line on stderr (and, for
 * a usage error, where the help is), or with `--json` a JSON object on stdout,
 * `{"error":{"code":"EINVAL","message":"..."}}`.
 */
function failed(command: string, e: unknown, json: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const usage = err instanceof MmunError;
  if (json) {
    const own = (err as { code?: unknown }).code;
    const code = typeof own === "string" ? own : err.name;
    const message = usage ? err.message.slice(`${err.code}: `.length) : err.message;
    process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    return 2;
  }
  // A syntax error names its file and line; anything else unexpected keeps its stack.
  const text = usage || err instanceof SyntaxError ? err.message : (err.stack ?? err.message);
  process.stderr.write(`${command}: ${text}\n`);
  if (usage) process.stderr.write(`see "${command} --help"\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
