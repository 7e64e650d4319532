// The page's address: `#trace=<name or URL>&step=<n>&zoom=<pixels per step>`. Reading it never
// fails: a value the page cannot use is left out, with a sentence saying what the page does instead.

/** The timeline's zoom bounds, in pixels per step. */
export const MIN_ZOOM = 1;
export const MAX_ZOOM = 120;

export interface ViewAddress {
  /** The trace to show (a name in the page's bundle, a dropped file's `file:` name, or a URL). */
  trace: string | null;
  /** The step to open at; null for the first. */
  step: number | null;
  /** The timeline's pixels per step; null for the default (the trace fitted, within bounds). */
  zoom: number | null;
  /** What was wrong with the address and what the page does instead, one sentence each. */
  problems: string[];
}

/** Reads `hash` (with or without its `#`). */
export function parseViewAddress(hash: string): ViewAddress {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const problems: string[] = [];
  const trace = p.get("trace");
  let step: number | null = null;
  const stepText = p.get("step");
  if (stepText !== null) {
    const n = number(stepText);
    if (n === null || !Number.isInteger(n)) {
      problems.push(
        `step "${stepText}" in the address is not a step number: the page opens at the first step`,
      );
    } else step = n;
  }
  let zoom: number | null = null;
  const zoomText = p.get("zoom");
  if (zoomText !== null) {
    const z = number(zoomText);
    if (z === null || z <= 0) {
      problems.push(
        `zoom "${zoomText}" in the address is not a number of pixels per step: the timeline opens at its default zoom`,
      );
    } else if (z < MIN_ZOOM || z > MAX_ZOOM) {
      zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));
      problems.push(
        `zoom ${zoomText} in the address is outside ${MIN_ZOOM}–${MAX_ZOOM} pixels per step: the timeline opens at ${zoom}`,
      );
    } else zoom = z;
  }
  return { trace: trace === "" ? null : trace, step, zoom, problems };
}

/** The address of a view: the trace, the step, and the zoom when one was chosen (rounded to 0.01). */
export function formatViewAddress(trace: string, step: number, zoom: number | null): string {
  const z = zoom === null ? "" : `&zoom=${Math.round(zoom * 100) / 100}`;
  return `#trace=${encodeURIComponent(trace)}&step=${step}${z}`;
}

/** A finite decimal number, or null (Number() takes "", " ", "0x10" and "1e3"; an address should not). */
function number(text: string): number | null {
  if (!/^-?\d+(\.\d+)?$/.test(text.trim())) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}
