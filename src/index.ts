// The one public export list of mmun (DESIGN.md §3).

// The explorer (DESIGN.md §3.7).
export {
  DEFAULT_MAX_STEPS,
  type ExploreOptions,
  type ExploreProgress,
  explore,
  type ReplayResult,
  replay,
  type StrategyName,
} from "./explore/explore.js";
export type { ExecutionResult, ExploreResult, ExploreStats, Failure, FailureKind } from "./explore/result.js";
export {
  defineScenario,
  type ExpectedOutcome,
  type Scenario,
  type ScenarioSpec,
  type ScenarioTask,
  scenarioRefOf,
} from "./explore/scenario.js";
export { findScenario, isScenario, scenariosOf } from "./explore/scenarioModule.js";
export { type DfsOptions, DfsSearch } from "./explore/strategies/dfs.js";
export { PctChooser, PctSearch } from "./explore/strategies/pct.js";
export { RandomChooser } from "./explore/strategies/random.js";
export { ReplayChooser, type ReplayChooserOptions } from "./explore/strategies/replay.js";
export { decodeToken, encodeToken, type TokenOptions } from "./explore/token.js";
export {
  EAGAIN,
  EBUSY,
  EDEADLK,
  EFAULT,
  EINTR,
  EINVAL,
  ENOENT,
  ENOMEM,
  EOVERFLOW,
  EPERM,
  ERRNO,
  type ErrnoName,
  errnoName,
  MmunError,
} from "./lib/errno.js";
export { IntervalTree, IntervalTreeNode } from "./lib/intervalTree.js";
export { Rng, type RngState } from "./lib/rng.js";
export { defaultWarnSink, WarnLog, type WarnSink, warnOn } from "./lib/warn.js";
// Address spaces and the root Kernel (the mm layer's Kernel extends SyncKernel with createMm).
export { Kernel, type KernelOptions } from "./mm/kernel.js";
export { Mm, type MmOptions } from "./mm/mm.js";
// Notifiers (DESIGN.md §3.3).
export { MmuNotifier, type MmuNotifierOps } from "./notifier/classicNotifier.js";
export { MmuIntervalNotifier, type MmuIntervalNotifierOps } from "./notifier/intervalNotifier.js";
export type { IntervalMembership } from "./notifier/membership.js";
export type { NotifierMm } from "./notifier/notifierMm.js";
export {
  ADDRESS_SPACE_END,
  MMU_NOTIFIER_EVENT_NAMES,
  MmuNotifierEvent,
  type MmuNotifierRange,
  mmuNotifierRangeBlockable,
  mmuNotifierRangeInit,
} from "./notifier/range.js";
export {
  MmuNotifierSubscriptions,
  type NotifierDeferredEntry,
  type NotifierState,
  type NotifierStateEntry,
} from "./notifier/subscriptions.js";
export { builtinScenario, builtinScenarios } from "./scenarios/index.js";
export { Completion } from "./sync/completion.js";
export { type Chooser, type ControlledOptions, ControlledScheduler } from "./sync/controlledScheduler.js";
export { DirectScheduler } from "./sync/directScheduler.js";
export { DmaFence, type FenceCallback } from "./sync/dmaFence.js";
export { type DependencySite, LockClass, Lockdep } from "./sync/lockdep.js";
export { LockMap } from "./sync/lockMap.js";
export { Mutex } from "./sync/mutex.js";
// The runtime (DESIGN.md §2, §3.2): the root Kernel above is SyncKernel plus address spaces.
export type { Report, ReportKind } from "./sync/report.js";
export { RwSemaphore } from "./sync/rwSemaphore.js";
export { Scheduler, type Waiter } from "./sync/scheduler.js";
export { SpinLock } from "./sync/spinLock.js";
export { Srcu } from "./sync/srcu.js";
export { describeDeadlock, SyncKernel } from "./sync/syncKernel.js";
export {
  type Lockable,
  type LockMode,
  MODE_READ,
  MODE_RECURSIVE_READ,
  MODE_WRITE,
  Task,
  type TaskState,
  type Waitable,
} from "./sync/task.js";
export { WaitQueue } from "./sync/waitQueue.js";
// Traces.
export { type ChromeTrace, toPerfetto } from "./trace/perfetto.js";
export { TraceRecorder } from "./trace/recorder.js";
export {
  type FormatScheduleOptions,
  formatSchedule,
  type Schedule,
  type ScheduleRow,
  scheduleOf,
} from "./trace/schedule.js";
export {
  TRACE_VERSION,
  type Trace,
  type TraceEvent,
  type TraceEventKind,
  type TraceObject,
  type TraceTask,
} from "./trace/schema.js";
