// The mmun visualizer: a trace (or the demo's report and its traces) on one page. The page reads
// only the versioned trace format (src/trace) and pure helpers, never the runtime, so it shows a
// trace from any machine. Where traces come from: the bundle inlined in the page (mmun view,
// mmun demo --html), a file dropped on the page or opened, or a URL named in the address
// (`#trace=<name or URL>&step=<n>&zoom=<pixels per step>`).

import type { TraceBundle } from "../../src/trace/bundle.js";
import { readTrace } from "../../src/trace/read.js";
import type { Trace } from "../../src/trace/schema.js";
import { formatViewAddress, parseViewAddress } from "./model/viewAddress.js";
import { buildViewModel } from "./model/viewModel.js";
import { byId, esc } from "./ui/dom.js";
import { reportView } from "./ui/reportView.js";
import { Viewer } from "./ui/viewer.js";

performance.mark("mmun:script");
const bundle = readBundle();
performance.mark("mmun:bundle");
/** Traces read from dropped or opened files, by file name. */
const local = new Map<string, Trace>();
let viewer: Viewer | null = null;
let shown = "";
let firstDrawn = false;
window.mmunView = { ready: false, loadMs: 0, renderMs: [], frameMs: [], step: 0, steps: 0, zoom: 0 };

function readBundle(): TraceBundle {
  const text = document.getElementById("mmun-data")?.textContent ?? "null";
  const b = JSON.parse(text) as TraceBundle | null;
  return b ?? { traces: {} };
}

function show(section: "report" | "viewer" | "empty"): void {
  for (const s of ["report", "viewer", "empty"]) byId(s).hidden = s !== section;
  byId("controls").hidden = section !== "viewer";
  byId("back").hidden = bundle.report === undefined || section === "report";
}

function error(message: string): void {
  viewer?.stop();
  viewer = null;
  shown = "";
  show("empty");
  byId("empty-message").innerHTML = `<span class="bad">${esc(message)}</span>`;
}

async function traceNamed(name: string): Promise<Trace> {
  const inline = bundle.traces[name];
  if (inline !== undefined) return readTrace(inline);
  const dropped = local.get(name);
  if (dropped !== undefined) return dropped;
  if (name.startsWith("file:")) {
    throw new Error(`${name.slice(5)} was opened from a file: drop it on the page again to see it`);
  }
  const r = await fetch(name);
  if (!r.ok) throw new Error(`cannot load ${name}: ${r.status} ${r.statusText}`);
  const text = await r.text();
  performance.mark("mmun:fetched");
  return readTrace(text);
}

/** Shows what the address names. */
async function route(): Promise<void> {
  const address = parseViewAddress(location.hash);
  const name =
    address.trace ?? bundle.open ?? (bundle.report === undefined ? Object.keys(bundle.traces)[0] : undefined);
  if (name === undefined) {
    viewer?.stop();
    viewer = null;
    shown = "";
    if (bundle.report !== undefined) {
      byId("report").innerHTML = reportView(bundle.report);
      byId("title").textContent = bundle.report.title;
      show("report");
    } else show("empty");
    ready();
    return;
  }
  if (shown !== name || viewer === null) {
    let trace: Trace;
    try {
      trace = await traceNamed(name);
    } catch (e) {
      error(e instanceof Error ? e.message : String(e));
      return;
    }
    viewer?.stop();
    shown = name;
    show("viewer");
    performance.mark("mmun:read");
    const vm = buildViewModel(trace, name.replace(/^file:/, ""));
    performance.mark("mmun:model");
    viewer = new Viewer(vm, (step, zoom) => writeView(name, step, zoom));
  }
  const v = viewer;
  note(address.problems);
  if (address.zoom !== null) v.setZoom(address.zoom);
  if (address.step !== null) v.seekStep(address.step);
  else v.seekIndex(0);
  ready();
}

/** Says what was wrong with the address (nothing: hides the note). */
function note(problems: string[]): void {
  const el = byId("address-note");
  el.hidden = problems.length === 0;
  el.textContent = problems.join(" ");
}

/** Records the first complete drawing (the load time the browser test reads). */
function ready(): void {
  const stats = window.mmunView;
  if (stats === undefined || firstDrawn) return;
  firstDrawn = true;
  stats.loadMs = performance.now();
  stats.steps = viewer?.vm.timeline.steps.length ?? 0;
  stats.ready = true;
  document.body.dataset.ready = "true";
}

/** Keeps the view in the address, replacing the entry: stepping and zooming add no history. */
function writeView(name: string, step: number, zoom: number | null): void {
  const hash = formatViewAddress(name, step, zoom);
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

async function openFile(file: File): Promise<void> {
  let trace: Trace;
  try {
    trace = readTrace(await file.text());
  } catch (e) {
    error(`${file.name}: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const name = `file:${file.name}`;
  local.set(name, trace);
  viewer = null;
  location.hash = `#trace=${encodeURIComponent(name)}`;
}

function speed(): number {
  return Number(byId<HTMLSelectElement>("speed").value) || 4;
}

function wire(): void {
  const on = (id: string, fn: () => void) => byId(id).addEventListener("click", fn);
  on("first", () => viewer?.first());
  on("prev", () => viewer?.move(-1));
  on("play", () => viewer?.togglePlay(speed()));
  on("next", () => viewer?.move(1));
  on("last", () => viewer?.last());
  on("jump-failure", () => viewer?.jumpToFailure());
  on("zoom-in", () => viewer?.zoom(1.5));
  on("zoom-out", () => viewer?.zoom(1 / 1.5));
  on("help-button", () => {
    byId("help").hidden = !byId("help").hidden;
  });
  on("open", () => byId<HTMLInputElement>("file").click());
  byId<HTMLInputElement>("file").addEventListener("change", (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f !== undefined) void openFile(f);
  });
  byId<HTMLInputElement>("step-input").addEventListener("change", (ev) => {
    const v = Number((ev.target as HTMLInputElement).value);
    if (Number.isFinite(v)) viewer?.seekStep(v);
  });
  // Clicks on anything that names a step (the story, the failure banner) or an edge of the lock
  // cycle (the banner, the timeline's badges).
  document.body.addEventListener("click", (ev) => {
    if (viewer === null) return;
    const edge = (ev.target as Element).closest("[data-edge]");
    if (edge !== null) {
      viewer.showEdge(Number(edge.getAttribute("data-edge")));
      return;
    }
    const t = (ev.target as Element).closest("[data-seek]");
    if (t !== null) viewer.seekStep(Number(t.getAttribute("data-seek")));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
    if (ev.key === "?") {
      byId("help").hidden = !byId("help").hidden;
      return;
    }
    if (ev.key === "Escape") byId("help").hidden = true;
    const v = viewer;
    if (v === null) return;
    const big = ev.shiftKey ? 10 : 1;
    const keys: Record<string, () => void> = {
      ArrowRight: () => v.move(big),
      ArrowLeft: () => v.move(-big),
      l: () => v.move(1),
      h: () => v.move(-1),
      PageDown: () => v.move(50),
      PageUp: () => v.move(-50),
      Home: () => v.first(),
      End: () => v.last(),
      f: () => v.jumpToFailure(),
      " ": () => v.togglePlay(speed()),
      "+": () => v.zoom(1.5),
      "=": () => v.zoom(1.5),
      "-": () => v.zoom(1 / 1.5),
    };
    const fn = keys[ev.key];
    if (fn === undefined || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    fn();
  });
  // A trace dropped anywhere on the page.
  document.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (ev) => {
    ev.preventDefault();
    document.body.classList.remove("dragging");
    const f = ev.dataTransfer?.files[0];
    if (f !== undefined) void openFile(f);
  });
  window.addEventListener("hashchange", () => void route());
  window.addEventListener("resize", () => viewer?.render(true));
}

wire();
void route();
