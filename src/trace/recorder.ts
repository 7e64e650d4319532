// Collects trace events while a kernel runs. Recording off is a null recorder: one branch per event.

import {
  TRACE_VERSION,
  type Trace,
  type TraceEvent,
  type TraceEventKind,
  type TraceObject,
  type TraceTask,
} from "./schema.js";

/** Records events for one run; {@link TraceRecorder.toJSON} gives the versioned {@link Trace}. */
export class TraceRecorder {
  readonly tasks: TraceTask[] = [];
  readonly objects: TraceObject[] = [];
  readonly events: TraceEvent[] = [];
  readonly meta: Record<string, string | number | boolean> = {};

  /** Names a task (called once per task, at spawn). */
  task(id: number, name: string): void {
    this.tasks.push({ id, name });
  }

  /** Names an object (called once per object, at creation). */
  object(id: number, type: string, name: string): void {
    this.objects.push({ id, type, name });
  }

  /** Appends one event. */
  event(
    step: number,
    time: number,
    task: number,
    kind: TraceEventKind,
    obj: number,
    value?: number,
    detail?: string,
  ): void {
    const e: TraceEvent = { step, time, task, kind, obj };
    if (value !== undefined) e.value = value;
    if (detail !== undefined) e.detail = detail;
    this.events.push(e);
  }

  /** Appends an event built by the caller (version-2 fields included). */
  add(e: TraceEvent): void {
    this.events.push(e);
  }

  toJSON(): Trace {
    return {
      version: TRACE_VERSION,
      tasks: [...this.tasks],
      objects: [...this.objects],
      events: [...this.events],
      meta: { ...this.meta },
    };
  }
}

/** The fields of an event beyond step, time, task, kind and object. */
export type TraceFields = Pick<TraceEvent, "value" | "detail" | "addr" | "end" | "mm" | "areas">;

/** What stamps an event with "now": the kernel (its recorder, step, logical clock and running task). */
export interface TraceHost {
  readonly trace: TraceRecorder | null;
  readonly step: number;
  now(): number;
  readonly current: { readonly id: number } | null;
}

/**
 * Records a `kind` event on `obj` with `fields`, at the host's step and time, credited to the
 * running task (-1 outside any task). Callers test `host.trace !== null` first, so that building
 * the fields costs nothing when recording is off.
 */
export function recordEvent(host: TraceHost, kind: TraceEventKind, obj: number, fields: TraceFields): void {
  const tr = host.trace;
  if (tr === null) return;
  const t = host.current;
  tr.add({ step: host.step, time: host.now(), task: t === null ? -1 : t.id, kind, obj, ...fields });
}
