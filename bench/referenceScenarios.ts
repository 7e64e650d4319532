// Scenarios the explorer benchmark runs (in a module of their own so worker threads can load them).

import { defineScenario } from "../src/explore/scenario.js";
import type { Mutex } from "../src/sync/mutex.js";
import type { SyncKernel } from "../src/sync/syncKernel.js";

/** n tasks, each taking and releasing one shared mutex `pairs` times. */
export function lockPairs(tasks: number, pairs = 10) {
  return defineScenario({
    name: `bench/lock-pairs-${tasks}x${pairs}`,
    description: `${tasks} tasks x ${pairs} lock/unlock pairs on one mutex`,
    setup: (k: SyncKernel) => ({ m: k.mutex("m") }),
    tasks: Object.fromEntries(
      Array.from({ length: tasks }, (_, i) => [
        `t${i}`,
        async (w: { m: Mutex }) => {
          for (let j = 0; j < pairs; j++) {
            await w.m.lock();
            w.m.unlock();
          }
        },
      ]),
    ),
    module: import.meta.url,
  });
}

export const lockPairs2 = lockPairs(2);
export const lockPairs3 = lockPairs(3);
