// The address space at the cursor, one block per mm on its own address axis: the interval notifiers
// (lit while an invalidation overlaps them), the areas, the CPU PTEs and each device's page table,
// stale device entries marked, and the active invalidations as bands across all rows.

import { type AddressAxis, buildAxis } from "../model/addressAxis.js";
import { hex, hexRange } from "../model/format.js";
import type { MmInfo, MmView, PteKind, ViewState } from "../model/viewModel.js";
import { clip, esc, n1 } from "./dom.js";

const LABEL_W = 120;
const ROW_H = 24;

const PTE_LABEL: Record<PteKind, string> = {
  "present-write": "present, writable",
  "present-read": "present, read-only",
  zero: "zero page",
  protnone: "PROT_NONE",
  swap: "swap entry",
  migration: "migration entry",
  "device-private": "device-private",
  "device-exclusive": "device-exclusive",
};

export class AddressPanel {
  private axes = new Map<number, AddressAxis | null>();
  private width = 0;

  constructor(private readonly mms: readonly MmInfo[]) {}

  /** The panel's HTML for `state`, `width` pixels wide. */
  render(state: ViewState, width: number): string {
    if (width !== this.width) {
      this.width = width;
      this.axes.clear();
    }
    const blocks: string[] = [];
    for (const m of state.mms) {
      const info = this.mms.find((x) => x.id === m.id);
      if (info === undefined) continue;
      let axis = this.axes.get(m.id);
      if (axis === undefined) {
        axis = buildAxis(info.ranges, width - LABEL_W - 16);
        this.axes.set(m.id, axis);
      }
      if (axis === null) continue;
      blocks.push(this.mmBlock(m, axis, width));
    }
    if (blocks.length === 0) {
      return `<h2>Address space</h2><p class="muted">This trace records no address space (a version-1 trace, or a scenario without one).</p>`;
    }
    return `<h2>Address space</h2>${blocks.join("")}${legend()}`;
  }

  private mmBlock(m: MmView, axis: AddressAxis, width: number): string {
    const x = (a: number) => LABEL_W + axis.x(a);
    const bar = (start: number, end: number, y: number, cls: string, label: string, title: string): string =>
      axis
        .pieces(start, end)
        .map(
          (p) =>
            `<g class="${cls}"><rect x="${n1(LABEL_W + p.x)}" y="${y + 3}" width="${n1(Math.max(p.width, 2))}" height="${ROW_H - 6}" rx="2"/>` +
            (p.width > 24
              ? `<text x="${n1(LABEL_W + p.x + 3)}" y="${y + 16}">${esc(clip(label, Math.floor(p.width / 6.5)))}</text>`
              : "") +
            `<title>${esc(title)}</title></g>`,
        )
        .join("");
    /** Each row: its label and what it draws at height y. */
    const rows: { label: string; draw: (y: number) => string }[] = [];
    // Interval notifiers, stacked where they overlap.
    const stack: number[] = [];
    const placed = m.intervals.map((iv) => {
      let r = stack.findIndex((end) => end <= iv.start);
      if (r < 0) r = stack.length;
      stack[r] = iv.end;
      return { iv, r };
    });
    for (let r = 0; r < Math.max(1, stack.length); r++) {
      rows.push({
        label: r === 0 ? "notifiers" : "",
        draw: (y) =>
          placed
            .filter((p) => p.r === r)
            .map(({ iv }) =>
              bar(
                iv.start,
                iv.end,
                y,
                `interval ${iv.membership}${iv.lit ? " lit" : ""}`,
                `${iv.name} seq ${iv.seq ?? "?"}`,
                `${iv.name} ${hexRange(iv.start, iv.end)}: ${iv.membership}, seq ${iv.seq ?? "?"}${iv.lit ? ", being invalidated" : ""}`,
              ),
            )
            .join(""),
      });
    }
    rows.push({
      label: "areas",
      draw: (y) =>
        m.areas
          .map((a) => bar(a.start, a.end, y, "area", a.prot, `area ${hexRange(a.start, a.end)} ${a.prot}`))
          .join(""),
    });
    rows.push({
      label: "CPU PTEs",
      draw: (y) =>
        m.ptes
          .map((p) =>
            bar(
              p.addr,
              p.addr + 4096,
              y,
              `pte ${p.kind}`,
              p.value === null ? "" : String(p.value),
              `PTE ${hex(p.addr)}: ${p.state}${p.value === null ? "" : `, ${p.kind === "swap" ? "slot" : "frame"} ${p.value}`}`,
            ),
          )
          .join(""),
    });
    for (const d of m.devices) {
      rows.push({
        label: `device ${d.name}`,
        draw: (y) =>
          d.entries
            .map((e) =>
              bar(
                e.addr,
                e.addr + 4096,
                y,
                `dev ${e.write ? "write" : "read"}${e.stale === null ? "" : " stale"}`,
                `${e.frame}${e.write ? " w" : ""}${e.stale === null ? "" : " STALE"}`,
                `${d.name} maps ${hex(e.addr)} to frame ${e.frame} ${e.write ? "writable" : "read-only"} (since step ${e.since})${e.stale === null ? "" : `: ${e.stale}`}`,
              ),
            )
            .join(""),
      });
    }
    const top = 4;
    const height = top + rows.length * ROW_H + 30;
    const out: string[] = [];
    rows.forEach((row, i) => {
      const y = top + i * ROW_H;
      out.push(
        `<rect class="space-row${i % 2 ? " odd" : ""}" x="0" y="${y}" width="${width}" height="${ROW_H}"/>`,
      );
      if (row.label !== "")
        out.push(`<text class="row-label" x="6" y="${y + 16}">${esc(clip(row.label, 18))}</text>`);
      out.push(row.draw(y));
    });
    // Active invalidations across every row.
    for (const r of m.invalidations) {
      for (const p of axis.pieces(r.addr, r.end)) {
        out.push(
          `<g class="inv-band"><rect x="${n1(LABEL_W + p.x)}" y="${top}" width="${n1(Math.max(p.width, 3))}" height="${rows.length * ROW_H}"/>` +
            `<title>${esc(`invalidation ${r.event} ${hexRange(r.addr, r.end)} by ${r.taskName}, since step ${r.since}`)}</title></g>`,
        );
      }
    }
    // The axis: each segment's bounds; a cut between segments.
    const ay = top + rows.length * ROW_H;
    for (const s of axis.segments) {
      out.push(
        `<line class="axis" x1="${n1(x(s.start))}" x2="${n1(x(s.end))}" y1="${ay + 2}" y2="${ay + 2}"/>`,
        `<text class="axis-label" x="${n1(x(s.start))}" y="${ay + 14}">${esc(hex(s.start))}</text>`,
      );
      if (s.width > 150)
        out.push(`<text class="axis-label end" x="${n1(x(s.end))}" y="${ay + 26}">${esc(hex(s.end))}</text>`);
    }
    for (let i = 1; i < axis.segments.length; i++) {
      const s = axis.segments[i] as { x: number };
      out.push(`<text class="axis-cut" x="${n1(LABEL_W + s.x - 14)}" y="${ay + 6}">≈</text>`);
    }
    const stale = m.devices.some((d) => d.entries.some((e) => e.stale !== null));
    return (
      `<div class="mm-block"><h3>${esc(m.name)}${stale ? ` <span class="badge bad" data-testid="stale">stale device entry</span>` : ""}</h3>` +
      `<svg class="space" width="${width}" height="${height}">${out.join("")}</svg></div>`
    );
  }
}

function legend(): string {
  const items = Object.entries(PTE_LABEL).map(
    ([k, v]) => `<span class="legend-item"><span class="swatch pte ${k}"></span>${esc(v)}</span>`,
  );
  items.push(
    `<span class="legend-item"><span class="swatch dev write"></span>device, writable</span>`,
    `<span class="legend-item"><span class="swatch dev read"></span>device, read-only</span>`,
    `<span class="legend-item"><span class="swatch dev stale"></span>stale device entry</span>`,
    `<span class="legend-item"><span class="swatch inv-band"></span>invalidation in progress</span>`,
    `<span class="legend-item"><span class="swatch interval lit"></span>notifier being invalidated</span>`,
  );
  return `<div class="legend">${items.join("")}</div>`;
}
