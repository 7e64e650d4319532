// The notifier state at the cursor: per address space, invalidate_seq (gseq) and what its parity
// means, the active invalidations, the deferred list, and each interval notifier with its own
// sequence value and what its reader last saw.

import { hexRange } from "../model/format.js";
import type { IntervalView, MmView, ViewState } from "../model/viewModel.js";
import { esc } from "./dom.js";

/** The panel's HTML. */
export function notifierPanel(state: ViewState, taskName: (id: number) => string): string {
  const withNotifiers = state.mms.filter((m) => m.subs !== null || m.intervals.length > 0);
  if (withNotifiers.length === 0) {
    return `<h2>Notifier state</h2><p class="muted">No notifier in this trace (or it predates the notifier events of trace version 2).</p>`;
  }
  return `<h2>Notifier state</h2>${withNotifiers.map((m) => mmNotifiers(m, taskName)).join("")}`;
}

function seqLine(seq: number | null): string {
  if (seq === null) return `<span class="muted">not known yet</span>`;
  const odd = seq % 2 === 1;
  return (
    `<span class="seq ${odd ? "odd" : "even"}" data-testid="gseq">${seq}</span> ` +
    (odd
      ? `<span class="parity odd">odd</span> <span class="muted">an invalidation that touches a notifier is running: the tree is frozen, and readBegin on a notifier it touched waits for it to end</span>`
      : `<span class="parity even">even</span> <span class="muted">no invalidation touches a notifier: readBegin does not wait</span>`)
  );
}

function mmNotifiers(m: MmView, taskName: (id: number) => string): string {
  const s = m.subs;
  const rows: string[] = [];
  rows.push(`<h3>${esc(m.name)}${s === null ? "" : ` <span class="muted">${esc(s.name)}</span>`}</h3>`);
  rows.push("<dl>");
  rows.push(`<dt>invalidate_seq</dt><dd>${seqLine(s?.seq ?? null)}</dd>`);
  rows.push(
    `<dt>active invalidations</dt><dd><span data-testid="active">${s?.active ?? "–"}</span>${
      m.invalidations.length === 0
        ? ""
        : `<ul>${m.invalidations
            .map(
              (r) =>
                `<li class="lit">${esc(r.event)} ${esc(hexRange(r.addr, r.end))} by <b>${esc(r.taskName)}</b>, since step ${r.since}</li>`,
            )
            .join("")}</ul>`
    }</dd>`,
  );
  rows.push(
    `<dt>deferred list</dt><dd>${
      s === null || s.deferred.length === 0
        ? `<span class="muted">empty</span>`
        : `<ol>${s.deferred.map((d) => `<li>${esc(d.name)} ${esc(d.membership.replace("pending-", ""))}</li>`).join("")}</ol>`
    }</dd>`,
  );
  rows.push("</dl>");
  if (m.intervals.length > 0) {
    rows.push(
      `<table class="intervals"><tr><th>interval notifier</th><th>range</th><th>state</th><th>seq</th><th>last seen</th></tr>`,
    );
    for (const iv of m.intervals) rows.push(intervalRow(iv, taskName));
    rows.push("</table>");
  }
  return `<div class="mm-notifiers">${rows.join("")}</div>`;
}

function intervalRow(iv: IntervalView, taskName: (id: number) => string): string {
  const seen: string[] = [];
  if (iv.lastCallback !== null) {
    const c = iv.lastCallback;
    seen.push(`callback ${esc(c.event)} cur_seq ${c.curSeq} (${esc(taskName(c.task))}, step ${c.step})`);
  }
  if (iv.lastReadBegin !== null) {
    const r = iv.lastReadBegin;
    seen.push(
      `readBegin → ${r.seq}${r.flag ? " after waiting" : ""} (${esc(taskName(r.task))}, step ${r.step})`,
    );
    // What readRetry would answer now, for the last readBegin.
    if (iv.seq !== null && (iv.lastReadRetry === null || iv.lastReadRetry.step < r.step)) {
      seen.push(
        iv.seq === r.seq
          ? `<span class="ok">readRetry(${r.seq}) now: false</span>`
          : `<span class="bad">readRetry(${r.seq}) now: true (seq moved to ${iv.seq})</span>`,
      );
    }
  }
  if (iv.lastReadRetry !== null) {
    const r = iv.lastReadRetry;
    seen.push(
      `<span class="${r.flag ? "bad" : "ok"}">readRetry(${r.seq}) → ${r.flag ? "true: retry" : "false"}</span> (${esc(taskName(r.task))}, step ${r.step})`,
    );
  }
  return (
    `<tr class="${iv.lit ? "lit" : ""}"><td>${esc(iv.name)}</td><td class="mono">${esc(hexRange(iv.start, iv.end))}</td>` +
    `<td>${esc(iv.membership)}${iv.lit ? ` <span class="badge lit">being invalidated</span>` : ""}</td>` +
    `<td data-testid="seq">${iv.seq ?? "–"}</td><td>${seen.join("<br>")}</td></tr>`
  );
}
