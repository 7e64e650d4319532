// The seeded random strategy: at every choice, a uniformly random runnable task.

import { Rng } from "../../lib/rng.js";
import type { Strategy } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";

/** Picks uniformly at random among the runnable tasks, from a seeded generator. */
export class RandomStrategy implements Strategy {
  private readonly rng: Rng;

  constructor(seed: number | Rng) {
    this.rng = typeof seed === "number" ? new Rng(seed) : seed;
  }

  choose(enabled: readonly Task[]): number {
    return this.rng.int(enabled.length);
  }
}
