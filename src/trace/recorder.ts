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
