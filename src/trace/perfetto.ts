// Exports a trace as Chrome trace-event JSON, which ui.perfetto.dev and chrome://tracing open.
//
// One track (thread) per task; a slice for every lock hold (acquire to release) and every wait
// (block to wake); instants for scheduling points, signals, value changes, warnings and reports.
// Time is the kernel step counter (one step = 1 µs on the time axis), so the picture follows the
// order of operations; the logical clock is kept in each event's args.

import type { Trace, TraceEvent } from "./schema.js";

/** One Chrome trace event. */
export interface ChromeTraceEvent {
  name: string;
  ph: "X" | "i" | "M";
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  cat?: string;
  s?: "t" | "p" | "g";
  args?: Record<string, string | number>;
}

/** The JSON object format of a Chrome trace. */
export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: "ns" | "ms";
  metadata: Record<string, string | number | boolean>;
}

const PID = 1;
/** The track of events recorded outside any task (library use, setup). */
const NO_TASK_TID = 1_000_000;
/** Task ids start at 0; tid 0 is avoided because some viewers treat it specially. */
const tid = (task: number) => (task < 0 ? NO_TASK_TID : task + 1);

/** Converts a trace to Chrome/Perfetto trace-event JSON. */
export function toPerfetto(trace: Trace): ChromeTrace {
  const out: ChromeTraceEvent[] = [];
  const objName = new Map(trace.objects.map((o) => [o.id, `${o.type} ${o.name}`]));
  const name = (obj: number) => objName.get(obj) ?? (obj < 0 ? "" : `object ${obj}`);
  out.push({ name: "process_name", ph: "M", pid: PID, tid: 0, ts: 0, args: { name: "mmun kernel" } });
  for (const t of trace.tasks) {
    out.push({ name: "thread_name", ph: "M", pid: PID, tid: tid(t.id), ts: 0, args: { name: t.name } });
  }
  const lastStep = trace.events.length === 0 ? 0 : (trace.events[trace.events.length - 1] as TraceEvent).step;
  // Open holds per (task, object) and open waits per task.
  const holds = new Map<string, TraceEvent[]>();
  const waits = new Map<number, TraceEvent>();
  const slice = (from: TraceEvent, to: number, label: string, cat: string, task: number) => {
    const args: Record<string, string | number> = { time: from.time, step: from.step };
    if (from.detail !== undefined) args.detail = from.detail;
    out.push({
      name: label,
      ph: "X",
      pid: PID,
      tid: tid(task),
      ts: from.step,
      dur: Math.max(0, to - from.step),
      cat,
      args,
    });
  };
  for (const e of trace.events) {
    const key = `${e.task}:${e.obj}`;
    switch (e.kind) {
      case "acquire": {
        const list = holds.get(key) ?? [];
        list.push(e);
        holds.set(key, list);
        break;
      }
      case "release": {
        const open = holds.get(key)?.pop();
        if (open !== undefined) slice(open, e.step, `hold ${name(e.obj)}`, "lock", e.task);
        break;
      }
      case "block":
        waits.set(e.task, e);
        break;
      case "wake": {
        const open = waits.get(e.task);
        if (open !== undefined) {
          waits.delete(e.task);
          slice(open, e.step, `wait ${name(open.obj)}`, "wait", e.task);
        }
        break;
      }
      default: {
        const args: Record<string, string | number> = { time: e.time, step: e.step };
        if (e.value !== undefined) args.value = e.value;
        if (e.detail !== undefined) args.detail = e.detail;
        if (e.addr !== undefined) args.addr = `0x${e.addr.toString(16)}`;
        if (e.end !== undefined) args.end = `0x${e.end.toString(16)}`;
        const label =
          e.obj >= 0
            ? `${e.kind} ${name(e.obj)}`
            : e.detail !== undefined
              ? `${e.kind}: ${e.detail}`
              : e.kind;
        out.push({ name: label, ph: "i", s: "t", pid: PID, tid: tid(e.task), ts: e.step, cat: e.kind, args });
      }
    }
  }
  // Holds and waits still open at the end (a deadlock, an aborted run) last to the end.
  for (const [k, list] of holds) {
    const task = Number(k.slice(0, k.indexOf(":")));
    for (const open of list)
      slice(open, lastStep + 1, `hold ${name(open.obj)} (never released)`, "lock", task);
  }
  for (const [task, open] of waits)
    slice(open, lastStep + 1, `wait ${name(open.obj)} (never woken)`, "wait", task);
  if (out.some((e) => e.tid === NO_TASK_TID)) {
    out.push({
      name: "thread_name",
      ph: "M",
      pid: PID,
      tid: NO_TASK_TID,
      ts: 0,
      args: { name: "(no task)" },
    });
  }
  return {
    traceEvents: out,
    displayTimeUnit: "ns",
    metadata: { ...trace.meta, mmunTraceVersion: trace.version },
  };
}
