// Reads a trace written by any build: checks its version and shape, so a reader (the visualizer,
// `mmun view`) fails on a file that is not a trace, or of a version it does not know, with a
// message instead of drawing nonsense.

import { MmunError } from "../lib/errno.js";
import { TRACE_VERSIONS, type Trace, type TraceEventKind, type TraceVersion } from "./schema.js";

/** The event kinds of each version. */
const KINDS_V1: readonly TraceEventKind[] = [
  "spawn",
  "end",
  "run",
  "block",
  "wake",
  "acquire",
  "release",
  "signal",
  "point",
  "value",
  "warn",
  "report",
  "note",
];
const KINDS_V2: readonly TraceEventKind[] = [
  ...KINDS_V1,
  "vmas",
  "pte",
  "dev_map",
  "dev_unmap",
  "inv_start",
  "inv_end",
  "callback",
  "read_begin",
  "read_retry",
  "interval",
];
const KINDS: Record<TraceVersion, ReadonlySet<string>> = { 1: new Set(KINDS_V1), 2: new Set(KINDS_V2) };

/**
 * The trace `json` holds (a parsed object, or JSON text), checked: a known version, tasks, objects
 * and events of the right shape, every event of a kind its version has. Throws `MmunError`
 * ("EINVAL") naming what is wrong. The trace is returned as it is, not copied.
 */
export function readTrace(json: unknown): Trace {
  let t = json;
  if (typeof t === "string") {
    try {
      t = JSON.parse(t);
    } catch (e) {
      throw new MmunError("EINVAL", `not a trace: not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (t === null || typeof t !== "object" || Array.isArray(t)) {
    throw new MmunError("EINVAL", "not a trace: not a JSON object");
  }
  const o = t as Record<string, unknown>;
  if ("traceEvents" in o) {
    throw new MmunError(
      "EINVAL",
      "not an mmun trace but a Perfetto one: write it with --trace, not --perfetto",
    );
  }
  const version = o.version;
  if (!TRACE_VERSIONS.includes(version as TraceVersion)) {
    throw new MmunError(
      "EINVAL",
      `trace version ${JSON.stringify(version)} is not one this build reads (${TRACE_VERSIONS.join(", ")}): ` +
        "update mmun to read it",
    );
  }
  for (const field of ["tasks", "objects", "events"]) {
    if (!Array.isArray(o[field])) throw new MmunError("EINVAL", `not a trace: "${field}" is not an array`);
  }
  if (o.meta === undefined) o.meta = {};
  const kinds = KINDS[version as TraceVersion];
  const events = o.events as unknown[];
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Record<string, unknown> | null;
    if (
      e === null ||
      typeof e !== "object" ||
      typeof e.step !== "number" ||
      typeof e.task !== "number" ||
      typeof e.obj !== "number" ||
      !kinds.has(e.kind as string)
    ) {
      throw new MmunError(
        "EINVAL",
        `trace event ${i} is not a version-${version} event: ${JSON.stringify(e).slice(0, 200)}`,
      );
    }
  }
  for (const field of ["tasks", "objects"]) {
    for (const x of o[field] as unknown[]) {
      const r = x as Record<string, unknown> | null;
      if (r === null || typeof r !== "object" || typeof r.id !== "number" || typeof r.name !== "string") {
        throw new MmunError("EINVAL", `not a trace: an entry of "${field}" has no id and name`);
      }
    }
  }
  return o as unknown as Trace;
}
