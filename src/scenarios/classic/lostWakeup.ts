// The lost wake-up: testing a condition, then sleeping without the wait queue re-checking it.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { WaitQueue } from "../../sync/waitQueue.js";

interface Flag {
  ready: boolean;
  wq: WaitQueue;
}

const setup = (k: Kernel): Flag => ({ ready: false, wq: k.waitQueue("ready_wq") });

const waker = async (w: Flag) => {
  w.ready = true;
  w.wq.wakeUpAll();
};

/** Broken: the waker can run between the waiter's test and its sleep; the wake-up is lost. */
export const lostWakeup = defineScenario({
  name: "classic/lost-wakeup",
  description:
    "The waiter tests a flag and, if it is clear, sleeps with sleep_on(); the waker sets the flag and wakes the " +
    "queue. If the wake-up lands between the test and the sleep, the waiter sleeps forever (why Linux removed sleep_on).",
  setup,
  tasks: {
    waiter: async (w: Flag, k: Kernel) => {
      if (!w.ready) {
        await k.point("after testing the flag");
        await w.wq.sleepOn();
      }
    },
    waker,
  },
  expect: "deadlock",
  module: import.meta.url,
});

/** Correct: wait_event re-checks the condition atomically with going to sleep. */
export const waitEventFlag = defineScenario({
  name: "classic/wait-event",
  description:
    "The waiter uses wait_event(ready_wq, ready): the test and the sleep are one step, nothing is lost.",
  setup,
  tasks: {
    waiter: async (w: Flag) => {
      await w.wq.waitEvent(() => w.ready);
    },
    waker,
  },
  expect: "pass",
  module: import.meta.url,
});
