// AB-BA: two locks taken in opposite orders by two tasks.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mutex } from "../../sync/mutex.js";

interface Locks {
  a: Mutex;
  b: Mutex;
}

const take = (first: "a" | "b", second: "a" | "b") => async (w: Locks) => {
  await w[first].lock();
  await w[second].lock();
  w[second].unlock();
  w[first].unlock();
};

const setup = (k: Kernel): Locks => ({ a: k.mutex("lock_a"), b: k.mutex("lock_b") });

/**
 * Broken: the inversion deadlocks when each task holds its first lock; lockdep reports the cycle
 * as soon as both orders were seen, even in executions that did not deadlock.
 */
export const abba = defineScenario({
  name: "classic/abba",
  description:
    "Task t1 takes lock_a then lock_b, task t2 takes lock_b then lock_a. If each gets its first lock, both wait " +
    "forever; lockdep flags the inversion even when the timing is lucky.",
  setup,
  tasks: { t1: take("a", "b"), t2: take("b", "a") },
  expect: "lock-order",
  module: import.meta.url,
});

/** Correct: both tasks take the locks in the same order. */
export const ordered = defineScenario({
  name: "classic/ordered",
  description: "Both tasks take lock_a then lock_b: one global order, no cycle, no deadlock.",
  setup,
  tasks: { t1: take("a", "b"), t2: take("a", "b") },
  expect: "pass",
  module: import.meta.url,
});
