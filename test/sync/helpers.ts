// Shared helpers of the runtime tests (src/sync): kernels for both schedulers, report queries.

import { RandomChooser } from "../../src/explore/strategies/random.js";
import type { Report, ReportKind } from "../../src/sync/report.js";
import { type KernelOptions, SyncKernel } from "../../src/sync/syncKernel.js";

export type RuntimeName = "direct" | "controlled";

/** Both runtimes, for `describe.each`. */
export const RUNTIMES: readonly RuntimeName[] = ["direct", "controlled"];

/** Seeds a controlled-runtime property runs through (0..SEEDS-1). */
export const SEEDS = 200;

/** A kernel on `runtime`; the controlled one is driven by the random strategy seeded with `seed`. */
export function makeKernel(runtime: RuntimeName, seed = 0, options: KernelOptions = {}): SyncKernel {
  if (runtime === "direct") return new SyncKernel({ ...options, runtime: "direct" });
  return new SyncKernel({ ...options, runtime: "controlled", chooser: new RandomChooser(seed) });
}

/** The seeds to try on `runtime`: the direct runtime is deterministic, so one run is enough. */
export function seedsFor(runtime: RuntimeName, n = SEEDS): number[] {
  return runtime === "direct" ? [0] : Array.from({ length: n }, (_, i) => i);
}

/** The reports of `kind` raised by `k`. */
export function reportsOf(k: SyncKernel, kind: ReportKind): Report[] {
  return k.reports.filter((r) => r.kind === kind);
}

/** The kinds of every report raised by `k`, in order. */
export function kinds(k: SyncKernel): ReportKind[] {
  return k.reports.map((r) => r.kind);
}

/** Runs `k` and returns what `run()` rejected with; fails the test when it resolved. */
export async function runRejects(k: SyncKernel): Promise<unknown> {
  try {
    await k.run();
  } catch (e) {
    return e;
  }
  throw new Error(`run() resolved, expected it to reject; reports: ${JSON.stringify(k.reports)}`);
}

/** Runs `k` ignoring how it ended (the test inspects `k.reports`). */
export async function runSettled(k: SyncKernel): Promise<void> {
  await k.run().catch(() => undefined);
}

/**
 * Spawns task "again", which takes `lock`, tries to take it a second time (what that throws lands in
 * `out.caught`), and releases it: the self-deadlock that mutexes and spinlocks must detect.
 */
export function spawnRelock(
  k: SyncKernel,
  lock: { lock(): Promise<void> | undefined; unlock(): void },
): {
  caught: unknown;
} {
  const out: { caught: unknown } = { caught: undefined };
  k.spawn("again", async () => {
    await lock.lock();
    try {
      await lock.lock();
    } catch (e) {
      out.caught = e;
    }
    lock.unlock();
  });
  return out;
}
