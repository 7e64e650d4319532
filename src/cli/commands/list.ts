// mmun list [path]: the built-in scenarios, or those a module exports.

import type { Scenario } from "../../explore/scenario.js";
import { MmunError } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import { builtinScenarios } from "../../scenarios/index.js";
import { parseCommandArgs } from "../args.js";
import { loadScenarios } from "../scenarioRef.js";

export const LIST_HELP = `usage: mmun list [path/to/module.{js,ts}] [--json]

Lists the built-in scenarios, or the scenarios a module exports (to check one: mmun check
path#name), with what each is expected to show.

Options:
  --json      print the list as JSON
  -h, --help  print this help
`;

export async function listCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(LIST_HELP);
    return 0;
  }
  if (positionals.length > 1) throw new MmunError("EINVAL", "list takes at most one module");
  const path = positionals[0];
  const scenarios: readonly Scenario<unknown, Kernel>[] =
    path === undefined ? builtinScenarios : await loadScenarios(path);
  const rows = scenarios.map((s) => ({
    name: s.name,
    expect: s.expect ?? "pass",
    tasks: s.taskNames,
    description: s.description,
  }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    console.log(`${r.name.padEnd(width)}  ${r.expect.padEnd(15)}  ${r.description}`);
  }
  return 0;
}
