// The classic lost update: a read-modify-write of shared data split by a scheduling point.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mutex } from "../../sync/mutex.js";

interface Counter {
  value: number;
  lock: Mutex;
}

const increment = (locked: boolean) => async (w: Counter, k: Kernel) => {
  if (locked) await w.lock.lock();
  const v = w.value;
  await k.point("between read and write");
  w.value = v + 1;
  if (locked) w.lock.unlock();
};

const check = (w: Counter) => {
  if (w.value !== 2) throw new Error(`two increments left the counter at ${w.value}: an update was lost`);
  return true;
};

/** Broken: two tasks increment without a lock; one increment can overwrite the other. */
export const lostUpdate = defineScenario({
  name: "classic/lost-update",
  description:
    "Two tasks increment a shared counter by reading it, yielding, then writing it back, without a lock. " +
    "If the second reads before the first writes, one increment is lost.",
  setup: (k: Kernel): Counter => ({ value: 0, lock: k.mutex("counter_lock") }),
  tasks: { inc1: increment(false), inc2: increment(false) },
  check,
  expect: "check",
  module: import.meta.url,
});

/** Correct: the same increments under a mutex. */
export const lockedUpdate = defineScenario({
  name: "classic/locked-update",
  description: "The lost-update increments, each under the counter's mutex: no interleaving loses one.",
  setup: (k: Kernel): Counter => ({ value: 0, lock: k.mutex("counter_lock") }),
  tasks: { inc1: increment(true), inc2: increment(true) },
  check,
  expect: "pass",
  module: import.meta.url,
});
