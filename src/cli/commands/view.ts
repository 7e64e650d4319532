// mmun view <trace.json>...: serve the visualizer on 127.0.0.1 and print its address.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { MmunError } from "../../lib/errno.js";
import { readTrace } from "../../trace/read.js";
import { parseCommandArgs } from "../args.js";
import { interrupted, type NamedTrace, openBrowser, serveView } from "../viewServer.js";

export const VIEW_HELP = `usage: mmun view <trace.json>... [options]

Serves the visualizer on 127.0.0.1 and prints its address: the timeline of every task, the
notifier's state and the address space, on one step cursor (docs/visualizer.md). A trace is what
"mmun replay <scenario> <token> --trace FILE" writes. Stays up until interrupted (Ctrl+C).

Options:
  --port N      the port (default: any free one)
  --open        also open the page in the desktop's browser
  -h, --help    print this help
`;

export async function viewCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      open: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(VIEW_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new MmunError("EINVAL", "view takes one or more trace files");
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!(Number.isSafeInteger(port) && port >= 0 && port <= 65535)) {
    throw new MmunError("EINVAL", `--port needs a port number, got "${values.port}"`);
  }
  const traces: NamedTrace[] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new MmunError("ENOENT", `cannot read ${file}: ${(e as Error).message}`);
    }
    let trace: NamedTrace["trace"];
    try {
      trace = readTrace(text);
    } catch (e) {
      throw new MmunError("EINVAL", `${file}: ${(e as Error).message.replace(/^EINVAL: /, "")}`);
    }
    let name = basename(file);
    for (let i = 2; traces.some((t) => t.name === name); i++) name = `${i}-${basename(file)}`;
    traces.push({ name, trace });
  }
  await serve(traces, port, values.open === true);
  return 0;
}

/** Serves `traces` until interrupted; prints the address (and opens it when asked). */
export async function serve(traces: NamedTrace[], port: number, open: boolean): Promise<void> {
  const v = await serveView(traces, "127.0.0.1", port);
  console.log(`mmun view: ${v.url}`);
  console.log("(serving until interrupted: Ctrl+C)");
  if (open) openBrowser(v.url);
  await interrupted();
  await v.close();
}
