// Logical-time sleeps (kernel/time/timer.c's msleep, on the kernel's logical clock).

import { never } from "./scheduler.js";
import type { SyncKernel } from "./syncKernel.js";
import type { Task, Waitable } from "./task.js";

/** The object tasks block on in `kernel.msleep()`: only the clock ends those waits. */
export class Timer implements Waitable {
  readonly type = "timer";
  readonly name = "msleep";
  readonly id: number;

  constructor(readonly kernel: SyncKernel) {
    this.id = kernel.registerObject(this.type, this.name);
  }

  /** Sleeps until the logical clock has moved `ms` forward. */
  sleep(ms: number): Promise<void> | undefined {
    const k = this.kernel;
    const s = k.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    k.mightSleep("msleep", ms);
    const deadline = s.clock + ms;
    const sleep = (): Promise<void> | undefined =>
      ms === 0 ? undefined : s.block(k.waiter(), this, `sleep ${ms} ms`, deadline);
    if (t !== null && s.controlled) {
      const p = s.point(t, this.id, "msleep");
      if (p !== undefined) return p.then(sleep);
    }
    return sleep();
  }

  cancelWait(): void {}

  holders(): readonly Task[] {
    return [];
  }

  describeWait(): string {
    return "a timeout";
  }
}
