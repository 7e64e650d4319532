// The failure banner (with a lock-order report drawn as its cycle), what happens at the cursor's
// step, and the story: the moments that matter, in order, around the cursor.

import type { CyclePlaces } from "../model/cyclePlaces.js";
import type { LockCycle } from "../model/lockCycle.js";
import type { ViewModel, ViewState } from "../model/viewModel.js";
import { clip, esc, n1 } from "./dom.js";

/** The failure: kind, step, task and message, and the lock cycle of a lock-order report. */
export function failureBanner(vm: ViewModel, atFailure: boolean): string {
  const f = vm.failure;
  if (f === null) {
    return `<div class="ok-banner">This execution did not fail: step through it to see the protocol at work.</div>`;
  }
  const where =
    f.task === null ? "outside any task" : `in task <b data-testid="failing-task">${esc(f.task)}</b>`;
  return (
    `<div class="failure-banner${atFailure ? " current" : ""}"><div class="failure-head">` +
    `<span class="badge bad" data-testid="failure-kind">${esc(f.kind)}</span> at step <b>${f.step}</b> ${where}` +
    ` <button data-seek="${f.step}" class="link">jump to it (f)</button></div>` +
    `<pre class="failure-message" data-testid="failure-message">${esc(f.message)}</pre>` +
    (vm.lockCycle === null ? "" : cycleSvg(vm.lockCycle) + cycleEdges(vm.cyclePlaces)) +
    `</div>`
  );
}

/** The cycle: lock classes on a circle, an arrow per dependency labelled with who made it and when. */
export function cycleSvg(c: LockCycle): string {
  const n = c.locks.length;
  const w = n <= 2 ? 460 : 600;
  const h = n <= 2 ? 130 : 300;
  const cx = w / 2;
  const cy = h / 2;
  // Three or more classes on an ellipse, each edge bent outward with its label outside it.
  const rx = n <= 2 ? 0 : 150;
  const ry = n <= 2 ? 0 : 95;
  const pos = c.locks.map((_, i) =>
    n <= 2
      ? { x: i === 0 ? 90 : w - 90, y: cy }
      : {
          x: cx + rx * Math.cos((2 * Math.PI * i) / n - Math.PI / 2),
          y: cy + ry * Math.sin((2 * Math.PI * i) / n - Math.PI / 2),
        },
  );
  const at = (name: string) => pos[c.locks.indexOf(name)] ?? { x: cx, y: cy };
  const out: string[] = [
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>`,
  ];
  c.edges.forEach((e, i) => {
    const a = at(e.from);
    const b = at(e.to);
    // Curve each edge to one side so the two edges of a 2-cycle do not overlap.
    const mx = (a.x + b.x) / 2;
    const my = (a.y + b.y) / 2;
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    let qx = mx - (dy / len) * 55;
    let qy = my + (dx / len) * 55;
    let lx = qx;
    let ly = qy + (i % 2 ? 14 : -6);
    let anchor = "middle";
    if (n > 2) {
      const ox = mx - cx;
      const oy = my - cy;
      const ol = Math.hypot(ox, oy) || 1;
      qx = mx + (ox / ol) * 28;
      qy = my + (oy / ol) * 28;
      lx = mx + (ox / ol) * 40;
      ly = my + (oy / ol) * 40 + 4;
      anchor = ox / ol > 0.3 ? "start" : ox / ol < -0.3 ? "end" : "middle";
      if (anchor === "middle") ly += oy > 0 ? 8 : -2;
    }
    const shorten = (p: { x: number; y: number }, q: { x: number; y: number }) => {
      const l = Math.hypot(q.x - p.x, q.y - p.y) || 1;
      return { x: p.x + ((q.x - p.x) / l) * 46, y: p.y + ((q.y - p.y) / l) * 22 };
    };
    const s = shorten(a, { x: qx, y: qy });
    const t = shorten(b, { x: qx, y: qy });
    const d = `M${n1(s.x)},${n1(s.y)} Q${n1(qx)},${n1(qy)} ${n1(t.x)},${n1(t.y)}`;
    const where = e.execution === null ? `@${e.step}` : `@${e.step}, execution #${e.execution}`;
    // Each arrow is a link to its place in the timeline (a wide invisible path makes it easy to hit).
    out.push(
      `<g class="cycle-arrow${e.execution === null ? "" : " elsewhere"}" data-edge="${i + 1}">` +
        `<path class="cycle-hit" d="${d}"/>` +
        `<path class="cycle-edge${e.now ? " now" : ""}" d="${d}" marker-end="url(#arrow)"/>` +
        `<text class="cycle-label" x="${n1(lx)}" y="${n1(ly)}" text-anchor="${anchor}">${esc(`${i + 1}: ${e.task} ${where}${e.now ? " (now)" : ""}`)}</text>` +
        `<title>${esc(e.execution === null ? `show edge ${i + 1} in the timeline` : `made in execution #${e.execution}: not in this trace`)}</title></g>`,
    );
  });
  c.locks.forEach((name, i) => {
    const p = pos[i] as { x: number; y: number };
    out.push(
      `<g class="cycle-lock"><rect x="${n1(p.x - 60)}" y="${n1(p.y - 16)}" width="120" height="32" rx="16"/><text x="${n1(p.x)}" y="${n1(p.y + 5)}">${esc(clip(name, 18))}</text></g>`,
    );
  });
  return (
    `<figure class="cycle"><svg width="${w}" height="${h}" data-testid="lock-cycle">${out.join("")}</svg>` +
    `<figcaption>Lock order cycle: an arrow from A to B means a task took B while holding A. Each arrow is labelled with the task and step that took that order; together they can deadlock. Click an arrow, or a number below, to see it in the timeline, where its number marks the hold and the acquisition.</figcaption></figure>`
  );
}

/** The cycle's edges as a list: who held what while taking what, each a link to its place in the lanes. */
export function cycleEdges(places: CyclePlaces | null): string {
  if (places === null || places.edges.length === 0) return "";
  const items = places.edges.map((p) => {
    const e = p.edge;
    const button = p.inTrace
      ? `<button type="button" class="cycle-n" data-edge="${p.n}" data-testid="cycle-edge" title="show it in the timeline">${p.n}</button>`
      : `<button type="button" class="cycle-n" disabled data-testid="cycle-edge" title="not in this trace">${p.n}</button>`;
    return (
      `<li>${button} <b>${esc(e.task)}</b> took <code>${esc(e.to)}</code> (${esc(e.mode)}) at step ${e.step} while holding <code>${esc(e.from)}</code> (${esc(e.heldMode)}, since step ${e.heldStep})` +
      `${e.now ? ` <span class="badge bad">now</span>` : ""}${p.note === null ? "" : ` <span class="muted">(${esc(p.note)})</span>`}</li>`
    );
  });
  return `<ol class="cycle-edges">${items.join("")}</ol>`;
}

/** What happens at `step`: the schedule's rows, the events of the new trace version, locks held and waits. */
export function nowPanel(vm: ViewModel, step: number, state: ViewState): string {
  const rows = vm.rowsAt(step);
  const parts: string[] = [`<h2>At step <span data-testid="step">${step}</span></h2>`];
  if (rows.length === 0) parts.push(`<p class="muted">Nothing the schedule prints happens at this step.</p>`);
  else {
    parts.push(
      `<table class="rows">${rows
        .map(
          (r) =>
            `<tr class="${r.failure ? "failing" : ""}"><td class="task">${esc(r.task ?? "(outside any task)")}</td><td>${esc(r.text)}</td></tr>`,
        )
        .join("")}</table>`,
    );
  }
  const held = state.held;
  parts.push(
    `<h3>Locks held</h3>${
      held.length === 0
        ? `<p class="muted">none</p>`
        : `<ul>${held.map((h) => `<li><b>${esc(h.task)}</b> holds ${esc(h.obj)}${h.mode === "write" ? "" : ` (${esc(h.mode)})`}</li>`).join("")}</ul>`
    }`,
  );
  if (state.waiting.length > 0) {
    parts.push(
      `<h3>Waiting</h3><ul>${state.waiting.map((w) => `<li><b>${esc(w.task)}</b> waits on ${esc(w.on)}${w.why === "" ? "" : ` to ${esc(w.why)}`}</li>`).join("")}</ul>`,
    );
  }
  return parts.join("");
}

/** The story around `step`: a few moments before it, more after; those of `step` highlighted. */
export function storyPanel(vm: ViewModel, step: number, before = 6, after = 40): string {
  const story = vm.story;
  let lo = 0;
  let hi = story.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((story[mid] as { step: number }).step < step) lo = mid + 1;
    else hi = mid;
  }
  const from = Math.max(0, lo - before);
  const to = Math.min(story.length, lo + after);
  const items = story.slice(from, to).map((m) => {
    const cls = `${m.step === step ? "current" : m.step > step ? "future" : ""}${m.alert ? " alert" : ""} k-${m.kind}`;
    const task = vm.timeline.lanes[m.lane]?.name ?? "";
    return `<li class="${cls}" data-seek="${m.step}"><span class="step">${m.step}</span><span class="task">${esc(task)}</span><span class="text">${esc(vm.labels.marker(m))}</span></li>`;
  });
  return (
    `<h2>Story <span class="muted">(${story.length} moments; click one to go there)</span></h2>` +
    (from > 0 ? `<p class="muted">… ${from} earlier</p>` : "") +
    `<ol class="story">${items.join("")}</ol>` +
    (to < story.length ? `<p class="muted">… ${story.length - to} later</p>` : "")
  );
}
