#!/usr/bin/env node
// The mmun command line. Subcommands arrive with the layers they drive (DESIGN.md §4).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const HELP = `mmun: Linux's mmu_interval_notifier and HMM, executable and checkable

usage: mmun [--help] [--version] <command> [args]

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

export function main(argv: string[]): number {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`mmun: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`mmun ${version()}\n`);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    process.stdout.write(HELP);
    return 0;
  }
  process.stderr.write(`mmun: unknown command "${positionals[0]}"\n${HELP}`);
  return 2;
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
}

process.exitCode = main(process.argv.slice(2));
