// One trace on screen: the timeline, the notifier state, the address space, the step's rows and the
// story, all on one step cursor. Moves of the cursor come from the controls, the keyboard, clicks on
// the timeline or the story, and playing; each redraws the panels and writes the step in the address.

import type { ViewModel } from "../model/viewModel.js";
import { AddressPanel } from "./addressPanel.js";
import { failureBanner, nowPanel, storyPanel } from "./detailPanels.js";
import { byId } from "./dom.js";
import { notifierPanel } from "./notifierPanel.js";
import { TimelineView } from "./timelineView.js";

/** Timings the browser test reads (window.mmunView). */
export interface ViewStats {
  ready: boolean;
  /** Milliseconds from navigation start to the first complete drawing of the trace. */
  loadMs: number;
  /** Milliseconds each cursor move took to redraw everything, most recent last. */
  renderMs: number[];
  /** Milliseconds from each cursor move to after the next frame (style, layout and paint included). */
  frameMs: number[];
  step: number;
  steps: number;
  /** The timeline's pixels per step. */
  zoom: number;
}

declare global {
  interface Window {
    mmunView?: ViewStats;
  }
}

export class Viewer {
  private index = 0;
  private playing: ReturnType<typeof setInterval> | null = null;
  private readonly timeline: TimelineView;
  private readonly space: AddressPanel;
  private readonly taskName: (id: number) => string;
  private spaceWidth = 0;
  private readonly shown = new Map<string, string>();

  /** The zoom the user chose (pixels per step), or null while the timeline has its default. */
  private chosenZoom: number | null = null;

  constructor(
    readonly vm: ViewModel,
    /** Writes the view into the address (`#trace=…&step=…&zoom=…`). */
    private readonly onChange: (step: number, zoom: number | null) => void,
  ) {
    this.timeline = new TimelineView(
      byId("timeline-svg") as unknown as SVGSVGElement,
      byId("overview") as unknown as SVGSVGElement,
      vm,
      (s) => this.seekStep(s),
    );
    this.space = new AddressPanel(vm.mms);
    const names = new Map(vm.trace.tasks.map((t) => [t.id, t.name]));
    this.taskName = (id) => (id < 0 ? "(outside any task)" : (names.get(id) ?? `#${id}`));
    byId("title").textContent = vm.title;
    byId("step-of").textContent =
      `of ${vm.timeline.steps.length === 0 ? 0 : vm.timeline.steps[vm.timeline.steps.length - 1]}`;
    byId<HTMLButtonElement>("jump-failure").disabled = vm.failure === null;
  }

  get step(): number {
    return this.vm.timeline.steps[this.index] ?? 0;
  }

  /** Moves the cursor to the last step at or before `step`. */
  seekStep(step: number): void {
    this.seekIndex(this.vm.stepIndex(step));
  }

  /** Moves the cursor to the `i`-th step of the trace (clamped). */
  seekIndex(i: number): void {
    const n = this.vm.timeline.steps.length;
    this.index = Math.max(0, Math.min(n - 1, i));
    this.render();
    this.onChange(this.step, this.chosenZoom);
  }

  /** Moves by `d` steps. */
  move(d: number): void {
    this.seekIndex(this.index + d);
  }

  first(): void {
    this.seekIndex(0);
  }

  last(): void {
    this.seekIndex(this.vm.timeline.steps.length - 1);
  }

  jumpToFailure(): void {
    if (this.vm.failure !== null) this.seekStep(this.vm.failure.step);
  }

  zoom(factor: number): void {
    this.timeline.zoom(factor, this.step);
    this.chosenZoom = this.timeline.zoomLevel;
    if (window.mmunView !== undefined) window.mmunView.zoom = this.chosenZoom;
    this.onChange(this.step, this.chosenZoom);
  }

  /** Sets the timeline's zoom to `px` pixels per step (the address's `zoom`). */
  setZoom(px: number): void {
    this.timeline.setZoom(px, this.step);
    this.chosenZoom = this.timeline.zoomLevel;
  }

  /** The timeline's pixels per step. */
  get zoomLevel(): number {
    return this.timeline.zoomLevel;
  }

  /** Goes to edge `n` of the lock cycle (from 1): its step, its lane in view, its marks drawn stronger. */
  showEdge(n: number): void {
    const p = this.vm.cyclePlaces?.edges[n - 1];
    if (p === undefined || !p.inTrace || p.lane === null) return;
    this.index = this.vm.stepIndex(p.edge.step);
    this.timeline.selectEdge(n, Math.min(p.holdFrom, p.edge.step), p.edge.step, this.step);
    this.seekIndex(this.index);
    this.timeline.revealLane(p.lane);
  }

  /** Starts or stops playing at `stepsPerSecond`. */
  togglePlay(stepsPerSecond: number): void {
    if (this.playing !== null) {
      this.stop();
      return;
    }
    if (this.index >= this.vm.timeline.steps.length - 1) this.index = 0;
    this.playing = setInterval(
      () => {
        if (this.index >= this.vm.timeline.steps.length - 1) this.stop();
        else this.move(1);
      },
      Math.max(10, 1000 / stepsPerSecond),
    );
    byId("play").textContent = "❚❚";
  }

  stop(): void {
    if (this.playing !== null) clearInterval(this.playing);
    this.playing = null;
    byId("play").textContent = "▶";
  }

  /** Sets a panel's HTML, unless it is what the panel shows already (most steps change few panels). */
  private write(id: string, html: string): void {
    if (this.shown.get(id) === html) return;
    this.shown.set(id, html);
    byId(id).innerHTML = html;
  }

  /** Redraws every panel at the cursor; `measure` after the window changed size. */
  render(measure = false): void {
    const t0 = performance.now();
    if (measure || this.spaceWidth === 0) {
      // Read sizes before writing anything: a read after a write forces a layout.
      this.spaceWidth = Math.max(byId("space").clientWidth - 24, 500);
      this.timeline.measure();
    }
    const step = this.step;
    const vm = this.vm;
    const state = vm.stateAt(step);
    this.timeline.render(step);
    this.write("failure", failureBanner(vm, vm.failure !== null && step === vm.failure.step));
    this.write("notifier", notifierPanel(state, this.taskName));
    this.write("space", this.space.render(state, this.spaceWidth));
    this.write("now", nowPanel(vm, step, state));
    this.write("story", storyPanel(vm, step));
    byId<HTMLInputElement>("step-input").value = String(step);
    const stats = window.mmunView;
    if (stats !== undefined) {
      stats.step = step;
      stats.zoom = this.timeline.zoomLevel;
      stats.renderMs.push(performance.now() - t0);
      if (stats.renderMs.length > 1000) stats.renderMs.shift();
      requestAnimationFrame(() =>
        setTimeout(() => {
          stats.frameMs.push(performance.now() - t0);
          if (stats.frameMs.length > 1000) stats.frameMs.shift();
        }, 0),
      );
    }
  }
}
