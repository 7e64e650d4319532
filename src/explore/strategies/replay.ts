// The replay chooser: follows a recorded list of choices, then runs without preemption.

import { MmunError } from "../../lib/errno.js";
import type { Chooser } from "../../sync/controlledScheduler.js";
import type { Task } from "../../sync/task.js";

/**
 * Replays `choices` (task ids, one per point with more than one runnable task, as recorded in
 * `ControlledScheduler.choices`). After the list ends it keeps the running task running when it
 * can, else the lowest id: the same deterministic tail every time. A recorded task that is not
 * runnable means the scenario is not the one recorded (it changed, or is not deterministic).
 */
export class ReplayChooser implements Chooser {
  private i = 0;

  constructor(private readonly choices: readonly number[]) {}

  /** How many recorded choices were used so far. */
  get consumed(): number {
    return this.i;
  }

  choose(enabled: readonly Task[], current: Task | null): number {
    if (this.i < this.choices.length) {
      const id = this.choices[this.i++] as number;
      const at = enabled.findIndex((t) => t.id === id);
      if (at < 0) {
        throw new MmunError(
          "EINVAL",
          `replay diverged at choice ${this.i - 1}: task #${id} is not runnable ` +
            `(runnable: ${enabled.map((t) => `#${t.id} ${t.name}`).join(", ")}); ` +
            "the scenario is not the one recorded, or it is not deterministic",
        );
      }
      return at;
    }
    return Math.max(0, current === null ? -1 : enabled.indexOf(current));
  }
}
