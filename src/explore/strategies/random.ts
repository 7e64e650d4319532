// Random search: at every decision a uniformly random runnable task; execution i draws from a seed
// derived from (seed, i), so any split of the search is deterministic.

import { Rng } from "../../lib/rng.js";
import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";
import { SeededSearch } from "../search.js";

/** Picks uniformly at random among the runnable tasks, from a seeded generator. */
export class RandomChooser implements Chooser {
  private readonly rng: Rng;

  constructor(seed: number | Rng) {
    this.rng = typeof seed === "number" ? new Rng(seed) : seed;
  }

  choose(enabled: readonly Task[]): number {
    return this.rng.int(enabled.length);
  }
}

/** Independent random schedules; execution i depends only on (seed, i). */
export class RandomSearch extends SeededSearch {
  readonly name = "random";

  protected make(seed: number): Chooser {
    return new RandomChooser(seed);
  }
}
