// The timeline: one swimlane per task, x = step. Only the steps in view are drawn (a trace of ten
// thousand steps would otherwise be tens of thousands of elements); an overview strip under it shows
// the whole trace, the failure, the cursor and the part in view. A lock-order failure's cycle is
// drawn in the lanes: each edge's hold and acquisition numbered as in the banner, in the cycle's
// colour, and a dashed link from each acquisition of a lock to the next edge's hold of it.

import type { EdgePlace } from "../model/cyclePlaces.js";
import { firstMarkerFrom, type Marker, type MarkerKind, type Slice } from "../model/timeline.js";
import { MAX_ZOOM, MIN_ZOOM } from "../model/viewAddress.js";
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
  /** The lock cycle's edges by the hold slice they highlight. */
  private readonly cycleHolds = new Map<Slice, EdgePlace[]>();
  /** The edge chosen in the banner (drawn stronger), or 0. */
  private selected = 0;
  /** Lanes with an edge of an earlier execution, badged by their name. */
  private readonly badged = new Set<number>();

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
    for (const p of vm.cyclePlaces?.edges ?? []) {
      if (!p.inTrace && p.lane !== null) this.badged.add(p.lane);
      if (p.hold === null) continue;
      const list = this.cycleHolds.get(p.hold);
      if (list === undefined) this.cycleHolds.set(p.hold, [p]);
      else list.push(p);
    }
    svg.addEventListener("click", (ev) => {
      // A cycle badge names its edge's step; the banner's edges do the same.
      if ((ev.target as Element).closest("[data-edge]") !== null) return;
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

  /** Pixels per step (0 before the first drawing chose one). */
  get zoomLevel(): number {
    return this.px;
  }

  /** Zoom in (factor > 1) or out around the cursor. */
  zoom(factor: number, cursor: number): void {
    this.setZoom(this.px * factor, cursor);
  }

  /** Sets the zoom to `px` pixels per step (clamped), around the cursor. */
  setZoom(px: number, cursor: number): void {
    this.px = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, px));
    // Before the first drawing, the drawing centres the cursor.
    if (this.width === 0) return;
    this.from = cursor - (this.width - LABEL_W) / this.px / 2;
    this.render(cursor);
  }

  /** Chooses edge `n` of the lock cycle (0: none) and brings the steps from `a` to `b` into view if they fit. */
  selectEdge(n: number, a: number, b: number, cursor: number): void {
    this.selected = n;
    this.drawn = "";
    const visible = (this.width - LABEL_W) / Math.max(this.px, MIN_ZOOM);
    if (this.width > 0 && b - a + 1 <= visible * 0.8) this.from = (a + b) / 2 - visible / 2;
    this.render(cursor);
  }

  /** Scrolls the page so lane `lane` is in view. */
  revealLane(lane: number): void {
    this.svg.querySelector(`rect.lane[data-lane="${lane}"]`)?.scrollIntoView({ block: "center" });
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
      if (this.px === 0) this.px = Math.min(MAX_ZOOM, Math.max(14, plot / total));
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
        `<rect class="lane${i % 2 ? " odd" : ""}" data-lane="${i}" x="0" y="${y}" width="${width}" height="${h}"/>`,
        `<text class="lane-name${failing ? " failing" : ""}" x="8" y="${y + Math.min(h / 2 + 5, 30)}">${esc(clip(lane.name, this.badged.has(i) ? 16 : 20))}</text>`,
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
    if (this.vm.cyclePlaces !== null) out.push(this.cycle(x, height));
    this.svg.setAttribute("width", String(width));
    this.svg.setAttribute("height", String(height));
    this.content.innerHTML = out.join("");
  }

  /** Where a hold or wait of `lane` at row `depth` from step `from` to `to` is drawn (clipped to the view). */
  private box(
    lane: number,
    depth: number,
    from: number,
    to: number,
    open: boolean,
    x: (step: number) => number,
  ) {
    const y = (this.laneY[lane] as number) + MARKER_ROW + INV_ROW + depth * SLICE_ROW;
    const x0 = Math.max(LABEL_W, x(from) - this.px / 2 + 1);
    const x1 = Math.min(this.width, x(to) - this.px / 2 + (open ? 0 : this.px) - 1);
    return { x0, x1, y, h: SLICE_ROW - 2 };
  }

  private slice(s: Slice, x: (step: number) => number): string {
    const y = this.laneY[s.lane] as number;
    const b = this.box(s.lane, s.depth, s.from, s.to, s.open, x);
    const { x0, x1 } = b;
    if (x1 <= x0) return "";
    const band = s.kind === "invalidate" ? [y + MARKER_ROW, INV_ROW - 2] : [b.y, b.h];
    const w = x1 - x0;
    const full = this.vm.labels.slice(s);
    const cycle = this.cycleHolds.get(s);
    const badges = cycle === undefined ? 0 : 16 * cycle.length;
    const label = w - badges > 40 ? clip(full, Math.floor((w - badges) / 6.2)) : "";
    const edges = cycle === undefined ? "" : ` cycle-hold" data-edges="${cycle.map((p) => p.n).join(" ")}`;
    return (
      `<g class="slice ${s.kind}${s.open ? " open" : ""}${edges}"><rect x="${n1(x0)}" y="${band[0]}" width="${n1(w)}" height="${band[1]}" rx="2"/>` +
      (label === "" || s.kind === "invalidate"
        ? ""
        : `<text x="${n1(x0 + 3 + badges)}" y="${(band[0] as number) + 11}">${esc(label)}</text>`) +
      `<title>${esc(`${full} (steps ${s.from}–${s.open ? "end" : s.to})`)}</title></g>`
    );
  }

  /**
   * The lock cycle over the lanes (its holds are outlined by `slice`): each acquisition numbered as
   * in the banner, a hold the trace does not record drawn dashed, a dashed link from each
   * acquisition of a lock to the next edge's hold of it, and a badge by the lane name for an edge
   * of an earlier execution.
   */
  private cycle(x: (step: number) => number, height: number): string {
    const places = this.vm.cyclePlaces;
    if (places === null) return "";
    const plot: string[] = [];
    const aside: string[] = [];
    const sel = (p: EdgePlace) => `${p.n === this.selected ? " selected" : ""}${p.edge.now ? " now" : ""}`;
    const what = (p: EdgePlace) => {
      const e = p.edge;
      return (
        `${p.n}: ${e.task} took "${e.to}" (${e.mode}) at step ${e.step} while holding "${e.from}" (${e.heldMode}, since step ${e.heldStep})` +
        `${e.now ? ", the acquisition that closed the cycle" : ""}${p.note === null ? "" : `. ${p.note}`}`
      );
    };
    /** The middle of the hold's bar at the step nearest `step`. */
    const holdPoint = (p: EdgePlace, step: number) => ({
      x: x(Math.min(p.holdTo, Math.max(p.holdFrom, step))),
      y:
        (this.laneY[p.lane ?? 0] as number) +
        MARKER_ROW +
        INV_ROW +
        (p.hold?.depth ?? 0) * SLICE_ROW +
        (SLICE_ROW - 2) / 2,
    });
    for (const link of places.links) {
      const a = places.edges[link.from] as EdgePlace;
      const b = places.edges[link.to] as EdgePlace;
      if (a.lane === null || b.lane === null) continue;
      const tx = x(a.edge.step);
      const ty = (this.laneY[a.lane] as number) + 9;
      const h = holdPoint(b, a.edge.step);
      const my = (ty + h.y) / 2;
      const both = a.n === this.selected || b.n === this.selected ? " selected" : "";
      plot.push(
        `<g class="cycle-connector${both}" data-link="${a.n}-${b.n}"><path d="M${n1(tx)},${n1(ty)} C${n1(tx)},${n1(my)} ${n1(h.x)},${n1(my)} ${n1(h.x)},${n1(h.y)}"/>` +
          `<title>${esc(`${a.n} takes "${link.lock}", which ${b.edge.task} holds in ${b.n}`)}</title></g>`,
      );
    }
    const besideName = new Map<number, number>();
    for (const p of places.edges) {
      if (p.lane === null) continue;
      const y = this.laneY[p.lane] as number;
      if (!p.inTrace) {
        const k = besideName.get(p.lane) ?? 0;
        besideName.set(p.lane, k + 1);
        const bx = LABEL_W - 12 - k * 17;
        aside.push(
          `<g class="cycle-badge elsewhere" data-testid="cycle-elsewhere"><circle cx="${bx}" cy="${y + 9}" r="7.5"/><text x="${bx}" y="${y + 12.5}">${p.n}</text><title>${esc(what(p))}</title></g>`,
        );
        continue;
      }
      // The hold: the slice is outlined; one the trace does not record is drawn dashed.
      const b =
        p.hold === null
          ? this.box(p.lane, 0, p.holdFrom, p.edge.step, false, x)
          : this.box(p.lane, p.hold.depth, p.hold.from, p.hold.to, p.hold.open, x);
      if (p.hold === null && b.x1 > b.x0) {
        plot.push(
          `<g class="cycle-hold inferred${sel(p)}" data-edges="${p.n}"><rect x="${n1(b.x0)}" y="${b.y}" width="${n1(b.x1 - b.x0)}" height="${b.h}" rx="2"/><title>${esc(what(p))}</title></g>`,
        );
      }
      if (b.x1 > b.x0) {
        const same = (p.hold === null ? [p] : (this.cycleHolds.get(p.hold) ?? [p])).indexOf(p);
        const bx = Math.min(b.x0 + 8 + same * 16, b.x1 - 4);
        plot.push(
          `<g class="cycle-badge hold${sel(p)}" data-edge="${p.n}" data-testid="cycle-hold"><circle cx="${n1(bx)}" cy="${b.y + b.h / 2}" r="6.5"/><text x="${n1(bx)}" y="${b.y + b.h / 2 + 3.5}">${p.n}</text><title>${esc(`holds "${p.edge.from}": ${what(p)}`)}</title></g>`,
        );
      }
      // The acquisition.
      const tx = x(p.edge.step);
      // What it takes, beside it when the steps are wide enough.
      const room = this.px * 3 - 14;
      const label =
        room > 30
          ? `<text class="cycle-take-label" x="${n1(tx + 11)}" y="${y + 12.5}">${esc(clip(`takes ${p.edge.to}`, Math.floor(room / 6.2)))}</text>`
          : "";
      plot.push(
        `<g class="cycle-badge take${sel(p)}" data-edge="${p.n}" data-testid="cycle-take"><rect x="${n1(tx - 8)}" y="${y + 1}" width="16" height="16" rx="4"/><text x="${n1(tx)}" y="${y + 12.5}">${p.n}</text>${label}<title>${esc(`takes "${p.edge.to}": ${what(p)}`)}</title></g>`,
      );
    }
    const top = this.laneY[0] ?? TOP;
    return (
      `<clipPath id="timeline-plot"><rect x="${LABEL_W}" y="${top}" width="${Math.max(0, this.width - LABEL_W)}" height="${height - top}"/></clipPath>` +
      `<g class="cycle-layer" clip-path="url(#timeline-plot)">${plot.join("")}</g>${aside.join("")}`
    );
  }

  private markers(from: number, to: number, x: (step: number) => number): string[] {
    const ms = this.vm.timeline.markers;
    // Markers are in step order: start at the first in view.
    const lo = firstMarkerFrom(ms, from);
    const out: string[] = [];
    const slot = new Map<string, number>();
    // The lock cycle's acquisitions take the first place of their lane at their step.
    for (const p of this.vm.cyclePlaces?.edges ?? []) {
      if (p.inTrace && p.lane !== null) slot.set(`${p.lane}:${p.edge.step}`, 1);
    }
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
