// Shared helpers of the notifier tests: kernels, recording drivers, settling promises.

import type { Scenario } from "../../src/explore/scenario.js";
import { RandomChooser } from "../../src/explore/strategies/random.js";
import { Kernel, type KernelOptions } from "../../src/mm/kernel.js";
import type { Mm, MmOptions } from "../../src/mm/mm.js";
import { MmuIntervalNotifier, type MmuIntervalNotifierOps } from "../../src/notifier/intervalNotifier.js";
import {
  type MmuNotifierEvent,
  type MmuNotifierRange,
  mmuNotifierRangeInit,
} from "../../src/notifier/range.js";
import type { Mutex } from "../../src/sync/mutex.js";
import type { ReportKind } from "../../src/sync/report.js";

/** A direct-runtime kernel and one mm. */
export function world(options: KernelOptions = {}, mmOptions: MmOptions = {}): { k: Kernel; mm: Mm } {
  const k = new Kernel({ runtime: "direct", ...options });
  return { k, mm: k.createMm(mmOptions) };
}

/** A controlled-runtime kernel driven by the random strategy with `seed`. */
export function controlledKernel(seed: number, options: KernelOptions = {}): Kernel {
  return new Kernel({
    runtime: "controlled",
    chooser: new RandomChooser(seed),
    maxSteps: 20_000,
    ...options,
  });
}

/** One invalidate callback as a driver saw it. */
export interface Call {
  sub: string;
  start: number;
  end: number;
  event: MmuNotifierEvent;
  blockable: boolean;
  cur: number;
}

/**
 * A well-behaved driver: records every call in `log`, calls setSeq (under `lock` when given, taking
 * it unconditionally, as a blockable driver does) and returns `result` (default true).
 */
export function recordingOps(
  log: Call[],
  name: string,
  options: { lock?: Mutex; result?: boolean | (() => boolean); setSeq?: boolean } = {},
): MmuIntervalNotifierOps<Mm> {
  const { lock, setSeq = true } = options;
  const result = options.result ?? true;
  const res = () => (typeof result === "function" ? result() : result);
  return {
    name,
    invalidate(sub, range, cur) {
      log.push({
        sub: name,
        start: range.start,
        end: range.end,
        event: range.event,
        blockable: range.blockable,
        cur,
      });
      if (lock === undefined) {
        if (setSeq) sub.setSeq(cur);
        return res();
      }
      if (!range.blockable) {
        if (!lock.trylock()) return false;
        if (setSeq) sub.setSeq(cur);
        lock.unlock();
        return res();
      }
      const p = lock.lock();
      const body = () => {
        if (setSeq) sub.setSeq(cur);
        lock.unlock();
        return res();
      };
      return p === undefined ? body() : p.then(body);
    },
  };
}

/** Inserts `[start, start + length - 1]` with recording ops named `name`. */
export async function insertRecorded(
  mm: Mm,
  log: Call[],
  name: string,
  start: number,
  length: number,
  options: Parameters<typeof recordingOps>[2] = {},
): Promise<MmuIntervalNotifier<Mm>> {
  return await MmuIntervalNotifier.insert(mm, start, length, recordingOps(log, name, options));
}

/** A range of `event` (default UNMAP) over [start, end). */
export function range(mm: Mm, start: number, end: number, event: MmuNotifierEvent = 0): MmuNotifierRange {
  return mmuNotifierRangeInit(event, mm, start, end);
}

/** Lets every pending promise continuation run (outside-task waiters are resolved by microtasks). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Tracks whether a promise (or value) has settled. */
export function track<T>(v: T | Promise<T>): { done: boolean; value: T | undefined; error: unknown } {
  const t = { done: false, value: undefined as T | undefined, error: undefined as unknown };
  if (v instanceof Promise) {
    v.then(
      (x) => {
        t.done = true;
        t.value = x;
      },
      (e: unknown) => {
        t.done = true;
        t.error = e;
      },
    );
  } else {
    t.done = true;
    t.value = v;
  }
  return t;
}

/** The messages of the reports of `kind`. */
export function reportsOf(k: Kernel, kind: ReportKind): string[] {
  return k.reports.filter((r) => r.kind === kind).map((r) => r.message);
}

/** Captures what an async function rejects (or throws) with; fails when it resolves. */
export async function rejection(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

/** Result of one run of a scenario. */
export interface ScenarioRun<W> {
  world: W;
  kernel: Kernel;
  /** Non-warning reports and oracle violations. */
  failures: string[];
}

/**
 * Runs `scenario` once on a controlled kernel driven by the random strategy with `seed`, keeping
 * its world for inspection (the explorer keeps only failures). Its oracles record what they saw in
 * `world.violations`.
 */
export async function runScenario<W extends { violations: string[] }>(
  scenario: Scenario<W, Kernel>,
  seed: number,
): Promise<ScenarioRun<W>> {
  const kernel = controlledKernel(seed);
  const world = await scenario.setup(kernel);
  for (const name of scenario.taskNames) {
    const task = scenario.tasks[name] as (w: W, k: Kernel) => Promise<void> | void;
    kernel.spawn(name, () => task(world, kernel));
  }
  await kernel.run().catch(() => undefined);
  const failures = kernel.reports.filter((r) => r.kind !== "warn").map((r) => `[${r.kind}] ${r.message}`);
  try {
    await scenario.check?.(world, kernel);
  } catch {
    // The check threw because of the violations it recorded, listed below.
  }
  failures.push(...world.violations);
  return { world, kernel, failures: [...new Set(failures)] };
}
