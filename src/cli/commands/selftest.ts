// mmun selftest: the ported kernel HMM self-test (tools/testing/selftests/mm/hmm-tests.c) and the
// conformance cases of kernel-tests.md §4, outside vitest, as kselftest-style TAP.

import {
  runSelftests,
  type SelftestResult,
  selftestInstances,
} from "../../drivers/dmirror/selftests/suite.js";
import { MmunError } from "../../lib/errno.js";
import { parseCommandArgs } from "../args.js";

export const SELFTEST_HELP = `usage: mmun selftest [options]

Runs the kernel's HMM self-test (hmm-tests.c, ported case by case on the dmirror device: fixtures
hmm and hmm2, device-private and device-coherent variants) and the conformance cases A-G, each on a
fresh simulated machine, and prints TAP: "ok N name", "ok N name # SKIP reason" for a case that
needs what is not simulated yet, "not ok N name" with the reason, then a totals line.
Exit status: 0 when no case failed, 1 otherwise.

Options:
  --filter TEXT   run only the cases whose name contains TEXT
  --seed N        seed of the scheduler's choices (threads interleave at random; default 1)
  --json          print the results as JSON instead of TAP
  -h, --help      print this help
`;

export async function selftestCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    options: {
      filter: { type: "string" },
      seed: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(SELFTEST_HELP);
    return 0;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    throw new MmunError("EINVAL", `--seed needs an integer, got "${values.seed}"`);
  }
  const filter = values.filter;
  const planned = selftestInstances().filter((i) => filter === undefined || i.id.includes(filter)).length;
  if (planned === 0) throw new MmunError("EINVAL", `no case matches --filter "${filter}"`);
  const json = values.json === true;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  if (!json) {
    out("TAP version 13");
    out(`1..${planned}`);
  }
  const { results, totals } = await runSelftests({
    ...(seed === undefined ? {} : { seed }),
    ...(filter === undefined ? {} : { filter }),
    ...(json ? {} : { onResult: (r: SelftestResult) => out(tapLines(r)) }),
  });
  if (json) {
    const tests = results.map(({ n, instance, outcome }) => ({
      n,
      name: instance.id,
      status: outcome.status,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      diagnostics: outcome.diagnostics,
    }));
    out(JSON.stringify({ tests, totals }, null, 2));
  } else {
    out(`# totals: pass:${totals.pass} fail:${totals.fail} skip:${totals.skip}`);
  }
  return totals.fail === 0 ? 0 : 1;
}

/** One result as TAP: its diagnostics as `#` lines, then the `ok` / `not ok` line. */
function tapLines({ n, instance, outcome }: SelftestResult): string {
  const lines = outcome.diagnostics.map((d) => `# ${d}`);
  if (outcome.status === "pass") lines.push(`ok ${n} ${instance.id}`);
  else if (outcome.status === "skip") lines.push(`ok ${n} ${instance.id} # SKIP ${outcome.reason ?? ""}`);
  else {
    for (const l of (outcome.reason ?? "failed").split("\n")) lines.push(`# ${l}`);
    lines.push(`not ok ${n} ${instance.id}`);
  }
  return lines.join("\n");
}
