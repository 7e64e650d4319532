// The demo's report: every scenario, what it is expected to show and what each strategy found; each
// failure links to its trace in the same page.

import type { BundleReport } from "../../../src/trace/bundle.js";
import { esc } from "./dom.js";

/** The report's HTML. */
export function reportView(r: BundleReport): string {
  const head = `<tr><th>scenario</th><th>expected</th>${r.columns.map((c) => `<th>${esc(c)}</th>`).join("")}<th>verdict</th></tr>`;
  const body = r.rows
    .map((row) => {
      const cells = row.cells
        .map((c) => {
          const title = c.title === undefined ? "" : ` title="${esc(c.title)}"`;
          if (c.trace === undefined) return `<td${title}>${esc(c.text)}</td>`;
          const href = `#trace=${encodeURIComponent(c.trace)}${c.step === undefined ? "" : `&step=${c.step}`}`;
          return `<td class="found"${title}><a href="${esc(href)}" data-testid="view-link">${esc(c.text)} ▸ view</a></td>`;
        })
        .join("");
      return (
        `<tr class="${row.ok ? "" : "unexpected"}"><td><b>${esc(row.scenario)}</b><div class="muted desc">${esc(row.description)}</div></td>` +
        `<td>${esc(row.expect)}</td>${cells}<td class="${row.ok ? "ok" : "bad"}">${row.ok ? "ok" : "UNEXPECTED"}</td></tr>`
      );
    })
    .join("");
  return (
    `<h1>${esc(r.title)}</h1><p>${esc(r.summary)}</p>` +
    `<p class="howto">Each scenario is a small concurrent program (CPU tasks, device fault handlers, jobs) run under many interleavings. ` +
    `A cell shows what a strategy found: <b>pass</b>, or the kind of failure with the execution that found it. ` +
    `Click <b>view</b> to watch that execution step by step: who held which lock, when the notifier's sequence number went odd and even, ` +
    `what the CPU and the device mapped, and where it went wrong.</p>` +
    `<table class="report">${head}${body}</table>` +
    r.notes.map((n) => `<p class="muted">${esc(n)}</p>`).join("")
  );
}
