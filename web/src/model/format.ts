// Small text helpers shared by the view model and the page.

import type { TraceObject } from "../../../src/trace/schema.js";

/** An address in hex, as the CLI prints it. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A half-open range, as the notifier layer prints it: "[0x1000, 0x3000)". */
export function hexRange(start: number, end: number): string {
  return `[${hex(start)}, ${hex(end)})`;
}

/** `type "name"`, or `object #id` for an object the trace does not name. */
export function objectLabel(objects: ReadonlyMap<number, TraceObject>, id: number): string {
  const o = objects.get(id);
  return o === undefined ? `object #${id}` : `${o.type} "${o.name}"`;
}

/** The first line of a message. */
export function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}
