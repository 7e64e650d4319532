// Wrong lock: one task updates shared data under one lock, others under another (SCTBench's
// wronglock_bad, from the CHESS benchmarks: one funcA thread and seven funcB threads).

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mutex } from "../../sync/mutex.js";

interface Data {
  value: number;
  dataLock: Mutex;
  thisLock: Mutex;
  /** Set when the reader saw its own increment disturbed. */
  broken: string | null;
}

const setup = (k: Kernel): Data => ({
  value: 0,
  dataLock: k.mutex("data_lock"),
  thisLock: k.mutex("this_lock"),
  broken: null,
});

/** funcA: increments under data_lock and checks that nothing else moved the value meanwhile. */
const funcA = async (w: Data, k: Kernel) => {
  await w.dataLock.lock();
  const x = w.value;
  await k.point("after reading the value");
  w.value++;
  await k.point("before checking the increment");
  if (w.value !== x + 1) w.broken = `read ${x}, incremented it, and found ${w.value}`;
  w.dataLock.unlock();
};

/** funcB: increments under `which` lock (this_lock in the broken program, data_lock in the fixed one). */
const funcB = (which: "thisLock" | "dataLock") => async (w: Data, k: Kernel) => {
  const lock = w[which];
  await lock.lock();
  const v = w.value;
  await k.point("between reading and writing the value");
  w.value = v + 1;
  lock.unlock();
};

const check = (w: Data) => {
  if (w.broken !== null) throw new Error(`funcA ${w.broken}: the others increment under another lock`);
  return true;
};

const tasks = (which: "thisLock" | "dataLock") => {
  const t: Record<string, (w: Data, k: Kernel) => Promise<void>> = { funcA };
  for (let i = 1; i <= 7; i++) t[`funcB${i}`] = funcB(which);
  return t;
};

/** Broken: funcA holds data_lock while seven funcB tasks increment under this_lock. */
export const wrongLock = defineScenario({
  name: "classic/wrong-lock",
  description:
    "funcA increments a shared value under data_lock and checks that the value moved by exactly one; seven funcB " +
    "tasks increment it under this_lock, which does not exclude funcA. One delay of funcA after its read shows it; " +
    "preemption bound 0 alone has 8! orders of the eight tasks.",
  setup,
  tasks: tasks("thisLock"),
  check,
  expect: "check",
  module: import.meta.url,
});

/** Correct: every task increments under data_lock. */
export const sameLock = defineScenario({
  name: "classic/same-lock",
  description: "The wrong-lock program with every increment under data_lock: funcA's check always holds.",
  setup,
  tasks: tasks("dataLock"),
  check,
  expect: "pass",
  module: import.meta.url,
});
