// The package's root Kernel: the sync layer's SyncKernel (tasks, primitives, lockdep, trace) plus address spaces.

import { SyncKernel } from "../sync/syncKernel.js";
import { Mm, type MmOptions } from "./mm.js";

export type { KernelOptions } from "../sync/syncKernel.js";

/**
 * The simulated kernel (see SyncKernel for tasks, the runtime and the primitives),
 * which can also create address spaces.
 */
export class Kernel extends SyncKernel {
  /**
   * `mm_alloc()`: a new address space with one user (the caller: pair with `mm.mmput()`) and no
   * notifiers.
   */
  createMm(options: MmOptions = {}): Mm {
    return new Mm(this, options);
  }
}
