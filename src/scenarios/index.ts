// The registry of built-in scenarios: what `mmun list` shows and `mmun check <name>` runs.

import type { Scenario } from "../explore/scenario.js";
import type { Kernel } from "../mm/kernel.js";
import { abba, ordered } from "./classic/abba.js";
import { fenceChain, fenceCycle, fenceUnderLock } from "./classic/fenceCycle.js";
import { lockedUpdate, lostUpdate } from "./classic/lostUpdate.js";
import { lostWakeup, waitEventFlag } from "./classic/lostWakeup.js";
import { orderedWindow, orderViolation } from "./classic/orderViolation.js";
import { rwsemRecursion, rwsemSingleRead } from "./classic/rwsemRecursion.js";
import { forkVsWrite } from "./mm/forkVsWrite.js";
import { mirrorVsMunmap } from "./mm/mirrorVsUnmap.js";
import { munmapVsWriteFault } from "./mm/munmapVsFault.js";

/** Every built-in scenario, broken and correct, in display order. */
export const builtinScenarios: readonly Scenario<unknown, Kernel>[] = [
  lostUpdate,
  lockedUpdate,
  abba,
  ordered,
  lostWakeup,
  waitEventFlag,
  rwsemRecursion,
  rwsemSingleRead,
  fenceCycle,
  fenceChain,
  fenceUnderLock,
  orderViolation,
  orderedWindow,
  munmapVsWriteFault,
  forkVsWrite,
  mirrorVsMunmap,
];

/** The built-in scenario named `name`, or undefined. */
export function builtinScenario(name: string): Scenario<unknown, Kernel> | undefined {
  return builtinScenarios.find((s) => s.name === name);
}
