// The kernel state a trace describes at any step: each address space's areas and PTEs, each device's
// page table, each notifier's sequence numbers, active invalidations and interval notifiers, the
// locks held and the tasks waiting. Rebuilt by applying events in order from a checkpoint, so
// stepping forward costs the events of one step and a jump costs at most one checkpoint interval.

import type { TraceArea, TraceEvent, TraceObject } from "../../../src/trace/schema.js";

/** A CPU PTE: its value (frame, swap slot, device frame) and its state words ("present write"…). */
export interface PteEntry {
  value: number | null;
  state: string;
}

/** An invalidation between its start and its end. */
export interface ActiveInvalidation {
  task: number;
  addr: number;
  end: number;
  event: string;
  /** The step of its start. */
  since: number;
}

/** What one task did last with a notifier (readBegin, readRetry) or what a callback got. */
export interface SeqUse {
  step: number;
  task: number;
  seq: number;
  /** readBegin: it waits; readRetry: it collided. */
  flag: boolean;
}

export interface IntervalRaw {
  mm: number;
  start: number;
  /** One past the last byte. */
  end: number;
  /** "in-tree", "pending-insert", "pending-remove", "unlinked", "removed". */
  membership: string;
  /** The notifier's own sequence value (setSeq), or null before any is known. */
  seq: number | null;
  /** Index of the event that put it on the deferred list (its place in the list). */
  pendingSince: number;
  lastCallback: { step: number; task: number; curSeq: number; event: string } | null;
  lastReadBegin: SeqUse | null;
  lastReadRetry: SeqUse | null;
}

export interface DeviceEntry {
  frame: number;
  write: boolean;
  /** The step it was mapped at. */
  since: number;
}

export interface SubsRaw {
  /** invalidate_seq (gseq), or null before the trace says. */
  seq: number | null;
  /** active_invalidate_ranges, or null before the trace says. */
  active: number | null;
  ranges: ActiveInvalidation[];
}

/** The raw state after a prefix of the events. Treat it as read-only. */
export interface RawState {
  areas: Map<number, TraceArea[]>;
  ptes: Map<number, Map<number, PteEntry>>;
  subs: Map<number, SubsRaw>;
  intervals: Map<number, IntervalRaw>;
  /** device -> mm -> page address -> entry. */
  devices: Map<number, Map<number, Map<number, DeviceEntry>>>;
  /** obj -> holders, in acquisition order. */
  held: Map<number, { task: number; mode: string }[]>;
  /** task -> what it waits on. */
  waiting: Map<number, { obj: number; why: string }>;
}

function emptyState(): RawState {
  return {
    areas: new Map(),
    ptes: new Map(),
    subs: new Map(),
    intervals: new Map(),
    devices: new Map(),
    held: new Map(),
    waiting: new Map(),
  };
}

function cloneState(s: RawState): RawState {
  const ptes = new Map<number, Map<number, PteEntry>>();
  for (const [mm, t] of s.ptes) ptes.set(mm, new Map(t));
  const subs = new Map<number, SubsRaw>();
  for (const [id, v] of s.subs) subs.set(id, { ...v, ranges: [...v.ranges] });
  const intervals = new Map<number, IntervalRaw>();
  for (const [id, v] of s.intervals) intervals.set(id, { ...v });
  const devices = new Map<number, Map<number, Map<number, DeviceEntry>>>();
  for (const [id, byMm] of s.devices) {
    const copy = new Map<number, Map<number, DeviceEntry>>();
    for (const [mm, t] of byMm) copy.set(mm, new Map(t));
    devices.set(id, copy);
  }
  const held = new Map<number, { task: number; mode: string }[]>();
  for (const [obj, list] of s.held) held.set(obj, [...list]);
  return { areas: new Map(s.areas), ptes, subs, intervals, devices, held, waiting: new Map(s.waiting) };
}

/** Notes of version-1 traces that say where an interval notifier stands. */
const V1_MEMBERSHIP: Record<string, string> = {
  inserted: "in-tree",
  "insert deferred": "pending-insert",
  remove: "unlinked",
  "remove deferred (waits)": "pending-remove",
  "deferred insert applied": "in-tree",
  "deferred remove applied": "unlinked",
  removed: "removed",
};
/** A version-1 notifier's name ends with its closed interval: "gpu [0x1000, 0x1fff]". */
const V1_INTERVAL = /\[(0x[0-9a-f]+), (0x[0-9a-f]+)\]$/;

/** Applies events to a state; knows the object types to tell a notifier from its subscriptions. */
class Applier {
  constructor(
    private readonly objects: ReadonlyMap<number, TraceObject>,
    /** True for a version-2 trace: the structured events say it all, and notes are read only in version 1. */
    private readonly structured: boolean,
  ) {}

  private subs(s: RawState, id: number): SubsRaw {
    let v = s.subs.get(id);
    if (v === undefined) {
      v = { seq: null, active: null, ranges: [] };
      s.subs.set(id, v);
    }
    return v;
  }

  private interval(s: RawState, id: number): IntervalRaw | undefined {
    let v = s.intervals.get(id);
    if (v === undefined) {
      // A version-1 trace: the interval from the name, the mm unknown (-1).
      const m = V1_INTERVAL.exec(this.objects.get(id)?.name ?? "");
      if (m === null) return undefined;
      v = {
        mm: -1,
        start: Number.parseInt(m[1] as string, 16),
        end: Number.parseInt(m[2] as string, 16) + 1,
        membership: "in-tree",
        seq: null,
        pendingSince: -1,
        lastCallback: null,
        lastReadBegin: null,
        lastReadRetry: null,
      };
      s.intervals.set(id, v);
    }
    return v;
  }

  apply(s: RawState, e: TraceEvent, i: number): void {
    switch (e.kind) {
      case "acquire": {
        const list = s.held.get(e.obj) ?? [];
        s.held.set(e.obj, [...list, { task: e.task, mode: e.detail ?? "write" }]);
        break;
      }
      case "release": {
        const list = s.held.get(e.obj);
        if (list === undefined) break;
        const at = list.findIndex((h) => h.task === e.task);
        const rest = list.filter((_, j) => j !== Math.max(at, 0));
        if (rest.length === 0) s.held.delete(e.obj);
        else s.held.set(e.obj, rest);
        break;
      }
      case "block":
        s.waiting.set(e.task, { obj: e.obj, why: e.detail ?? "" });
        break;
      case "wake":
      case "end":
        s.waiting.delete(e.task);
        break;
      case "vmas":
        s.areas.set(e.obj, e.areas ?? []);
        break;
      case "pte": {
        let t = s.ptes.get(e.obj);
        if (t === undefined) {
          t = new Map();
          s.ptes.set(e.obj, t);
        }
        const addr = e.addr ?? 0;
        if (e.detail === "none" || e.detail === undefined) t.delete(addr);
        else t.set(addr, { value: e.value ?? null, state: e.detail });
        break;
      }
      case "dev_map": {
        let byMm = s.devices.get(e.obj);
        if (byMm === undefined) {
          byMm = new Map();
          s.devices.set(e.obj, byMm);
        }
        const mm = e.mm ?? -1;
        let t = byMm.get(mm);
        if (t === undefined) {
          t = new Map();
          byMm.set(mm, t);
        }
        t.set(e.addr ?? 0, { frame: e.value ?? -1, write: e.detail === "write", since: e.step });
        break;
      }
      case "dev_unmap": {
        const t = s.devices.get(e.obj)?.get(e.mm ?? -1);
        if (t === undefined) break;
        const from = e.addr ?? 0;
        const to = e.end ?? from + 1;
        for (const addr of [...t.keys()]) if (addr >= from && addr < to) t.delete(addr);
        break;
      }
      case "value": {
        const type = this.objects.get(e.obj)?.type;
        if (type === "mmu_interval_notifier") {
          if (e.detail === "invalidate_seq") {
            const v = this.interval(s, e.obj);
            if (v !== undefined) v.seq = e.value ?? null;
          }
        } else if (e.detail === "invalidate_seq") this.subs(s, e.obj).seq = e.value ?? null;
        else if (e.detail === "active_invalidate_ranges") this.subs(s, e.obj).active = e.value ?? null;
        break;
      }
      case "inv_start": {
        const v = this.subs(s, e.obj);
        const range = {
          task: e.task,
          addr: e.addr ?? 0,
          end: e.end ?? 0,
          event: e.detail ?? "",
          since: e.step,
        };
        v.ranges.push(range);
        break;
      }
      case "inv_end": {
        const v = this.subs(s, e.obj);
        for (let j = v.ranges.length - 1; j >= 0; j--) {
          const r = v.ranges[j] as ActiveInvalidation;
          if (r.task === e.task && r.addr === (e.addr ?? 0) && r.end === (e.end ?? 0)) {
            v.ranges.splice(j, 1);
            break;
          }
        }
        break;
      }
      case "interval": {
        const prev = s.intervals.get(e.obj);
        const membership = e.detail ?? "in-tree";
        s.intervals.set(e.obj, {
          mm: e.mm ?? prev?.mm ?? -1,
          start: e.addr ?? prev?.start ?? 0,
          end: e.end ?? prev?.end ?? 0,
          membership,
          seq: prev?.seq ?? null,
          pendingSince:
            membership.startsWith("pending") && !(prev?.membership === membership)
              ? i
              : (prev?.pendingSince ?? -1),
          lastCallback: prev?.lastCallback ?? null,
          lastReadBegin: prev?.lastReadBegin ?? null,
          lastReadRetry: prev?.lastReadRetry ?? null,
        });
        break;
      }
      case "callback": {
        const v = this.interval(s, e.obj);
        if (v !== undefined)
          v.lastCallback = { step: e.step, task: e.task, curSeq: e.value ?? 0, event: e.detail ?? "" };
        break;
      }
      case "read_begin": {
        const v = this.interval(s, e.obj);
        if (v !== undefined)
          v.lastReadBegin = { step: e.step, task: e.task, seq: e.value ?? 0, flag: e.detail === "waits" };
        break;
      }
      case "read_retry": {
        const v = this.interval(s, e.obj);
        if (v !== undefined)
          v.lastReadRetry = { step: e.step, task: e.task, seq: e.value ?? 0, flag: e.detail === "retry" };
        break;
      }
      case "note": {
        // Version 1: where an interval notifier stands, from its notes.
        const m = V1_MEMBERSHIP[e.detail ?? ""];
        if (this.structured || m === undefined) break;
        if (this.objects.get(e.obj)?.type !== "mmu_interval_notifier") break;
        const v = this.interval(s, e.obj);
        if (v === undefined) break;
        if (m.startsWith("pending") && v.membership !== m) v.pendingSince = i;
        v.membership = m;
        break;
      }
      default:
        break;
    }
  }
}

/**
 * The state at any point of a trace, from checkpoints taken every `every` events on the way: the
 * first look at step n applies the events up to n once; later jumps start from a checkpoint.
 */
export class StateReplayer {
  private readonly applier: Applier;
  /** checkpoints[c] is the state after the first c * every events. */
  private readonly checkpoints: RawState[] = [emptyState()];
  private cur: RawState = emptyState();
  private curIndex = 0;

  constructor(
    private readonly events: readonly TraceEvent[],
    objects: ReadonlyMap<number, TraceObject>,
    structured: boolean,
    private readonly every = Math.max(256, Math.ceil(events.length / 200)),
  ) {
    this.applier = new Applier(objects, structured);
  }

  /** The state after the first `n` events. Read-only: the next call may change it. */
  after(n: number): RawState {
    const target = Math.max(0, Math.min(n, this.events.length));
    const c = Math.min(Math.floor(target / this.every), this.checkpoints.length - 1);
    const base = c * this.every;
    // Go on from here when it is on the way; else start over from the last checkpoint before target.
    if (target < this.curIndex || this.curIndex < base) {
      this.cur = cloneState(this.checkpoints[c] as RawState);
      this.curIndex = base;
    }
    for (; this.curIndex < target; ) {
      this.applier.apply(this.cur, this.events[this.curIndex] as TraceEvent, this.curIndex);
      this.curIndex++;
      if (this.curIndex % this.every === 0 && this.curIndex / this.every === this.checkpoints.length) {
        this.checkpoints.push(cloneState(this.cur));
      }
    }
    return this.cur;
  }
}
