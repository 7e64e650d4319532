// Random search: execution i picks uniformly at random, from a seed derived from (seed, i).

import type { Strategy } from "../../sync/controlledScheduler.js";
import { SeededSearch } from "../searchStrategy.js";
import { RandomStrategy } from "./random.js";

/** Independent random schedules; execution i depends only on (seed, i), so any split is deterministic. */
export class RandomSearch extends SeededSearch {
  readonly name = "random";

  protected make(seed: number): Strategy {
    return new RandomStrategy(seed);
  }
}
