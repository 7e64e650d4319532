// The package's root Kernel: the sync world (tasks, primitives, lockdep, trace) plus address spaces.
// Later issues add physical memory and devices here without changing what is defined below.

import { Kernel as SyncKernel } from "../sync/kernel.js";
import { Mm, type MmOptions } from "./mm.js";

export type { KernelOptions } from "../sync/kernel.js";

/**
 * The simulated kernel (see the sync layer's Kernel for tasks, the runtime and the primitives),
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
