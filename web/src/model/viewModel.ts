// Trace -> what the page shows: the timeline, the schedule's rows, the failure and its lock cycle,
// the story (the moments that matter, in order) and, at any step, the state of every address space
// with its notifier, its areas, its PTEs and the devices mirroring it, stale entries marked.

import { type Schedule, type ScheduleRow, scheduleOf } from "../../../src/trace/schedule.js";
import type { Trace, TraceArea, TraceEvent, TraceObject } from "../../../src/trace/schema.js";
import { type CyclePlaces, placeLockCycle } from "./cyclePlaces.js";
import { type LockCycle, parseLockCycle } from "./lockCycle.js";
import {
  type ActiveInvalidation,
  type IntervalRaw,
  type PteEntry,
  type RawState,
  type SeqUse,
  StateReplayer,
} from "./state.js";
import {
  buildTimeline,
  type FailureView,
  Labels,
  type Marker,
  type MarkerKind,
  type Timeline,
} from "./timeline.js";

/** An address space over the whole trace: what its axis must show. */
export interface MmInfo {
  id: number;
  name: string;
  /** Its notifier subscriptions object, if the trace has one. */
  subs: number | null;
  /** Every byte range the trace touches in it (areas, PTEs, device entries, intervals). */
  ranges: [number, number][];
  /** The devices that map something of it at some point. */
  devices: number[];
}

export type PteKind =
  | "present-write"
  | "present-read"
  | "zero"
  | "protnone"
  | "swap"
  | "migration"
  | "device-private"
  | "device-exclusive";

export interface PteView {
  addr: number;
  value: number | null;
  state: string;
  kind: PteKind;
}

export interface IntervalView {
  id: number;
  name: string;
  start: number;
  end: number;
  membership: string;
  seq: number | null;
  /** True while an active invalidation of its mm overlaps it. */
  lit: boolean;
  lastCallback: IntervalRaw["lastCallback"];
  lastReadBegin: SeqUse | null;
  lastReadRetry: SeqUse | null;
}

export interface SubsView {
  id: number;
  name: string;
  seq: number;
  active: number;
  /** Queued inserts and removals, oldest first. */
  deferred: IntervalView[];
}

export interface DeviceEntryView {
  addr: number;
  frame: number;
  write: boolean;
  since: number;
  /** Why the entry is stale (the CPU PTE no longer agrees), or null. */
  stale: string | null;
}

export interface DeviceView {
  id: number;
  name: string;
  entries: DeviceEntryView[];
}

export interface MmView {
  id: number;
  name: string;
  subs: SubsView | null;
  areas: TraceArea[];
  ptes: PteView[];
  intervals: IntervalView[];
  devices: DeviceView[];
  invalidations: (ActiveInvalidation & { taskName: string })[];
}

export interface ViewState {
  step: number;
  mms: MmView[];
  held: { obj: string; task: string; mode: string }[];
  waiting: { task: string; on: string; why: string }[];
}

export interface ViewModel {
  trace: Trace;
  title: string;
  objects: ReadonlyMap<number, TraceObject>;
  timeline: Timeline;
  /** The schedule the CLI prints (computed at the first look). */
  readonly schedule: Schedule;
  failure: FailureView | null;
  lockCycle: LockCycle | null;
  /** Where each edge of the lock cycle is in the timeline (null without a lock cycle). */
  cyclePlaces: CyclePlaces | null;
  mms: MmInfo[];
  /** The moments worth reading in a list, in order (markers; `labels.marker` says them). */
  story: Marker[];
  labels: Labels;
  /** The schedule rows of `step` (the same as the schedule's, made from the step's events alone). */
  rowsAt(step: number): ScheduleRow[];
  /** The index in `timeline.steps` of the last step at or before `step` (0 when before the first). */
  stepIndex(step: number): number;
  /** The state after every event of `step` and before. */
  stateAt(step: number): ViewState;
  /** The events of `step`. */
  eventsAt(step: number): TraceEvent[];
}

const STORY: ReadonlySet<MarkerKind> = new Set<MarkerKind>([
  "acquire",
  "block",
  "preempt",
  "signal",
  "value",
  "read_begin",
  "read_retry",
  "inv_start",
  "inv_end",
  "callback",
  "pte",
  "dev_map",
  "dev_unmap",
  "warn",
  "report",
  "end",
]);

/** Builds the view model of `trace` (read with `readTrace` first). */
export function buildViewModel(trace: Trace, name = "trace"): ViewModel {
  let events = trace.events;
  if (events.some((e, i) => i > 0 && e.step < (events[i - 1] as TraceEvent).step)) {
    events = [...events].sort((a, b) => a.step - b.step);
    trace = { ...trace, events };
  }
  const objects = new Map(trace.objects.map((o) => [o.id, o]));
  const timeline = buildTimeline(trace);
  let schedule: Schedule | null = null;
  const scheduled = (): Schedule => {
    if (schedule === null) schedule = scheduleOf(trace);
    return schedule;
  };
  const failure = timeline.failure;
  const lockCycle = failure?.kind === "lock-order" ? parseLockCycle(failure.message) : null;
  const cyclePlaces = lockCycle === null ? null : placeLockCycle(lockCycle, timeline, events, objects);
  const mms = addressSpaces(trace, objects);
  const replayer = new StateReplayer(events, objects, trace.version >= 2);
  const taskName = new Map(trace.tasks.map((t) => [t.id, t.name]));
  const story = timeline.markers.filter((m) => STORY.has(m.kind));
  const steps = timeline.steps;
  const stepIndex = (step: number): number => {
    let lo = 0;
    let hi = steps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((steps[mid] as number) <= step) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  /** Index of the first event after `step`. */
  const eventEnd = (step: number): number => {
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((events[mid] as TraceEvent).step <= step) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  // The task running before each event (what the schedule needs to tell a preemption from a switch),
  // so the rows of one step are made from that step's events alone: the whole schedule of a long
  // trace is tens of thousands of rows of text.
  const runningBefore = new Int32Array(events.length);
  {
    let running = -1;
    for (let i = 0; i < events.length; i++) {
      runningBefore[i] = running;
      const e = events[i] as TraceEvent;
      if (e.kind === "run") running = e.task;
      else if ((e.kind === "block" || e.kind === "end") && e.task === running) running = -1;
    }
  }
  const rowsAt = (step: number): ScheduleRow[] => {
    if (schedule !== null) return schedule.rows.filter((r) => r.step === step);
    const a = eventEnd(step - 1);
    const b = eventEnd(step);
    if (a === b) return [];
    // Through the next switch of tasks: it says whether a task of this step was preempted.
    let c = b;
    while (c < events.length && (events[c] as TraceEvent).kind !== "run") c++;
    const window = events.slice(a, Math.min(c + 1, events.length));
    const running = runningBefore[a] as number;
    if (running >= 0) window.unshift({ step, time: 0, task: running, kind: "run", obj: -1 });
    return scheduleOf({ ...trace, events: window })
      .rows.filter((r) => r.step === step)
      .map((r) => {
        if (!r.failure || (failure !== null && failure.step === step)) return r;
        const { failure: _, ...rest } = r;
        return rest;
      });
  };
  const title =
    typeof trace.meta.scenario === "string" && trace.meta.scenario !== "" ? trace.meta.scenario : name;
  return {
    trace,
    title,
    objects,
    timeline,
    get schedule() {
      return scheduled();
    },
    failure,
    lockCycle,
    cyclePlaces,
    mms,
    story,
    labels: new Labels(trace, objects),
    rowsAt,
    stepIndex,
    eventsAt: (step) => events.slice(eventEnd(step - 1), eventEnd(step)),
    // At the failing step, the state when the report fired (the rest of the failing operation
    // completes in the same step, on objects the explorer stopped).
    stateAt: (step) => {
      const n = failure !== null && step === failure.step ? failure.event + 1 : eventEnd(step);
      return viewState(step, replayer.after(n), mms, objects, taskName);
    },
  };
}

/** Every address space of the trace, with the subscriptions and devices that belong to it. */
function addressSpaces(trace: Trace, objects: ReadonlyMap<number, TraceObject>): MmInfo[] {
  const byId = new Map<number, MmInfo>();
  /** Ranges already noted, per mm ("start:end"): a long trace changes the same pages over and over. */
  const seen = new Map<number, Set<string>>();
  const note = (m: MmInfo, start: number, end: number) => {
    let set = seen.get(m.id);
    if (set === undefined) {
      set = new Set();
      seen.set(m.id, set);
    }
    const key = `${start}:${end}`;
    if (set.has(key)) return;
    set.add(key);
    m.ranges.push([start, end]);
  };
  const mmObjects = trace.objects.filter((o) => o.type === "mm");
  const info = (id: number): MmInfo => {
    let m = byId.get(id);
    if (m === undefined) {
      m = { id, name: objects.get(id)?.name ?? "(address space)", subs: null, ranges: [], devices: [] };
      byId.set(id, m);
    }
    return m;
  };
  for (const o of mmObjects) info(o.id);
  // Version 1 names no mm in notifier events: with one mm, that is the one.
  const only = mmObjects.length === 1 ? (mmObjects[0] as TraceObject).id : -1;
  const mmOf = (id: number | undefined) => (id === undefined || id < 0 ? only : id);
  for (const e of trace.events) {
    switch (e.kind) {
      case "vmas":
        for (const a of e.areas ?? []) note(info(e.obj), a.start, a.end);
        break;
      case "pte":
        note(info(e.obj), e.addr ?? 0, (e.addr ?? 0) + 4096);
        break;
      case "dev_map": {
        const m = info(mmOf(e.mm));
        note(m, e.addr ?? 0, (e.addr ?? 0) + 4096);
        if (!m.devices.includes(e.obj)) m.devices.push(e.obj);
        break;
      }
      case "interval": {
        // A notifier over most of the address space would squeeze the rest: its range is drawn
        // clipped to what else is there.
        const a = e.addr ?? 0;
        const b = e.end ?? a;
        if (b - a <= 2 ** 32) note(info(mmOf(e.mm)), a, b);
        break;
      }
      case "inv_start":
      case "inv_end":
        if (e.mm !== undefined) info(e.mm).subs = e.obj;
        break;
      default:
        break;
    }
  }
  // Subscriptions named "<mm>.notifiers" belong to that mm, when no invalidation said so.
  for (const o of trace.objects) {
    if (o.type !== "mmu_notifier_subscriptions" || [...byId.values()].some((m) => m.subs === o.id)) continue;
    const owners = mmObjects.filter((m) => `${m.name}.notifiers` === o.name && byId.get(m.id)?.subs === null);
    if (owners.length >= 1) info((owners[0] as TraceObject).id).subs = o.id;
  }
  for (const o of trace.objects) {
    if (o.type !== "mmu_interval_notifier" || trace.version >= 2) continue;
    const m = /\[(0x[0-9a-f]+), (0x[0-9a-f]+)\]$/.exec(o.name);
    if (m !== null && only >= 0) {
      info(only).ranges.push([Number.parseInt(m[1] as string, 16), Number.parseInt(m[2] as string, 16) + 1]);
    }
  }
  return [...byId.values()].filter((m) => m.ranges.length > 0 || m.subs !== null);
}

function pteKind(p: PteEntry): PteKind {
  const w = p.state.split(" ");
  if (w.includes("device-private")) return "device-private";
  if (w.includes("device-exclusive")) return "device-exclusive";
  if (w.includes("migration")) return "migration";
  if (w.includes("swap")) return "swap";
  if (w.includes("protnone")) return "protnone";
  if (w.includes("zero")) return "zero";
  return w.includes("write") ? "present-write" : "present-read";
}

/** Why a device entry no longer agrees with the CPU PTE (the coherence oracle's rule), or null. */
function staleness(frame: number, write: boolean, cpu: PteEntry | undefined): string | null {
  const words = cpu === undefined ? [] : cpu.state.split(" ");
  // A device-private entry holds the device frame; a device-exclusive one the frame the device
  // alone may access (atomically) until the CPU faults it back.
  const translates =
    words.includes("present") || words.includes("device-private") || words.includes("device-exclusive");
  if (cpu === undefined || !translates || cpu.value === null) {
    return "stale: the CPU PTE maps nothing the device may use";
  }
  if (cpu.value !== frame) return `stale: the CPU PTE maps frame ${cpu.value}`;
  if (write && !words.includes("write")) return "stale: writable here, read-only in the CPU PTE";
  return null;
}

function viewState(
  step: number,
  s: RawState,
  mms: readonly MmInfo[],
  objects: ReadonlyMap<number, TraceObject>,
  taskName: ReadonlyMap<number, string>,
): ViewState {
  const name = (id: number) => objects.get(id)?.name ?? `#${id}`;
  const task = (id: number) => (id < 0 ? "(outside any task)" : (taskName.get(id) ?? `#${id}`));
  const only = mms.length === 1 ? (mms[0] as MmInfo).id : -2;
  const views: MmView[] = mms.map((m) => {
    const sub = m.subs === null ? undefined : s.subs.get(m.subs);
    const ranges = sub?.ranges ?? [];
    const intervals: IntervalView[] = [];
    for (const [id, v] of s.intervals) {
      if (v.mm !== m.id && !(v.mm < 0 && m.id === only)) continue;
      if (v.membership === "removed") continue;
      intervals.push({
        id,
        name: name(id).replace(/ \[0x[0-9a-f]+, 0x[0-9a-f]+\]$/, ""),
        start: v.start,
        end: v.end,
        membership: v.membership,
        seq: v.seq,
        lit:
          (v.membership === "in-tree" || v.membership === "pending-remove") &&
          ranges.some((r) => r.addr < v.end && r.end > v.start),
        lastCallback: v.lastCallback,
        lastReadBegin: v.lastReadBegin,
        lastReadRetry: v.lastReadRetry,
      });
    }
    intervals.sort((a, b) => a.start - b.start || a.id - b.id);
    const pending = [...s.intervals.entries()]
      .filter(([, v]) => v.membership.startsWith("pending") && (v.mm === m.id || (v.mm < 0 && m.id === only)))
      .sort((a, b) => a[1].pendingSince - b[1].pendingSince)
      .map(([id]) => intervals.find((iv) => iv.id === id))
      .filter((iv): iv is IntervalView => iv !== undefined);
    const cpu = s.ptes.get(m.id);
    const ptes: PteView[] =
      cpu === undefined ? [] : [...cpu].map(([addr, p]) => ({ addr, ...p, kind: pteKind(p) }));
    ptes.sort((a, b) => a.addr - b.addr);
    const devices: DeviceView[] = m.devices.map((d) => {
      const t = s.devices.get(d)?.get(m.id) ?? s.devices.get(d)?.get(-1);
      const entries: DeviceEntryView[] =
        t === undefined
          ? []
          : [...t].map(([addr, x]) => ({ addr, ...x, stale: staleness(x.frame, x.write, cpu?.get(addr)) }));
      entries.sort((a, b) => a.addr - b.addr);
      return { id: d, name: name(d), entries };
    });
    return {
      id: m.id,
      name: m.name,
      subs:
        m.subs === null
          ? null
          : {
              id: m.subs,
              name: name(m.subs),
              // A notifier's subscriptions start with gseq 2 and nothing active; value events say the changes.
              seq: sub?.seq ?? 2,
              active: sub?.active ?? 0,
              deferred: pending,
            },
      areas: s.areas.get(m.id) ?? [],
      ptes,
      intervals,
      devices,
      invalidations: ranges.map((r) => ({ ...r, taskName: task(r.task) })),
    };
  });
  const held = [...s.held].flatMap(([obj, list]) =>
    list.map((h) => ({
      obj: `${objects.get(obj)?.type ?? ""} ${name(obj)}`.trim(),
      task: task(h.task),
      mode: h.mode,
    })),
  );
  const waiting = [...s.waiting].map(([t, w]) => ({
    task: task(t),
    on: `${objects.get(w.obj)?.type ?? ""} ${name(w.obj)}`.trim(),
    why: w.why,
  }));
  return { step, mms: views, held, waiting };
}
