// mmun replay <scenario> <token>: re-run one schedule exactly, and write its trace.

import { writeFileSync } from "node:fs";
import { replay } from "../../explore/explore.js";
import type { ReplayResult } from "../../explore/replay.js";
import { MmunError } from "../../lib/errno.js";
import { toPerfetto } from "../../trace/perfetto.js";
import { parseCommandArgs } from "../args.js";
import { loadScenario } from "../scenarioRef.js";

export const REPLAY_HELP = `usage: mmun replay <scenario | path/to/module.{js,ts}[#name]> <token> [options]

Replays the schedule a token encodes and prints the failure it reproduces.
Exit status: 0 when the token's failure was reproduced, 1 otherwise, 2 on a usage error.

Options:
  --trace FILE     write the trace (mmun trace format, JSON)
  --perfetto FILE  write the trace as Chrome/Perfetto trace-event JSON (open in ui.perfetto.dev)
  --json           print the result as JSON (without the trace)
  -h, --help       print this help
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trace: { type: "string" },
      perfetto: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new MmunError("EINVAL", "replay takes a scenario and a token");
  const [ref, token] = positionals as [string, string];
  const loaded = await loadScenario(ref);
  const r = await replay(loaded.scenario, token, { scenarioRef: loaded.ref });
  if (values.trace !== undefined && r.trace !== undefined) {
    writeFileSync(values.trace, `${JSON.stringify(r.trace)}\n`);
  }
  if (values.perfetto !== undefined && r.trace !== undefined) {
    writeFileSync(values.perfetto, `${JSON.stringify(toPerfetto(r.trace))}\n`);
  }
  if (values.json) {
    const { trace: _t, failure, ...rest } = r;
    const f = failure === undefined ? undefined : { ...failure, trace: undefined };
    process.stdout.write(`${JSON.stringify({ ...rest, failure: f }, null, 2)}\n`);
  } else {
    printReplay(loaded.scenario.name, r);
  }
  if (values.trace !== undefined) console.error(`trace written to ${values.trace}`);
  if (values.perfetto !== undefined) console.error(`Perfetto trace written to ${values.perfetto}`);
  return r.reproduced ? 0 : 1;
}

/** What the replay did: the failure it reproduced (or not), or that the schedule ran to the end. */
function printReplay(scenario: string, r: ReplayResult): void {
  const f = r.failure;
  if (f === undefined) {
    console.log(
      `${scenario}: the schedule ran to the end without failing (expected ${r.expected.kind} at step ${r.expected.step})`,
    );
    return;
  }
  console.log(`${scenario}: ${f.kind} at step ${f.step}${f.task === null ? "" : `, task "${f.task}"`}`);
  console.log(f.message.replace(/^/gm, "  "));
  console.log(
    r.reproduced
      ? "reproduced: same failure, same step"
      : `NOT reproduced: the token expects ${r.expected.kind} at step ${r.expected.step} (did the scenario change?)`,
  );
}
