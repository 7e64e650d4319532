// mmun list: the built-in scenarios.

import { parseArgs } from "node:util";
import { builtinScenarios } from "../../scenarios/index.js";

export const LIST_HELP = `usage: mmun list [--json]

Lists the built-in scenarios with what each is expected to show.
`;

export function listCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(LIST_HELP);
    return 0;
  }
  const rows = builtinScenarios.map((s) => ({
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
