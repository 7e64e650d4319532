// Traces bundled for the visualizer: what `mmun view` and `mmun demo --html` put in the page, and
// what the page reads (web/). A bundle names its traces; the page's address names one of them and a
// step (`#trace=<name>&step=<n>`), so a link reproduces a view.

import type { Trace } from "./schema.js";

/** The traces a page shows, and the demo's table when it is a report. */
export interface TraceBundle {
  /** Traces by name. */
  traces: Record<string, Trace>;
  /** The trace to open when the address names none (and there is no report to show). */
  open?: string;
  /** The demo's table: each failing cell links to its trace. */
  report?: BundleReport;
}

/** One cell of the report's table; `trace` (and the step to open it at) when it is a failure to look at. */
export interface BundleCell {
  text: string;
  trace?: string;
  step?: number;
  /** More text, shown on hover (the failure's message). */
  title?: string;
}

export interface BundleRow {
  scenario: string;
  description: string;
  expect: string;
  ok: boolean;
  cells: BundleCell[];
}

export interface BundleReport {
  title: string;
  /** A paragraph under the title: what was run. */
  summary: string;
  /** Headers of the cells, e.g. the strategies. */
  columns: string[];
  rows: BundleRow[];
  /** Lines under the table (the self-test's totals). */
  notes: string[];
}
