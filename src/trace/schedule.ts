// The schedule of an execution as text: who did what at each step, read from its trace. This is
// what a failure prints under its message (the way loom and shuttle print a failing schedule), and
// what `--json` carries as data.

import type { Trace, TraceEvent } from "./schema.js";

/** One row: what one task did at one step (several trace events, joined). */
export interface ScheduleRow {
  step: number;
  /** The task's name, or null for what happened outside any task (a deadlock found by the scheduler, a check). */
  task: string | null;
  /** What the task did, e.g. `lock mutex "a" -> acquired`. */
  text: string;
  /** True on the row that raised the first failure report. */
  failure?: true;
}

/** An execution's schedule: its tasks in spawn order and its rows in execution order. */
export interface Schedule {
  tasks: string[];
  rows: ScheduleRow[];
}

/** Builds the schedule of `trace`. */
export function scheduleOf(trace: Trace): Schedule {
  const taskName = new Map(trace.tasks.map((t) => [t.id, t.name]));
  const objects = new Map(trace.objects.map((o) => [o.id, o]));
  const obj = (id: number): string => {
    const o = objects.get(id);
    return o === undefined ? `object #${id}` : `${o.type} "${o.name}"`;
  };
  const who = (id: number | undefined): string => `"${taskName.get(id ?? -1) ?? `#${id}`}"`;
  const rows: (ScheduleRow & { fails?: string })[] = [];
  let row: (ScheduleRow & { taskId: number; pointObj: number; fails?: string }) | null = null;
  let running = -1;
  let failed = false;
  const phrase = (e: TraceEvent, sameObjAsPoint: boolean): string | null => {
    // (Run events are handled by the loop: they only mark preemptions.)
    switch (e.kind) {
      case "spawn":
        return e.value === undefined || e.value < 0 ? null : `spawns ${who(e.task)}`;
      case "point":
        return e.obj < 0 ? `point "${e.detail ?? ""}"` : `${e.detail ?? "op"} ${obj(e.obj)}`;
      case "acquire": {
        const mode = e.detail === undefined || e.detail === "write" ? "" : ` (${e.detail})`;
        return sameObjAsPoint ? `-> acquired${mode}` : `acquires ${obj(e.obj)}${mode}`;
      }
      case "release":
        return `releases ${obj(e.obj)}`;
      case "block":
        return sameObjAsPoint
          ? `-> waits to ${e.detail ?? "proceed"}`
          : `waits on ${obj(e.obj)} to ${e.detail ?? "proceed"}`;
      case "wake":
        return e.value === undefined || e.value < 0
          ? `wakes up${e.detail === undefined ? "" : ` (${e.detail})`}`
          : `woken by ${who(e.value)}`;
      case "signal":
        return `signals ${obj(e.obj)}`;
      case "value":
        return `${e.obj < 0 ? "" : `${obj(e.obj)} `}${e.detail ?? "value"} = ${e.value}`;
      case "note":
        return `${e.obj < 0 ? "" : `${obj(e.obj)}: `}${e.detail ?? ""}`;
      case "warn":
        return `WARN ${firstLine(e.detail)}`;
      case "report":
        return `FAILS (${(e.detail ?? "").split(":")[0]})`;
      case "end":
        return e.detail === undefined ? "ends" : `ends, throwing ${firstLine(e.detail)}`;
      default:
        return null;
    }
  };
  const lastRowOf = new Map<number, ScheduleRow>();
  for (const e of trace.events) {
    // A spawn event carries the child; it belongs to the parent's row.
    const taskId = e.kind === "spawn" ? (e.value ?? -1) : e.task;
    if (e.kind === "run") {
      // A switch away from a task that neither blocked nor ended: the chooser preempted it.
      const was = running === -1 || running === e.task ? undefined : lastRowOf.get(running);
      if (was !== undefined) was.text = was.text === "" ? "preempted" : `${was.text} -> preempted`;
      running = e.task;
      continue;
    }
    if ((e.kind === "block" || e.kind === "end") && e.task === running) running = -1;
    if (row === null || row.step !== e.step || row.taskId !== taskId) {
      row = { step: e.step, task: taskName.get(taskId) ?? null, text: "", taskId, pointObj: -1 };
      rows.push(row);
      lastRowOf.set(taskId, row);
    }
    const text = phrase(e, e.obj >= 0 && e.obj === row.pointObj);
    if (e.kind === "point") row.pointObj = e.obj;
    if (e.kind === "report") {
      // Said last in its row: the rest of the operation that failed completed in the same step.
      if (!failed) row.failure = true;
      failed = true;
      row.fails = row.fails === undefined ? (text as string) : `${row.fails}, ${text}`;
      continue;
    }
    if (text !== null)
      row.text = row.text === "" ? text : `${row.text}${text.startsWith("->") ? " " : ", "}${text}`;
  }
  return {
    tasks: trace.tasks.map((t) => t.name),
    rows: rows
      .map((r) => {
        const text = r.fails === undefined ? r.text : r.text === "" ? r.fails : `${r.text}, ${r.fails}`;
        const out: ScheduleRow = { step: r.step, task: r.task, text };
        if (r.failure) out.failure = true;
        return out;
      })
      .filter((r) => r.text !== ""),
  };
}

function firstLine(s: string | undefined): string {
  if (s === undefined) return "";
  const i = s.indexOf("\n");
  return i < 0 ? s : `${s.slice(0, i)} ...`;
}

/** Options of {@link formatSchedule}. */
export interface FormatScheduleOptions {
  /** Show only the rows of the last `last` steps (default 20); `Infinity` for all. */
  last?: number;
}

/** Lanes are this wide; with more tasks than fit, rows name their task instead. */
const LANE = 34;
const MAX_LANES = 4;

/**
 * The schedule as text: a header, then a row per step and task. With up to four tasks each task
 * has its own column (a swimlane); with more, each row names its task. The failing row is marked
 * with ">".
 */
export function formatSchedule(schedule: Schedule, options: FormatScheduleOptions = {}): string {
  const last = options.last ?? 20;
  const steps = [...new Set(schedule.rows.map((r) => r.step))];
  const from = steps.length > last ? (steps[steps.length - last] as number) : Number.NEGATIVE_INFINITY;
  const shown = schedule.rows.filter((r) => r.step >= from);
  const head =
    shown.length === schedule.rows.length
      ? `schedule (${plural(steps.length, "step")}):`
      : `schedule (the last ${plural(Math.min(last, steps.length), "step")} of ${steps.length}; --full shows all):`;
  const lanes = schedule.tasks.length <= MAX_LANES;
  const lines = [head];
  if (lanes)
    lines.push(
      `  ${"step".padStart(5)}  ${schedule.tasks
        .map((t) => t.padEnd(LANE))
        .join("")
        .trimEnd()}`,
    );
  for (const r of shown) {
    const mark = r.failure ? ">" : " ";
    const lane = r.task === null ? -1 : schedule.tasks.indexOf(r.task);
    const body = lanes
      ? `${" ".repeat(Math.max(0, lane) * LANE)}${r.task === null ? `(outside any task) ${r.text}` : r.text}`
      : `${(r.task ?? "(outside any task)").padEnd(16)} ${r.text}`;
    lines.push(`${mark} ${String(r.step).padStart(5)}  ${body}`);
  }
  return lines.join("\n");
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
