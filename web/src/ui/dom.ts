// Building the page as text: escaping, and the few element helpers the panels share.

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `s` safe inside HTML or SVG text and attribute values. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c] as string);
}

/** The element with id `id` (it is in index.html). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`index.html lost #${id}`);
  return e as T;
}

/** A number with at most one decimal, for SVG coordinates. */
export function n1(x: number): string {
  return (Math.round(x * 10) / 10).toString();
}

/** Text cut to `max` characters with an ellipsis. */
export function clip(s: string, max: number): string {
  if (max <= 1) return "";
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}
