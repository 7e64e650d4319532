// Shared benchmark harness: tinybench for the timing, a plain table for the output.
// Wall-clock time is fine here: bench/ is outside the deterministic core.

import { Bench } from "tinybench";

export interface Measurement {
  /** Operations per second (an "operation" is whatever the caller counts in `opsPerCall`). */
  opsPerSec: number;
  /** Mean nanoseconds per operation. */
  nsPerOp: number;
  /** Relative margin of error of the per-call latency, in percent. */
  rme: number;
  /** Number of timed calls. */
  samples: number;
}

export interface MeasureOptions {
  /** How many operations one call of `fn` performs (batching hides the timer's resolution). */
  opsPerCall?: number;
  /** Time budget in ms (default 400; `BENCH_TIME` overrides). */
  time?: number;
  /** Minimum number of timed calls (default 5). */
  iterations?: number;
  /** Runs before every timed call, untimed (e.g. rebuild the structure a removal consumes). */
  beforeEach?: () => void | Promise<void>;
  /** Warm-up calls before timing (default true); turn off for calls that take seconds each. */
  warmup?: boolean;
}

const defaultTime = Number(process.env.BENCH_TIME ?? 400);

/** Times `fn` and returns its throughput. */
export async function measure(
  name: string,
  fn: () => unknown,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const opsPerCall = options.opsPerCall ?? 1;
  const bench = new Bench({
    name,
    time: options.time ?? defaultTime,
    iterations: options.iterations ?? 5,
    warmupTime: Math.min(100, (options.time ?? defaultTime) / 4),
    warmupIterations: 2,
    warmup: options.warmup ?? true,
  });
  const isAsync = fn.constructor.name === "AsyncFunction";
  bench.add(name, fn, {
    async: isAsync,
    ...(options.beforeEach ? { beforeEach: options.beforeEach } : {}),
  });
  await bench.run();
  const task = bench.tasks[0];
  const result = task?.result;
  if (!result || !("period" in result)) {
    const why = result && "error" in result ? String(result.error) : "no result";
    throw new Error(`benchmark ${name} failed: ${why}`);
  }
  const msPerCall = result.period;
  const nsPerOp = (msPerCall * 1e6) / opsPerCall;
  return {
    opsPerSec: 1e9 / nsPerOp,
    nsPerOp,
    rme: result.latency.rme,
    samples: result.latency.samplesCount,
  };
}

/** Forces a full collection when node runs with --expose-gc (npm run bench does). */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/** Bytes of JS heap plus ArrayBuffer memory in use, after a full collection. */
export function memoryInUse(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes retained by what `build` returns (heap + ArrayBuffers), measured as a delta. */
export function retainedBytes<T>(build: () => T): { bytes: number; value: T } {
  const before = memoryInUse();
  const value = build();
  const after = memoryInUse();
  return { bytes: after - before, value };
}

/** Formats a number with thousands separators and `digits` significant decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Formats a ratio as "12.3x". */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "-";
  return `${r >= 100 ? fmt(r, 0) : r.toFixed(1)}x`;
}

/** Prints a table with a title; every row has one cell per column. */
export function printTable(title: string, columns: string[], rows: string[][]): void {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ");
  console.log(`\n${title}`);
  console.log(line(columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}
