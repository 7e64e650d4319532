// The timeline: one swimlane per task, x = step. Only the steps in view are drawn (a trace of ten
// thousand steps would otherwise be tens of thousands of elements); an overview strip under it shows
// the whole trace, the failure, the cursor and the part in view.

import type { Marker, MarkerKind, Slice } from "../model/timeline.js";
import type { ViewModel } from "../model/viewModel.js";
import { clip, esc, n1 } from "./dom.js";

const LABEL_W = 150;
/** A lane: a row of markers, the invalidation bar, then a row per nesting level of holds and waits. */
const MARKER_ROW = 19;
const INV_ROW = 6;
const SLICE_ROW = 16;
const TOP = 22;
const OVERVIEW_H = 26;

/** A glyph per marker kind: its letter (or none) and its class (the colour, in style.css). */
const GLYPH: Record<MarkerKind, { text: string; cls: string }> = {
  acquire: { text: "", cls: "" },
  block: { text: "", cls: "" },
  point: { text: "", cls: "m-point" },
  preempt: { text: "⤼", cls: "m-preempt" },
  signal: { text: "S", cls: "m-signal" },
  value: { text: "", cls: "m-value" },
  read_begin: { text: "B", cls: "m-read" },
  read_retry: { text: "R", cls: "m-read" },
  inv_start: { text: "[", cls: "m-inv" },
  inv_end: { text: "]", cls: "m-inv" },
  callback: { text: "C", cls: "m-inv" },
  pte: { text: "P", cls: "m-pte" },
  dev_map: { text: "M", cls: "m-dev" },
  dev_unmap: { text: "U", cls: "m-dev" },
  warn: { text: "!", cls: "m-warn" },
  report: { text: "✖", cls: "m-report" },
  end: { text: "✖", cls: "m-report" },
};

export class TimelineView {
  /** Pixels per step. */
  private px = 0;
  /** First step in view. */
  private from = 0;
  private width = 0;
  private overviewBase = "";
  private available = 800;
  /** What the content layer shows now (the view's position, scale and width). */
  private drawn = "";
  private readonly content: SVGGElement;
  private readonly cursorLayer: SVGGElement;
  private readonly overviewContent: SVGGElement;
  private readonly overviewCursor: SVGGElement;
  /** Top of each lane, and the bottom of the last. */
  private readonly laneY: number[] = [];

  constructor(
    private readonly svg: SVGSVGElement,
    private readonly overview: SVGSVGElement,
    private readonly vm: ViewModel,
    private readonly seek: (step: number) => void,
  ) {
    // Two layers each: what moves only when the view scrolls, and the cursor, redrawn every step.
    svg.innerHTML = `<g></g><g></g>`;
    overview.innerHTML = `<g></g><g></g>`;
    this.content = svg.firstChild as SVGGElement;
    this.cursorLayer = svg.lastChild as SVGGElement;
    this.overviewContent = overview.firstChild as SVGGElement;
    this.overviewCursor = overview.lastChild as SVGGElement;
    let y = TOP;
    for (const d of vm.timeline.laneDepth) {
      this.laneY.push(y);
      y += MARKER_ROW + INV_ROW + d * SLICE_ROW + 6;
    }
    this.laneY.push(y);
    svg.addEventListener("click", (ev) => {
      const x = ev.clientX - svg.getBoundingClientRect().left;
      if (x >= LABEL_W) this.seek(Math.round(this.from + (x - LABEL_W) / this.px));
    });
    overview.addEventListener("click", (ev) => {
      const x = ev.clientX - overview.getBoundingClientRect().left;
      const [a, b] = this.span();
      this.seek(Math.round(a + ((x - LABEL_W) / Math.max(1, this.width - LABEL_W)) * (b - a)));
    });
  }

  /** First and last step of the trace. */
  private span(): [number, number] {
    const steps = this.vm.timeline.steps;
    return [steps[0] ?? 0, steps[steps.length - 1] ?? 0];
  }

  /** Zoom in (factor > 1) or out around the cursor. */
  zoom(factor: number, cursor: number): void {
    this.px = Math.min(80, Math.max(1, this.px * factor));
    this.from = cursor - (this.width - LABEL_W) / this.px / 2;
    this.render(cursor);
  }

  /** Reads the width available (call before writing to the page: a read after a write forces a layout). */
  measure(): void {
    this.available = Math.max((this.svg.parentElement?.clientWidth ?? 824) - 24, 400);
  }

  /** Draws the lanes around `cursor`. */
  render(cursor: number): void {
    const width = this.available;
    const [first, last] = this.span();
    const total = last - first + 1;
    const plot = width - LABEL_W;
    if (width !== this.width || this.px === 0) {
      if (this.px === 0) this.px = Math.min(120, Math.max(14, plot / total));
      this.width = width;
      this.overviewBase = "";
    }
    // Keep the cursor in the middle 80% of the view.
    const visible = plot / this.px;
    if (cursor < this.from + visible * 0.1 || cursor > this.from + visible * 0.9) {
      this.from = cursor - visible / 2;
    }
    this.from = Math.max(first - 0.5, Math.min(this.from, last + 0.5 - visible));
    if (visible >= total) this.from = first - 0.5;
    const to = this.from + visible;
    const tl = this.vm.timeline;
    // Step s spans [s - 0.5, s + 0.5]; `from` is the left edge of the view.
    const x = (step: number) => LABEL_W + (step - this.from) * this.px;
    const height = (this.laneY[tl.lanes.length] as number) + 4;
    this.cursorLayer.innerHTML =
      `<line class="cursor" x1="${n1(x(cursor))}" x2="${n1(x(cursor))}" y1="${TOP - 2}" y2="${height}"/>` +
      `<rect class="cursor-label-bg" x="${n1(x(cursor) - 24)}" y="0" width="48" height="15" rx="3"/>` +
      `<text class="cursor-label" x="${n1(x(cursor))}" y="11">${cursor}</text>`;
    this.renderOverview(cursor, first, last, visible);
    const key = `${this.from}|${this.px}|${width}`;
    if (key === this.drawn) return;
    this.drawn = key;
    const out: string[] = [];
    // Lanes, with their names.
    tl.lanes.forEach((lane, i) => {
      const y = this.laneY[i] as number;
      const h = (this.laneY[i + 1] as number) - y;
      const failing = tl.failure?.lane === i;
      out.push(
        `<rect class="lane${i % 2 ? " odd" : ""}" x="0" y="${y}" width="${width}" height="${h}"/>`,
        `<text class="lane-name${failing ? " failing" : ""}" x="8" y="${y + Math.min(h / 2 + 5, 30)}">${esc(clip(lane.name, 20))}</text>`,
      );
    });
    // Step ticks.
    const tick = niceTick(this.px);
    for (let s = Math.ceil(this.from / tick) * tick; s <= to; s += tick) {
      if (s < first || s > last) continue;
      out.push(
        `<line class="tick" x1="${n1(x(s))}" x2="${n1(x(s))}" y1="${TOP - 4}" y2="${height}"/>`,
        `<text class="tick-label" x="${n1(x(s))}" y="${TOP - 8}">${s}</text>`,
      );
    }
    // The failure.
    const f = tl.failure;
    if (f !== null && f.step >= this.from - 1 && f.step <= to + 1) {
      out.push(
        `<rect class="failure-band" x="${n1(x(f.step) - Math.max(this.px, 8) / 2)}" y="${TOP}" width="${n1(Math.max(this.px, 8))}" height="${height - TOP}"><title>${esc(`${f.kind}: ${f.message}`)}</title></rect>`,
      );
    }
    for (const s of tl.slices) {
      if (s.to < this.from || s.from > to) continue;
      out.push(this.slice(s, x));
    }
    out.push(...this.markers(this.from, to, x));
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("height", String(height));
    this.content.innerHTML = out.join("");
  }

  private slice(s: Slice, x: (step: number) => number): string {
    const y = this.laneY[s.lane] as number;
    const x0 = Math.max(LABEL_W, x(s.from) - this.px / 2 + 1);
    const x1 = Math.min(this.width, x(s.to) - this.px / 2 + (s.open ? 0 : this.px) - 1);
    if (x1 <= x0) return "";
    const band =
      s.kind === "invalidate"
        ? [y + MARKER_ROW, INV_ROW - 2]
        : [y + MARKER_ROW + INV_ROW + s.depth * SLICE_ROW, SLICE_ROW - 2];
    const w = x1 - x0;
    const full = this.vm.labels.slice(s);
    const label = w > 40 ? clip(full, Math.floor(w / 6.2)) : "";
    return (
      `<g class="slice ${s.kind}${s.open ? " open" : ""}"><rect x="${n1(x0)}" y="${band[0]}" width="${n1(w)}" height="${band[1]}" rx="2"/>` +
      (label === "" || s.kind === "invalidate"
        ? ""
        : `<text x="${n1(x0 + 3)}" y="${(band[0] as number) + 11}">${esc(label)}</text>`) +
      `<title>${esc(`${full} (steps ${s.from}–${s.open ? "end" : s.to})`)}</title></g>`
    );
  }

  private markers(from: number, to: number, x: (step: number) => number): string[] {
    const ms = this.vm.timeline.markers;
    // Markers are in step order: find the first in view.
    let lo = 0;
    let hi = ms.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((ms[mid] as Marker).step < from) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    const slot = new Map<string, number>();
    const room = Math.max(1, Math.floor(this.px / 9));
    for (let i = lo; i < ms.length; i++) {
      const m = ms[i] as Marker;
      if (m.step > to) break;
      if (m.kind === "acquire" || m.kind === "block") continue;
      const y = this.laneY[m.lane] as number;
      const cx = x(m.step);
      if (m.kind === "point") {
        const bottom = (this.laneY[m.lane + 1] as number) - 1;
        out.push(
          `<line class="m-point" x1="${n1(cx)}" x2="${n1(cx)}" y1="${bottom - 4}" y2="${bottom}"><title>${esc(`step ${m.step}: ${this.vm.labels.marker(m)}`)}</title></line>`,
        );
        continue;
      }
      const key = `${m.lane}:${m.step}`;
      const k = slot.get(key) ?? 0;
      slot.set(key, k + 1);
      const dx = room > 1 ? ((k % room) - (Math.min(room, 3) - 1) / 2) * 9 : 0;
      const g = GLYPH[m.kind];
      const cls = `${g.cls}${m.alert ? " alert" : ""}`;
      const label = this.vm.labels.marker(m);
      const title = `<title>${esc(`step ${m.step}: ${label}`)}</title>`;
      const cy = y + 9;
      if (m.kind === "value") {
        const v = /= (-?\d+)/.exec(label)?.[1] ?? "";
        out.push(
          `<g class="marker ${cls}"><rect x="${n1(cx + dx - 7)}" y="${cy - 7}" width="14" height="13" rx="3"/><text x="${n1(cx + dx)}" y="${cy + 3.5}">${esc(v)}</text>${title}</g>`,
        );
      } else {
        out.push(
          `<g class="marker ${cls}"><circle cx="${n1(cx + dx)}" cy="${cy}" r="6.5"/><text x="${n1(cx + dx)}" y="${cy + 3.5}">${esc(g.text)}</text>${title}</g>`,
        );
      }
    }
    return out;
  }

  private renderOverview(cursor: number, first: number, last: number, visible: number): void {
    const w = this.width;
    const plot = w - LABEL_W;
    const total = Math.max(1, last - first + 1);
    const ox = (step: number) => LABEL_W + ((step - first) / total) * plot;
    if (this.overviewBase === "") {
      const parts = [
        `<text class="lane-name" x="8" y="17">overview</text>`,
        `<rect class="overview-bg" x="${LABEL_W}" y="3" width="${plot}" height="${OVERVIEW_H - 6}"/>`,
      ];
      // Alarming markers, and a density of the rest (one bar per pixel column at most).
      const cols = new Map<number, number>();
      for (const m of this.vm.timeline.markers) {
        if (m.kind === "point") continue;
        const c = Math.floor(ox(m.step));
        cols.set(c, (cols.get(c) ?? 0) + 1);
        if (m.alert) parts.push(`<line class="ov-alert" x1="${c}" x2="${c}" y1="3" y2="${OVERVIEW_H - 3}"/>`);
      }
      for (const [c, k] of cols) {
        const h = Math.min(OVERVIEW_H - 6, 3 + k * 2);
        parts.push(`<rect class="ov-density" x="${c}" y="${OVERVIEW_H - 3 - h}" width="1" height="${h}"/>`);
      }
      const f = this.vm.timeline.failure;
      if (f !== null)
        parts.push(
          `<rect class="ov-failure" x="${n1(ox(f.step) - 1)}" y="0" width="3" height="${OVERVIEW_H}"/>`,
        );
      this.overviewBase = parts.join("");
      this.overview.setAttribute("width", String(w));
      this.overview.setAttribute("height", String(OVERVIEW_H));
      this.overviewContent.innerHTML = this.overviewBase;
    }
    const win = `<rect class="ov-window" x="${n1(ox(this.from))}" y="1" width="${n1(Math.max(3, (visible / total) * plot))}" height="${OVERVIEW_H - 2}"/>`;
    const cur = `<line class="ov-cursor" x1="${n1(ox(cursor))}" x2="${n1(ox(cursor))}" y1="0" y2="${OVERVIEW_H}"/>`;
    this.overviewCursor.innerHTML = win + cur;
  }
}

/** A step interval between labelled ticks: about every 70 pixels, on 1, 2, 5 × 10^k. */
function niceTick(px: number): number {
  const raw = 70 / px;
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
