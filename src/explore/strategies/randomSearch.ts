// Random search: execution i picks uniformly at random, from a seed derived from (seed, i).

import type { Strategy } from "../../sync/controlledScheduler.js";
import { deriveSeed, type SearchStrategy } from "../searchStrategy.js";
import { RandomStrategy } from "./random.js";

/** Independent random schedules; execution i depends only on (seed, i), so any split is deterministic. */
export class RandomSearch implements SearchStrategy {
  readonly name = "random";
  readonly exhausted = false;
  readonly pruned = false;
  private index: number;

  constructor(
    private readonly seed: number,
    private readonly stride = 1,
    first = 0,
  ) {
    this.index = first - stride;
  }

  get orderKey(): number {
    return this.index;
  }

  next(): Strategy {
    this.index += this.stride;
    return new RandomStrategy(deriveSeed(this.seed, this.index));
  }

  finished(): void {}
}
