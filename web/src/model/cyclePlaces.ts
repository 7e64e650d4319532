// Where a lock-order cycle happened in the timeline: for each dependency A -> B of the report, the
// lane of the task that made it, the hold of A that was open then (a slice) and the acquisition of
// B (a marker), and which acquisition of a class links to the next edge's hold of the same class.
// An edge lockdep remembers from an earlier execution, or whose hold the trace does not record
// (taken before the trace starts, or attributed to another lane), is placed as far as the trace
// allows and says what is missing.

import type { TraceEvent, TraceObject } from "../../../src/trace/schema.js";
import type { LockCycle, LockEdge } from "./lockCycle.js";
import { firstMarkerFrom, type Marker, type Slice, type Timeline } from "./timeline.js";

/** One edge of the cycle in the timeline. */
export interface EdgePlace {
  /** Its number in the report's order, from 1: the badge drawn on its hold and its acquisition. */
  n: number;
  edge: LockEdge;
  /** The lane of the task that made it (matched by name); null when the trace has no such task. */
  lane: number | null;
  /** True when the edge's steps are this trace's and its task has a lane: it can be drawn and visited. */
  inTrace: boolean;
  /** The hold of `from` open when `to` was taken; null when the trace records none. */
  hold: Slice | null;
  /** The steps the hold is drawn over, up to the acquisition at least (the slice's, or inferred). */
  holdFrom: number;
  holdTo: number;
  /**
   * The event that took `to` at the edge's step: the acquisition, else the wait or the scheduling
   * point before it, else (an annotation lockdep saw, no acquire in the trace) what the task did at
   * that step; null when the trace has nothing of the task there.
   */
  take: Marker | null;
  /** What the lanes cannot show of this edge, in words; null when they show all of it. */
  note: string | null;
}

/** The acquisition of `lock` by edge `from` and the hold of the same class by edge `to` (indexes). */
export interface CycleLink {
  from: number;
  to: number;
  lock: string;
}

export interface CyclePlaces {
  edges: EdgePlace[];
  links: CycleLink[];
}

/** The lane name lockdep and the timeline both give code outside any task. */
const OUTSIDE = "(outside any task)";

/** Places `cycle` in `timeline` (built from `events`, whose objects are `objects`). */
export function placeLockCycle(
  cycle: LockCycle,
  timeline: Timeline,
  events: readonly TraceEvent[],
  objects: ReadonlyMap<number, TraceObject>,
): CyclePlaces {
  const first = timeline.steps[0] ?? 0;
  /** Lock class of the object an event names (a class is every lock created with the same name). */
  const classOf = (e: TraceEvent): string | undefined => (e.obj < 0 ? undefined : objects.get(e.obj)?.name);
  const lanesNamed = (task: string): number[] =>
    timeline.lanes.flatMap((l, i) => (l.name === task || (task === OUTSIDE && l.task < 0) ? [i] : []));
  const markersAt = (step: number): Marker[] => {
    const ms = timeline.markers;
    const out: Marker[] = [];
    for (let i = firstMarkerFrom(ms, step); i < ms.length && (ms[i] as Marker).step === step; i++)
      out.push(ms[i] as Marker);
    return out;
  };
  const holds = timeline.slices.filter((s) => s.kind === "hold");
  /** The hold of class `lock` in `lane` open at `step`: the one taken at `heldStep` if any, else the latest. */
  const holdIn = (lane: number, lock: string, step: number, heldStep: number): Slice | null => {
    let best: Slice | null = null;
    for (const s of holds) {
      if (s.lane !== lane || s.from > step || s.to < step) continue;
      if (classOf(events[s.event] as TraceEvent) !== lock) continue;
      if (best === null) best = s;
      else if ((s.from === heldStep) !== (best.from === heldStep)) {
        if (s.from === heldStep) best = s;
      } else if (s.from > best.from) best = s;
    }
    return best;
  };
  const TAKES: Record<string, number> = { acquire: 3, block: 2, point: 1 };

  const edges = cycle.edges.map((edge, i): EdgePlace => {
    const n = i + 1;
    const candidates = lanesNamed(edge.task);
    const none = {
      n,
      edge,
      inTrace: false,
      hold: null,
      holdFrom: edge.heldStep,
      holdTo: edge.step,
      take: null,
    };
    if (edge.execution !== null) {
      return {
        ...none,
        lane: candidates[0] ?? null,
        note: `made in execution #${edge.execution}, an earlier execution of the same exploration: lockdep remembers the dependency, this trace does not show it`,
      };
    }
    if (candidates.length === 0) {
      return { ...none, lane: null, note: `this trace has no task "${edge.task}"` };
    }
    // The acquisition of `to` at the step, in the lane that has one (tasks may share a name).
    // Without one (lockdep also learns from annotations that take nothing: might_lock, a fence
    // wait, an allocation that may reclaim), what the task did at that step.
    let lane = candidates[0] as number;
    let take: Marker | null = null;
    let rank = -1;
    for (const m of markersAt(edge.step)) {
      if (!candidates.includes(m.lane) || m.kind === "preempt") continue;
      const r =
        classOf(events[m.event] as TraceEvent) === edge.to
          ? (TAKES[m.kind] ?? 0)
          : m.kind === "point" || m.kind === "acquire" || m.kind === "block"
            ? -0.5 // a step of another lock says less than what the task did
            : 0;
      if (r > rank) {
        take = m;
        rank = r;
        lane = m.lane;
      }
    }
    const notes: string[] = [];
    if (rank <= 0) {
      notes.push(
        `no acquire of "${edge.to}" at step ${edge.step} in the trace: lockdep saw an annotation (might_lock, a fence wait, an allocation that may reclaim)`,
      );
    }
    let hold = holdIn(lane, edge.from, edge.step, edge.heldStep);
    if (hold === null) {
      // A hold the trace puts in another lane (taken by setup code, outside any task).
      const elsewhere = holds.find(
        (s) =>
          s.from === edge.heldStep &&
          s.to >= edge.step &&
          classOf(events[s.event] as TraceEvent) === edge.from,
      );
      if (elsewhere !== undefined) {
        hold = elsewhere;
        notes.push(
          `"${edge.from}" was taken at step ${edge.heldStep} in ${timeline.lanes[elsewhere.lane]?.name ?? "another lane"}`,
        );
      } else if (edge.heldStep < first) {
        notes.push(`"${edge.from}" was held since step ${edge.heldStep}, before the trace starts`);
      } else {
        notes.push(`the trace records no acquisition of "${edge.from}" by ${edge.task}`);
      }
    }
    return {
      n,
      edge,
      lane,
      inTrace: true,
      hold,
      holdFrom: hold?.from ?? Math.min(edge.step, Math.max(first, edge.heldStep)),
      holdTo: hold === null ? edge.step : Math.max(hold.to, edge.step),
      take,
      note: notes.length === 0 ? null : notes.join("; "),
    };
  });
  // Edge i took B; the edge that goes on from B held it while taking the next lock.
  const links: CycleLink[] = [];
  edges.forEach((p, i) => {
    if (!p.inTrace) return;
    const j = edges.findIndex((q) => q.inTrace && q !== p && q.edge.from === p.edge.to);
    if (j >= 0) links.push({ from: i, to: j, lock: p.edge.to });
  });
  return { edges, links };
}
