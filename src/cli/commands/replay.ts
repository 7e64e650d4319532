// mmun replay <scenario> <token>: re-run one schedule exactly, and write its trace.

import { writeFileSync } from "node:fs";
import { replay } from "../../explore/explore.js";
import type { ReplayResult } from "../../explore/replay.js";
import { MmunError } from "../../lib/errno.js";
import { toPerfetto } from "../../trace/perfetto.js";
import { formatSchedule } from "../../trace/schedule.js";
import { parseCommandArgs } from "../args.js";
import { loadScenario } from "../scenarioRef.js";
import { scheduleLength } from "../scheduleOptions.js";
import { withMeta } from "../traceMeta.js";
import { serve } from "./view.js";

export const REPLAY_HELP = `usage: mmun replay <scenario | path/to/module.{js,ts}[#name]> <token> [options]

Replays the schedule a token encodes and prints the failure it reproduces.
Exit status: 0 when the token's failure was reproduced, 1 otherwise, 2 on a usage error.

Options:
  --trace FILE     write the trace (mmun trace format, JSON)
  --perfetto FILE  write the trace as Chrome/Perfetto trace-event JSON (open in ui.perfetto.dev)
  --view           then show the trace in the browser visualizer (served on 127.0.0.1 until
                   interrupted; opened in the desktop's browser when there is one)
  --last N         print the last N steps of the schedule (default 20)
  --full           print the whole schedule
  --json           print the result as JSON (without the trace, with the schedule)
  -h, --help       print this help
`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trace: { type: "string" },
      perfetto: { type: "string" },
      view: { type: "boolean" },
      last: { type: "string" },
      full: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  const last = scheduleLength(values.last, values.full);
  if (values.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  if (positionals.length !== 2) throw new MmunError("EINVAL", "replay takes a scenario and a token");
  const [ref, token] = positionals as [string, string];
  const loaded = await loadScenario(ref);
  const r = await replay(loaded.scenario, token, { scenarioRef: loaded.ref });
  if (r.trace !== undefined) withMeta(r.trace, loaded.scenario.name, r.failure);
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
    printReplay(loaded.scenario.name, r, last);
  }
  if (values.trace !== undefined) console.error(`trace written to ${values.trace}`);
  if (values.perfetto !== undefined) console.error(`Perfetto trace written to ${values.perfetto}`);
  if (values.view && r.trace !== undefined) {
    const name = `${loaded.scenario.name.replace(/[^\w.-]+/g, "-")}.json`;
    await serve([{ name, trace: r.trace }], 0, process.stdout.isTTY === true);
  }
  return r.reproduced ? 0 : 1;
}

/** What the replay did: the failure it reproduced (or not), the schedule, or where it diverged. */
function printReplay(scenario: string, r: ReplayResult, last: number): void {
  const f = r.failure;
  if (f === undefined) {
    console.log(
      r.diverged === undefined
        ? `${scenario}: the schedule ran to the end without failing (expected ${r.expected.kind} at step ${r.expected.step})`
        : `${scenario}: stopped where the run left the recorded schedule (expected ${r.expected.kind} at step ${r.expected.step})`,
    );
  } else {
    console.log(`${scenario}: ${f.kind} at step ${f.step}${f.task === null ? "" : `, task "${f.task}"`}`);
    console.log(f.message.replace(/^/gm, "  "));
  }
  if (r.schedule !== undefined) console.log(formatSchedule(r.schedule, { last }).replace(/^/gm, "  "));
  if (r.diverged !== undefined) {
    console.log(
      `NOT reproduced: the run left the recorded schedule ${r.diverged} (the scenario changed, or it is not deterministic)`,
    );
  } else if (f !== undefined) {
    console.log(
      r.reproduced
        ? "reproduced: same schedule, same failure, same step"
        : `NOT reproduced: the token expects ${r.expected.kind} at step ${r.expected.step} (did the scenario change?)`,
    );
  }
}
