// Reorder: setters write two variables in turn, a checker reads them without a lock (SCTBench's
// reorder_N_bad, from the CHESS and ESBMC benchmarks: N-1 setters and one checker, 2 to 100 threads).

import { defineScenario, type Scenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mutex } from "../../sync/mutex.js";

interface Pair {
  a: number;
  b: number;
  /** What the checker read, once it has. */
  seen: { a: number; b: number } | null;
  lock: Mutex;
}

const setup = (k: Kernel): Pair => ({ a: 0, b: 0, seen: null, lock: k.mutex("pair_lock") });

const setter = (locked: boolean) => async (w: Pair, k: Kernel) => {
  if (locked) await w.lock.lock();
  w.a = 1;
  await k.point("between a = 1 and b = -1");
  w.b = -1;
  if (locked) w.lock.unlock();
};

const checker = (locked: boolean) => async (w: Pair, k: Kernel) => {
  if (locked) await w.lock.lock();
  const a = w.a;
  await k.point("between reading a and b");
  w.seen = { a, b: w.b };
  if (locked) w.lock.unlock();
};

/** Every setter writes (a, b) = (1, -1): the checker must see (0, 0) or (1, -1), nothing else. */
const check = (w: Pair) => {
  const s = w.seen;
  if (s !== null && !((s.a === 0 && s.b === 0) || (s.a === 1 && s.b === -1))) {
    throw new Error(`the checker read a = ${s.a} and b = ${s.b}: a setter's two writes were seen apart`);
  }
  return true;
};

/**
 * `threads` tasks: the checker, spawned first, and `threads - 1` setters. (The original creates the
 * setters first. The order does not matter to random or PCT search, but delay bounding's round robin
 * follows spawn order: spawned first, the checker reads a, is delayed once, and reads b after the
 * setters ran; spawned last, every setter would have to be skipped, one delay each.)
 */
function reorder(threads: number, locked: boolean): Scenario<Pair, Kernel> {
  const tasks: Record<string, (w: Pair, k: Kernel) => Promise<void>> = { check: checker(locked) };
  for (let i = 1; i < threads; i++) tasks[`set${i}`] = setter(locked);
  return defineScenario({
    name: locked ? `classic/reorder-locked-${threads}` : `classic/reorder-${threads}`,
    description: locked
      ? `The reorder program with ${threads} tasks, each setter writing a and b under one mutex and the checker ` +
        "reading both under it: it sees (0, 0) or (1, -1), never a mix."
      : `${threads - 1} setters each write a = 1 then b = -1; a checker reads a then b, without a lock, and expects ` +
        "(0, 0) or (1, -1). Reading a before any setter and b after one (or a between a setter's writes) sees a mix. " +
        "One preemption or one delay shows it, but preemption-bounded DFS spends its budget reordering whole setters.",
    setup,
    tasks,
    check,
    expect: locked ? "pass" : "check",
    module: import.meta.url,
  });
}

/** Broken: 9 setters and a checker (SCTBench's reorder_10). */
export const reorder10 = reorder(10, false);
/** Broken: 19 setters and a checker (SCTBench's reorder_20). */
export const reorder20 = reorder(20, false);
/** Correct: reorder_10 with the writes and the reads under one mutex. */
export const reorderLocked10 = reorder(10, true);
