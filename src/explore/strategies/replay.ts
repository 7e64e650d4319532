// The replay chooser: follows a recorded list of choices, then runs without preemption.

import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";

/** Options of {@link ReplayChooser}. */
export interface ReplayChooserOptions {
  /**
   * The recorded execution made no decision after its last choice (it failed there): a decision
   * past the end of the list is a divergence too. Default false (the list is a prefix, as in PCT's
   * calibration run, and the rest runs without preemption).
   */
  exact?: boolean;
}

/**
 * Replays `choices` (task ids, one per point with more than one runnable task, as recorded in
 * `ControlledScheduler.choices`). After the list ends it keeps the running task running when it
 * can, else the lowest id: the same deterministic tail every time.
 *
 * A recorded task that is not runnable means the scenario is not the one recorded (it changed, or
 * it is not deterministic): the chooser stops the execution there and says why in `divergence`,
 * instead of going on with some other schedule.
 */
export class ReplayChooser implements Chooser {
  /** Why the run left the recorded schedule, or null while it follows it. */
  divergence: string | null = null;
  private i = 0;
  private readonly exact: boolean;

  constructor(
    private readonly choices: readonly number[],
    options: ReplayChooserOptions = {},
  ) {
    this.exact = options.exact === true;
  }

  /** How many recorded choices were used so far. */
  get consumed(): number {
    return this.i;
  }

  /** How many choices were recorded. */
  get length(): number {
    return this.choices.length;
  }

  choose(enabled: readonly Task[], current: Task | null): number {
    const runnable = () => enabled.map((t) => `#${t.id} "${t.name}"`).join(", ");
    if (this.i < this.choices.length) {
      const id = this.choices[this.i++] as number;
      const at = enabled.findIndex((t) => t.id === id);
      if (at >= 0) return at;
      this.divergence =
        `at recorded choice ${this.i - 1} of ${this.choices.length}, task #${id} is not runnable ` +
        `(runnable: ${runnable()})`;
      return -1;
    }
    if (this.exact) {
      this.divergence =
        `after all ${this.choices.length} recorded choices the execution needs another ` +
        `(runnable: ${runnable()})`;
      return -1;
    }
    return Math.max(0, current === null ? -1 : enabled.indexOf(current));
  }
}
