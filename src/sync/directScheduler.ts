// The direct scheduler: plain promises, FIFO wake-up, switching only when the running task waits.

import { never, Scheduler } from "./scheduler.js";
import type { Task } from "./task.js";

/**
 * The default runtime for library use, the CLI and demos. Operations never switch tasks by
 * themselves: the running task keeps the CPU until it blocks, yields (`kernel.point()`) or ends, and
 * the next task is the one that became runnable first (FIFO). An uncontended operation therefore
 * completes synchronously, without a promise.
 */
export class DirectScheduler extends Scheduler {
  readonly controlled = false;
  private queue: Task[] = [];
  private head = 0;

  point(_task: Task, _objId: number, _op: string): undefined {
    return undefined;
  }

  yield(task: Task, _label: string): Promise<void> | undefined {
    if (this.aborted) return never();
    if (this.head === this.queue.length) return undefined;
    task.state = "runnable";
    this.enqueue(task);
    const p = task.park();
    this.current = null;
    this.reschedule();
    return p;
  }

  /** FIFO is fair already: the spinning task goes behind every runnable one. */
  spin(task: Task, label: string): Promise<void> | undefined {
    return this.yield(task, label);
  }

  protected enqueue(task: Task): void {
    this.queue.push(task);
  }

  protected pickNext(): Task | null {
    if (this.head === this.queue.length) return null;
    const t = this.queue[this.head++] as Task;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return t;
  }
}
