#!/usr/bin/env node
// The mmun command line. Subcommands arrive with the layers they drive (DESIGN.md §4).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { MmunError } from "../lib/errno.js";
import { CHECK_HELP, checkCommand } from "./commands/check.js";
import { DEMO_HELP, demoCommand } from "./commands/demo.js";
import { LIST_HELP, listCommand } from "./commands/list.js";
import { REPLAY_HELP, replayCommand } from "./commands/replay.js";

const HELP = `mmun: Linux's mmu_interval_notifier and HMM, executable and checkable

usage: mmun [--help] [--version] <command> [args]

Commands:
  demo                         explore every built-in scenario, print a table, write a report
  check <scenario|path>        explore a scenario's interleavings; print failures with replay tokens
  replay <scenario> <token>    replay one failing schedule exactly; write its trace
  list                         list the built-in scenarios

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

const COMMANDS: Record<string, { run: (argv: string[]) => number | Promise<number>; help: string }> = {
  demo: { run: demoCommand, help: DEMO_HELP },
  check: { run: checkCommand, help: CHECK_HELP },
  replay: { run: replayCommand, help: REPLAY_HELP },
  list: { run: listCommand, help: LIST_HELP },
};

/** Runs the command line; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first !== undefined && !first.startsWith("-")) {
    const cmd = COMMANDS[first];
    if (cmd === undefined) {
      process.stderr.write(`mmun: unknown command "${first}"\n${HELP}`);
      return 2;
    }
    try {
      return await cmd.run(argv.slice(1));
    } catch (e) {
      const usage = e instanceof MmunError || (e instanceof TypeError && "code" in e);
      process.stderr.write(`mmun ${first}: ${(e as Error).message}\n`);
      if (usage) process.stderr.write(`\n${cmd.help}`);
      return 2;
    }
  }
  let values: { help?: boolean; version?: boolean };
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
    }).values;
  } catch (e) {
    process.stderr.write(`mmun: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.version) {
    process.stdout.write(`mmun ${version()}\n`);
    return 0;
  }
  process.stdout.write(HELP);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
