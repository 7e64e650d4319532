// The registry of built-in scenarios: what `mmun list` shows, `mmun check <name>` runs and
// `mmun demo` explores: the classic concurrency bugs, the notifier's own protocol, the dmirror
// device's READ racing the mm, and the driver patterns (ptlock, cmdq, fence) with their broken
// variants racing the mm's workloads.

import type { Scenario } from "../explore/scenario.js";
import type { Kernel } from "../mm/kernel.js";
import { abba, ordered } from "./classic/abba.js";
import { fenceChain, fenceCycle, fenceUnderLock } from "./classic/fenceCycle.js";
import { sameLock, wrongLock } from "./classic/lockMismatch.js";
import { lockedUpdate, lostUpdate } from "./classic/lostUpdate.js";
import { lostWakeup, waitEventFlag } from "./classic/lostWakeup.js";
import { orderedWindow, orderViolation } from "./classic/orderViolation.js";
import { reorder10, reorder20, reorderLocked10 } from "./classic/reorder.js";
import { rwsemRecursion, rwsemSingleRead } from "./classic/rwsemRecursion.js";
import { exclusiveVsFork, faultBackVsMunmap, migrateVsWriteAndRead } from "./hmm/deviceMemory.js";
import {
  anonTeardown,
  readVsDontneed,
  readVsFork,
  readVsMprotect,
  readVsMunmap,
  readVsReclaim,
} from "./hmm/dmirrorRead.js";
import { forkVsWrite } from "./mm/forkVsWrite.js";
import { mirrorVsMunmap, mirrorZapsOnlyUnmap } from "./mm/mirrorVsUnmap.js";
import { munmapVsWriteFault } from "./mm/munmapVsFault.js";
import { insertRemoveVsInvalidations } from "./notifier/insertRemove.js";
import {
  brokenReaderNoRetry,
  readerVsInvalidations,
  readerVsOneWriter,
} from "./notifier/readerVsInvalidations.js";
import { brokenScenarios } from "./patterns/broken.js";
import { cmdqVs } from "./patterns/cmdq.js";
import { fenceVs } from "./patterns/fence.js";
import { ptlockRangesVsMunmap, ptlockVs, ptlockVsStream } from "./patterns/ptlock.js";

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
  reorder10,
  reorder20,
  reorderLocked10,
  wrongLock,
  sameLock,
  orderViolation,
  orderedWindow,
  readerVsOneWriter,
  readerVsInvalidations,
  brokenReaderNoRetry,
  insertRemoveVsInvalidations,
  readVsMunmap,
  readVsMprotect,
  readVsFork,
  readVsReclaim,
  readVsDontneed,
  anonTeardown,
  migrateVsWriteAndRead,
  faultBackVsMunmap,
  exclusiveVsFork,
  munmapVsWriteFault,
  forkVsWrite,
  mirrorVsMunmap,
  mirrorZapsOnlyUnmap,
  ...patternScenarios(),
];

/** The driver patterns against every workload, then every broken variant (scenarios/patterns/). */
function patternScenarios(): Scenario<unknown, Kernel>[] {
  return [
    ...ptlockVs,
    ptlockRangesVsMunmap,
    ptlockVsStream,
    ...cmdqVs,
    ...fenceVs,
    ...brokenScenarios,
  ] as Scenario<unknown, Kernel>[];
}

/** The built-in scenario named `name`, or undefined. */
export function builtinScenario(name: string): Scenario<unknown, Kernel> | undefined {
  return builtinScenarios.find((s) => s.name === name);
}
