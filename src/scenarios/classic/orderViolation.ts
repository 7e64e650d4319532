// An order violation that needs two preemptions: a long transaction inside a short-lived window.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mutex } from "../../sync/mutex.js";

/** Producer steps, and the step at which the window opens (it closes one step later). */
const PRODUCER_STEPS = 3;
const OPEN_AT = 2;
/** Consumer steps, and how many consecutive "open" observations make a transaction. */
const CONSUMER_STEPS = 18;
const TRANSACTION = 14;

interface Window {
  phase: "idle" | "open" | "closed";
  /** Consecutive observations of "open" by the consumer. */
  run: number;
  /** Set when a completed transaction saw the window close right after it. */
  torn: boolean;
  lock: Mutex;
}

const setup = (k: Kernel): Window => ({ phase: "idle", run: 0, torn: false, lock: k.mutex("window_lock") });

const producer = (locked: boolean) => async (w: Window, k: Kernel) => {
  for (let i = 1; i <= PRODUCER_STEPS; i++) {
    await k.point();
    if (i === OPEN_AT) {
      if (locked) await w.lock.lock();
      w.phase = "open";
    } else if (i === OPEN_AT + 1) {
      w.phase = "closed";
      if (locked) w.lock.unlock();
    }
  }
};

const consumer = (locked: boolean) => async (w: Window, k: Kernel) => {
  // The fixed consumer holds the window lock for its whole run of observations.
  if (locked) await w.lock.lock();
  for (let i = 1; i <= CONSUMER_STEPS; i++) {
    await k.point();
    if (w.phase === "open") w.run++;
    else {
      if (w.phase === "closed" && w.run >= TRANSACTION) w.torn = true;
      w.run = 0;
    }
  }
  if (locked) w.lock.unlock();
};

const check = (w: Window) => {
  if (w.torn) throw new Error(`a ${TRANSACTION}-step transaction ran inside the window and saw it close`);
  return true;
};

/**
 * Broken: the consumer must start right after the window opens (preemption 1), run its whole
 * transaction while the producer waits, and be preempted (preemption 2) for the producer to close
 * the window before the consumer's next step. Uniform random scheduling rarely produces that;
 * PCT with depth 3 and DFS with a preemption bound of 2 do.
 */
export const orderViolation = defineScenario({
  name: "classic/order-violation",
  description:
    "The producer opens a window for one step; the consumer counts consecutive steps that see it open. The bug " +
    `(a ${TRANSACTION}-step transaction inside the window, then the close) needs two preemptions at exact places.`,
  setup,
  tasks: { producer: producer(false), consumer: consumer(false) },
  check,
  expect: "check",
  module: import.meta.url,
});

/** Correct: the window is opened and closed under a lock the consumer holds while it looks. */
export const orderedWindow = defineScenario({
  name: "classic/ordered-window",
  description:
    "The producer holds window_lock from open to close and the consumer holds it for its whole transaction: " +
    "the window can never close under a transaction.",
  setup,
  tasks: { producer: producer(true), consumer: consumer(true) },
  check,
  expect: "pass",
  module: import.meta.url,
});
