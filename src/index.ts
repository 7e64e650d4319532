// The one public export list of mmun (DESIGN.md §3).

// The reference mirror device, kernel lib/test_hmm.c (DESIGN.md §3.6).
export { DmirrorDevice, type DmirrorDeviceOptions } from "./drivers/dmirror/device.js";
export { DEVMEM_CHUNK_SIZE, type DmirrorChunk, DmirrorDevmem } from "./drivers/dmirror/devmem.js";
export { DMIRROR_CHUNK_PAGES, HMM_RANGE_DEFAULT_TIMEOUT } from "./drivers/dmirror/fault.js";
export { Dmirror, type DmirrorHooks } from "./drivers/dmirror/mirror.js";
export {
  type DmirrorResult,
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_MEMORY_DEVICE_COHERENT,
  HMM_DMIRROR_MEMORY_DEVICE_PRIVATE,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  type HmmDmirrorCmd,
} from "./drivers/dmirror/uapi.js";
// The driver patterns (kernel-spec §5), each a real mirror driver on this public API: docs/guide.md.
export {
  CmdqMirror,
  type CmdqOptions,
  CommandQueue,
  type DeviceCommand,
  OdpRegion,
} from "./drivers/patterns/cmdq.js";
export {
  type AccessResult,
  type DeviceAccess,
  type FaultingMirror,
  insertMirrorRanges,
  MirrorDevice,
  type MirrorRangeSpec,
  removeMirrorRanges,
} from "./drivers/patterns/device.js";
export {
  FenceDriver,
  type FenceOptions,
  type GpuJob,
  GpuScheduler,
  UserptrBo,
} from "./drivers/patterns/fence.js";
export {
  FAULT_WINDOW_PAGES,
  type MirrorHooks,
  PtlockMirror,
  type PtlockOptions,
  PtlockRange,
} from "./drivers/patterns/ptlock.js";
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
// Device memory: migration and exclusive access (kernel mm/migrate_device.c, mm/rmap.c).
export { makeDeviceExclusive } from "./hmm/deviceExclusive.js";
export {
  FOLL_LONGTERM,
  FOLL_WRITE,
  getUserPages,
  getUserPagesFast,
  longtermPinnable,
  pinUserPages,
  pinUserPagesFast,
  putPages,
  unpinUserPages,
} from "./hmm/gup.js";
export {
  HMM_PFN_DMA_MAPPED,
  HMM_PFN_ERROR,
  HMM_PFN_ORDER_SHIFT,
  HMM_PFN_P2PDMA,
  HMM_PFN_P2PDMA_BUS,
  HMM_PFN_REQ_FAULT,
  HMM_PFN_REQ_WRITE,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
  hmmRangeFault,
  hmmRangeFaultMmapRead,
} from "./hmm/hmm.js";
export {
  MIGRATE_PFN_MIGRATE,
  MIGRATE_PFN_VALID,
  MIGRATE_PFN_WRITE,
  MIGRATE_VMA_SELECT_COMPOUND,
  MIGRATE_VMA_SELECT_DEVICE_COHERENT,
  MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
  MIGRATE_VMA_SELECT_SYSTEM,
  type MigrateDevice,
  type MigrateVma,
  migrateDeviceCoherentFolio,
  migrateDeviceFinalize,
  migrateDevicePages,
  migrateDeviceRange,
  migrateVmaFinalize,
  migrateVmaInit,
  migrateVmaPages,
  migrateVmaSetup,
} from "./hmm/migrateDevice.js";
export {
  EAGAIN,
  EBUSY,
  EDEADLK,
  EFAULT,
  EINTR,
  EINVAL,
  ENOENT,
  ENOMEM,
  EOPNOTSUPP,
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
export {
  type DeviceMapOptions,
  type DeviceMapping,
  type DeviceMm,
  DevicePageTable,
  type DevicePageTableOptions,
} from "./mm/devicePageTable.js";
export { folioLock, folioTestLocked, folioTrylock, folioUnlock, folioWaitLocked } from "./mm/filemap.js";
export { GFP_ATOMIC, GFP_KERNEL, GFP_NOWAIT, gfpflagsAllowBlocking, mightAlloc } from "./mm/gfp.js";
// Address spaces and the root Kernel (the mm layer's Kernel extends SyncKernel with createMm).
export { Kernel, type KernelOptions } from "./mm/kernel.js";
export type { MadviseAdvice } from "./mm/madvise.js";
export { type DevicePrivateOwner, faultIn } from "./mm/memory.js";
export {
  DevPagemap,
  type DevPagemapOps,
  type DevPagemapOptions,
  MEMORY_DEVICE_COHERENT,
  MEMORY_DEVICE_PRIVATE,
  memremapPages,
  memunmapPages,
  zoneDevicePageInit,
} from "./mm/memremap.js";
export { Mm, type MmOptions } from "./mm/mm.js";
export type { MmapOptions } from "./mm/mmap.js";
export type { MremapOptions } from "./mm/mremap.js";
export {
  PageTable,
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from "./mm/pageTable.js";
export { PhysMem, type PhysMemStats, ZERO_FRAME } from "./mm/physMem.js";
export { PROT_NONE, PROT_READ, PROT_WRITE, Vma } from "./mm/vma.js";
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
export { readTrace } from "./trace/read.js";
export { TraceRecorder } from "./trace/recorder.js";
export {
  type FormatScheduleOptions,
  formatSchedule,
  type Schedule,
  type ScheduleRow,
  scheduleOf,
} from "./trace/schedule.js";
export {
  type IntervalMembershipName,
  type PteState,
  TRACE_VERSION,
  TRACE_VERSIONS,
  type Trace,
  type TraceArea,
  type TraceEvent,
  type TraceEventKind,
  type TraceObject,
  type TraceTask,
  type TraceVersion,
} from "./trace/schema.js";
