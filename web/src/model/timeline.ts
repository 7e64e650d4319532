// The timeline of a trace: one lane per task, slices for lock holds, waits and invalidations, and
// markers for everything a reader of a race looks for (scheduling points and preemptions, fence
// signals, readBegin / readRetry results, invalidation starts and ends, callbacks, sequence values,
// device maps, warnings and the failure). The x axis is the trace's step. Labels are made when
// something is drawn (`markerLabel`, `sliceLabel`): a long trace has tens of thousands of markers.

import type { Trace, TraceEvent, TraceObject } from "../../../src/trace/schema.js";
import { firstLine, hex, hexRange } from "./format.js";

/** One swimlane. `task` -1 is what ran outside any task (setup, the scheduler's own findings). */
export interface Lane {
  task: number;
  name: string;
}

export type SliceKind = "hold" | "wait" | "invalidate";

/** Something that lasts: a lock held, a wait, an invalidation between its start and its end. */
export interface Slice {
  lane: number;
  kind: SliceKind;
  /** First step. */
  from: number;
  /** Last step (the release, wake or end); the trace's last step + 1 when it never closed. */
  to: number;
  /** Index of the event that opened it (acquire, block, inv_start). */
  event: number;
  /** True when the trace ends before it closes (a deadlock, a failure in the middle). */
  open: boolean;
  /** Holds and waits: the row within the lane (0 = outermost), so nested holds do not overlap. */
  depth: number;
}

export type MarkerKind =
  | "acquire"
  | "block"
  | "point"
  | "preempt"
  | "signal"
  | "value"
  | "read_begin"
  | "read_retry"
  | "inv_start"
  | "inv_end"
  | "callback"
  | "pte"
  | "dev_map"
  | "dev_unmap"
  | "warn"
  | "report"
  | "end";

/** Something that happens at one step. */
export interface Marker {
  lane: number;
  step: number;
  kind: MarkerKind;
  /** Worth a reader's alarm: a retry, a warning, the failure, a task that threw. */
  alert: boolean;
  /** Index of the event in the trace. */
  event: number;
}

/** The first failure report of the trace. */
export interface FailureView {
  step: number;
  lane: number;
  task: string | null;
  /** The report kind: "stale-mapping", "lock-order", "deadlock"… */
  kind: string;
  message: string;
  event: number;
}

export interface Timeline {
  lanes: Lane[];
  /** Rows of holds and waits each lane needs (its deepest nesting + 1). */
  laneDepth: number[];
  /** In order of their first step. */
  slices: Slice[];
  /** In step order. */
  markers: Marker[];
  /** The distinct steps of the trace, ascending. */
  steps: number[];
  failure: FailureView | null;
}

const MARKED: Partial<Record<string, MarkerKind>> = {
  acquire: "acquire",
  block: "block",
  point: "point",
  signal: "signal",
  value: "value",
  read_begin: "read_begin",
  read_retry: "read_retry",
  inv_start: "inv_start",
  inv_end: "inv_end",
  callback: "callback",
  pte: "pte",
  dev_map: "dev_map",
  dev_unmap: "dev_unmap",
  warn: "warn",
  report: "report",
};

/** The index of the first of `markers` (in step order) at or after `step`; their length if none. */
export function firstMarkerFrom(markers: readonly Marker[], step: number): number {
  let lo = 0;
  let hi = markers.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((markers[mid] as Marker).step < step) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Builds the timeline of `trace` (its events in step order). */
export function buildTimeline(trace: Trace): Timeline {
  const events = trace.events;
  const outside = events.some((e) => e.task < 0 && e.kind !== "run");
  const lanes: Lane[] = [];
  const laneOf = new Map<number, number>();
  if (outside) {
    laneOf.set(-1, 0);
    lanes.push({ task: -1, name: "(outside any task)" });
  }
  for (const t of trace.tasks) {
    laneOf.set(t.id, lanes.length);
    lanes.push({ task: t.id, name: t.name });
  }
  const lane = (task: number): number => {
    let l = laneOf.get(task);
    if (l === undefined) {
      l = lanes.length;
      laneOf.set(task, l);
      lanes.push({ task, name: task < 0 ? "(outside any task)" : `task #${task}` });
    }
    return l;
  };
  const last = events.length === 0 ? 0 : (events[events.length - 1] as TraceEvent).step;
  const slices: Slice[] = [];
  const markers: Marker[] = [];
  const steps: number[] = [];
  const holds = new Map<number, Map<number, number[]>>();
  const waits = new Map<number, number>();
  const invalidations = new Map<number, number[]>();
  let failure: FailureView | null = null;
  let running = -1;
  const slice = (kind: SliceKind, at: number, to: number, open: boolean) => {
    const from = events[at] as TraceEvent;
    slices.push({ lane: lane(from.task), kind, from: from.step, to, event: at, open, depth: 0 });
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as TraceEvent;
    if (steps.length === 0 || (steps[steps.length - 1] as number) !== e.step) steps.push(e.step);
    const kind = MARKED[e.kind];
    if (kind !== undefined) {
      const alert = kind === "warn" || kind === "report" || (kind === "read_retry" && e.detail === "retry");
      markers.push({ lane: lane(e.task), step: e.step, kind, alert, event: i });
    }
    switch (e.kind) {
      case "run":
        // A switch away from a task that neither blocked nor ended: the scheduler preempted it.
        if (running !== -1 && running !== e.task) {
          markers.push({ lane: lane(running), step: e.step, kind: "preempt", alert: false, event: i });
        }
        running = e.task;
        break;
      case "acquire": {
        let byObj = holds.get(e.task);
        if (byObj === undefined) {
          byObj = new Map();
          holds.set(e.task, byObj);
        }
        const list = byObj.get(e.obj);
        if (list === undefined) byObj.set(e.obj, [i]);
        else list.push(i);
        break;
      }
      case "release": {
        const open = holds.get(e.task)?.get(e.obj)?.pop();
        if (open !== undefined) slice("hold", open, e.step, false);
        break;
      }
      case "block":
        if (e.task === running) running = -1;
        waits.set(e.task, i);
        break;
      case "wake": {
        const open = waits.get(e.task);
        if (open !== undefined) {
          waits.delete(e.task);
          slice("wait", open, e.step, false);
        }
        break;
      }
      case "inv_start": {
        const list = invalidations.get(e.task);
        if (list === undefined) invalidations.set(e.task, [i]);
        else list.push(i);
        break;
      }
      case "inv_end": {
        const list = invalidations.get(e.task);
        const at = list === undefined ? -1 : list.findIndex((j) => (events[j] as TraceEvent).obj === e.obj);
        if (list !== undefined && at >= 0)
          slice("invalidate", list.splice(at, 1)[0] as number, e.step, false);
        break;
      }
      case "report":
        if (failure === null) {
          const detail = e.detail ?? "";
          const colon = detail.indexOf(":");
          failure = {
            step: e.step,
            lane: lane(e.task),
            task: e.task < 0 ? null : (trace.tasks.find((t) => t.id === e.task)?.name ?? `#${e.task}`),
            kind: colon < 0 ? detail : detail.slice(0, colon),
            message: colon < 0 ? detail : detail.slice(colon + 1).trim(),
            event: i,
          };
        }
        break;
      case "end":
        if (e.task === running) running = -1;
        if (e.detail !== undefined)
          markers.push({ lane: lane(e.task), step: e.step, kind: "end", alert: true, event: i });
        break;
      default:
        break;
    }
  }
  // Holds, waits and invalidations still open at the end last to the end.
  for (const byObj of holds.values())
    for (const list of byObj.values()) for (const at of list) slice("hold", at, last + 1, true);
  for (const at of waits.values()) slice("wait", at, last + 1, true);
  for (const list of invalidations.values()) for (const at of list) slice("invalidate", at, last + 1, true);
  slices.sort((a, b) => a.from - b.from || b.to - a.to || a.lane - b.lane);
  // Rows: a hold or wait goes on the first row of its lane free since before it starts.
  const laneDepth = lanes.map(() => 1);
  const rowEnds = lanes.map(() => [] as number[]);
  for (const sl of slices) {
    if (sl.kind === "invalidate") continue;
    const ends = rowEnds[sl.lane] as number[];
    let d = ends.findIndex((end) => end < sl.from);
    if (d < 0) d = ends.length;
    ends[d] = sl.to;
    sl.depth = d;
    laneDepth[sl.lane] = Math.max(laneDepth[sl.lane] as number, d + 1);
  }
  return { lanes, laneDepth, slices, markers, steps, failure };
}

/** Names objects in labels. */
export class Labels {
  constructor(
    private readonly trace: Trace,
    private readonly objects: ReadonlyMap<number, TraceObject>,
  ) {}

  name(id: number): string {
    return this.objects.get(id)?.name ?? `#${id}`;
  }

  private obj(id: number): string {
    const o = this.objects.get(id);
    return o === undefined ? `object #${id}` : `${o.type} ${o.name}`;
  }

  /** What a marker says. */
  marker(m: Marker): string {
    const e = this.trace.events[m.event] as TraceEvent;
    switch (m.kind) {
      case "acquire":
        return `takes ${this.obj(e.obj)}${e.detail === undefined || e.detail === "write" ? "" : ` (${e.detail})`}`;
      case "block":
        return `waits on ${this.obj(e.obj)}${e.detail === undefined ? "" : ` to ${e.detail}`}`;
      case "point":
        return e.obj < 0 ? `point "${e.detail ?? ""}"` : `${e.detail ?? "op"} ${this.obj(e.obj)}`;
      case "preempt":
        return "preempted";
      case "signal":
        return `signals ${this.obj(e.obj)}`;
      case "value": {
        const field = e.detail ?? "value";
        const notifier = this.objects.get(e.obj)?.type === "mmu_interval_notifier";
        const short =
          field === "invalidate_seq"
            ? notifier
              ? "seq"
              : "gseq"
            : field === "active_invalidate_ranges"
              ? "active"
              : field;
        const parity =
          field === "invalidate_seq" && e.value !== undefined ? (e.value % 2 ? " (odd)" : " (even)") : "";
        return `${notifier ? `${this.name(e.obj)}: ` : ""}${short} = ${e.value}${parity}`;
      }
      case "read_begin":
        return `${this.name(e.obj)}: readBegin -> ${e.value}${e.detail === "waits" ? " (waits)" : ""}`;
      case "read_retry":
        return `${this.name(e.obj)}: readRetry(${e.value}) -> ${e.detail === "retry" ? "true: retry" : "false: ok"}`;
      case "inv_start":
        return `invalidate start ${e.detail ?? ""} ${rangeOf(e)}`;
      case "inv_end":
        return `invalidate end ${e.detail ?? ""}${e.value !== undefined && e.value < 0 ? " (-EAGAIN)" : ""}`;
      case "callback":
        return `callback ${this.name(e.obj)} ${e.detail ?? ""} cur_seq=${e.value}`;
      case "pte":
        return `CPU PTE ${hex(e.addr ?? 0)}: ${e.detail ?? ""}${e.value === undefined ? "" : ` frame ${e.value}`}`;
      case "dev_map":
        return `${this.name(e.obj)} maps ${hex(e.addr ?? 0)} -> frame ${e.value} ${e.detail ?? ""}`;
      case "dev_unmap":
        return `${this.name(e.obj)} unmaps ${rangeOf(e)}`;
      case "warn":
        return `WARN ${firstLine(e.detail ?? "")}`;
      case "report":
        return `FAILS (${(e.detail ?? "").split(":")[0]})`;
      case "end":
        return `ends, throwing ${firstLine(e.detail ?? "")}`;
    }
  }

  /** What a slice says. */
  slice(s: Slice): string {
    const e = this.trace.events[s.event] as TraceEvent;
    switch (s.kind) {
      case "hold": {
        const mode = e.detail === undefined || e.detail === "write" ? "" : ` (${e.detail})`;
        return `${this.obj(e.obj)}${mode}${s.open ? ", never released" : ""}`;
      }
      case "wait":
        return `waits on ${this.obj(e.obj)}${e.detail === undefined ? "" : ` to ${e.detail}`}${s.open ? ", never woken" : ""}`;
      case "invalidate":
        return `invalidate ${e.detail ?? ""} ${rangeOf(e)}${s.open ? ", never ended" : ""}`;
    }
  }
}

function rangeOf(e: TraceEvent): string {
  if (e.addr === undefined) return "";
  return e.end === undefined ? hex(e.addr) : hexRange(e.addr, e.end);
}
