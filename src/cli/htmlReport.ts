// `mmun demo --html FILE`: the demo's table in one self-contained HTML file, the visualizer's page
// with every failing execution's trace inside, so each failure opens in place from the table (from
// disk, with no server).

import type { Failure } from "../explore/result.js";
import type { BundleCell, BundleReport, TraceBundle } from "../trace/bundle.js";
import type { Trace } from "../trace/schema.js";
import { withMeta } from "./traceMeta.js";
import { viewPageHtml, withBundle } from "./viewPage.js";

/** One cell of the table: what a strategy found on a scenario. */
export interface ReportCell {
  strategy: string;
  text: string;
  failure: Failure | undefined;
}

export interface ReportRow {
  scenario: string;
  description: string;
  expect: string;
  ok: boolean;
  cells: ReportCell[];
}

/** The HTML report: `rows` under `title` and `summary`, `notes` after. */
export async function htmlReport(
  title: string,
  summary: string,
  columns: string[],
  rows: ReportRow[],
  notes: string[],
): Promise<string> {
  const traces: Record<string, Trace> = {};
  const report: BundleReport = {
    title,
    summary,
    columns,
    notes,
    rows: rows.map((r) => ({
      scenario: r.scenario,
      description: r.description,
      expect: r.expect,
      ok: r.ok,
      cells: r.cells.map((c): BundleCell => {
        const f = c.failure;
        if (f === undefined) return { text: c.text };
        const name = `${r.scenario} (${c.strategy})`;
        traces[name] = withMeta(f.trace, r.scenario, f);
        return { text: c.text, trace: name, step: f.step, title: f.message };
      }),
    })),
  };
  const bundle: TraceBundle = { traces, report };
  return withBundle(await viewPageHtml(), bundle);
}
