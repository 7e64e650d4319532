// The HMM self-test suite as one list: the kernel's hmm-tests.c (hmmTests.ts, every case under every
// variant of its fixture, kselftest's order) followed by the conformance cases of kernel-tests.md §4
// (conformance.ts: A-D, conformanceDevice.ts: E-G). What `mmun selftest` prints as TAP and
// test/selftests/hmm.test.ts runs.

import { conformanceInstances } from "./conformance.js";
import { deviceConformanceInstances } from "./conformanceDevice.js";
import {
  instancesOf,
  type RunOptions,
  runSelftest,
  type SelftestInstance,
  type SelftestOutcome,
} from "./harness.js";
import { hmmTests } from "./hmmTests.js";

/** Every instance of the suite, in order. */
export function selftestInstances(): SelftestInstance[] {
  return [...instancesOf(hmmTests), ...conformanceInstances(), ...deviceConformanceInstances()];
}

/** One instance's result, numbered from 1 as in the TAP stream. */
export interface SelftestResult {
  n: number;
  instance: SelftestInstance;
  outcome: SelftestOutcome;
}

/** Passed, failed and skipped instances. */
export interface SelftestTotals {
  pass: number;
  fail: number;
  skip: number;
}

/** Options of {@link runSelftests}. */
export interface RunSelftestsOptions extends RunOptions {
  /** Run only the instances whose id contains this string. */
  filter?: string;
  /** Called after each instance, in order. */
  onResult?: (result: SelftestResult) => void;
}

/** Runs the suite (or the instances `filter` picks); never throws for a failing case. */
export async function runSelftests(
  options: RunSelftestsOptions = {},
): Promise<{ results: SelftestResult[]; totals: SelftestTotals }> {
  const filter = options.filter;
  const picked = selftestInstances().filter((i) => filter === undefined || i.id.includes(filter));
  const results: SelftestResult[] = [];
  const totals: SelftestTotals = { pass: 0, fail: 0, skip: 0 };
  for (const [i, instance] of picked.entries()) {
    const outcome = await runSelftest(instance, options.seed === undefined ? {} : { seed: options.seed });
    const result = { n: i + 1, instance, outcome };
    totals[outcome.status]++;
    results.push(result);
    options.onResult?.(result);
  }
  return { results, totals };
}
