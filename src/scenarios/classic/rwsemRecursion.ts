// rwsem read recursion: taking the read side again while a writer waits.

import { defineScenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { RwSemaphore } from "../../sync/rwSemaphore.js";

interface Sem {
  sem: RwSemaphore;
}

const setup = (k: Kernel): Sem => ({ sem: k.rwSemaphore("mmap_lock") });

const writer = async (w: Sem) => {
  await w.sem.downWrite();
  w.sem.upWrite();
};

/**
 * Broken: a writer that queues between the two read acquisitions blocks the second one (writers
 * block new readers), while it waits for the first: a deadlock. Lockdep flags the recursive read.
 */
export const rwsemRecursion = defineScenario({
  name: "classic/rwsem-recursion",
  description:
    "A reader takes mmap_lock for read and, deeper in the call chain, takes it for read again. A writer queued " +
    "in between blocks the second read (rwsem fairness) while waiting for the first: deadlock.",
  setup,
  tasks: {
    reader: async (w: Sem, k: Kernel) => {
      await w.sem.downRead();
      await k.point("in the read section");
      await w.sem.downRead();
      w.sem.upRead();
      w.sem.upRead();
    },
    writer,
  },
  expect: "lock-order",
  module: import.meta.url,
});

/** Correct: the reader takes the read side once and passes "locked" down the call chain. */
export const rwsemSingleRead = defineScenario({
  name: "classic/rwsem-single-read",
  description: "The reader takes mmap_lock for read once for the whole section; the writer waits its turn.",
  setup,
  tasks: {
    reader: async (w: Sem, k: Kernel) => {
      await w.sem.downRead();
      await k.point("in the read section");
      w.sem.upRead();
    },
    writer,
  },
  expect: "pass",
  module: import.meta.url,
});
