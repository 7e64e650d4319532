// The kernel world: tasks on a scheduler, the logical clock, sync primitives, lockdep and reports.

import { MmunError } from "../lib/errno.js";
import type { WarnSink } from "../lib/warn.js";
import { TraceRecorder } from "../trace/recorder.js";
import type { TraceEventKind } from "../trace/schema.js";
import { Completion } from "./completion.js";
import { type Chooser, type ControlledOptions, ControlledScheduler } from "./controlledScheduler.js";
import { DirectScheduler } from "./directScheduler.js";
import { DmaFence } from "./dmaFence.js";
import { Lockdep } from "./lockdep.js";
import { LockMap } from "./lockMap.js";
import { Mutex } from "./mutex.js";
import type { Report, ReportKind } from "./report.js";
import { RwSemaphore } from "./rwSemaphore.js";
import { never, Scheduler, type SchedulerHost } from "./scheduler.js";
import { SpinLock } from "./spinLock.js";
import { Srcu } from "./srcu.js";
import {
  type Lockable,
  type LockMode,
  MODE_READ,
  MODE_WRITE,
  OUTSIDE,
  OutsideWaiter,
  Task,
  type Waitable,
} from "./task.js";
import { Timer } from "./timer.js";
import { WaitQueue } from "./waitQueue.js";

/** Options of {@link SyncKernel}. */
export interface KernelOptions {
  /**
   * `"direct"` (default): FIFO, a task runs until it waits. `"controlled"`: a chooser picks the
   * next task at every scheduling point (give `chooser`). Or a scheduler instance.
   */
  runtime?: "direct" | "controlled" | Scheduler;
  /** What picks the next task under the controlled scheduler. */
  chooser?: Chooser;
  /** Bound on scheduling points per run for the controlled scheduler. */
  maxSteps?: number;
  /** Fair scheduling of spinning tasks under the controlled scheduler (default true). */
  fair?: boolean;
  /** Page size in bytes (default 4096). */
  pageSize?: number;
  /** Lock-order checking: true (default) for a fresh graph, false for none, or a shared graph. */
  lockdep?: boolean | Lockdep;
  /** Record a trace: true for a fresh recorder, or a recorder to append to. Default off. */
  trace?: boolean | TraceRecorder;
  /** Called with every report as it is raised (the explorer ends the execution here). */
  onReport?: (report: Report) => void;
  /**
   * Which report kinds make `run()` reject once it is done. Default: every kind but `warn`.
   */
  failOn?: readonly ReportKind[];
}

const DEFAULT_FAIL_ON: readonly ReportKind[] = [
  "stale-mapping",
  "use-after-free",
  "deadlock",
  "sleep-in-atomic",
  "lock-order",
  "check",
  "error",
];

/** One Set per failOn array (kernels are created per explorer execution: keep that cheap). */
const FAIL_ON_SETS = new WeakMap<readonly ReportKind[], ReadonlySet<ReportKind>>();
function failOnSet(kinds: readonly ReportKind[]): ReadonlySet<ReportKind> {
  let set = FAIL_ON_SETS.get(kinds);
  if (set === undefined) {
    set = new Set(kinds);
    FAIL_ON_SETS.set(kinds, set);
  }
  return set;
}

/** Marks an error the kernel has already reported, so a task ending with it is not reported twice. */
const REPORTED = Symbol("mmun.reported");

/**
 * The simulated kernel: it owns the scheduler its tasks run on, the logical clock, lockdep, the
 * trace and the reports, and creates the sync primitives. Higher layers extend it (memory, devices).
 *
 * Tasks are async functions; code between two operations that may wait runs atomically. With the
 * direct runtime the primitives also work from plain async code outside any task (library use):
 * such code shares one anonymous owner identity, so per-task checks apply to tasks only.
 */
export class SyncKernel implements WarnSink, SchedulerHost {
  readonly sched: Scheduler;
  readonly lockdep: Lockdep | null;
  trace: TraceRecorder | null;
  readonly pageSize: number;
  /** Every report raised so far, oldest first. */
  readonly reports: Report[] = [];
  onReport: ((report: Report) => void) | null;
  private readonly failOn: ReadonlySet<ReportKind>;
  private nextObjectId = 0;
  private fenceMap: LockMap | null = null;
  private timer: Timer | null = null;

  constructor(options: KernelOptions = {}) {
    const rt = options.runtime ?? "direct";
    if (rt instanceof Scheduler) this.sched = rt;
    else if (rt === "controlled") {
      if (options.chooser === undefined) {
        throw new MmunError("EINVAL", "the controlled runtime needs a chooser");
      }
      const controlled: ControlledOptions = {};
      if (options.maxSteps !== undefined) controlled.maxSteps = options.maxSteps;
      if (options.fair !== undefined) controlled.fair = options.fair;
      this.sched = new ControlledScheduler(options.chooser, controlled);
    } else if (rt === "direct") this.sched = new DirectScheduler();
    else throw new MmunError("EINVAL", `unknown runtime "${String(rt)}"`);
    const pageSize = options.pageSize ?? 4096;
    if (!Number.isSafeInteger(pageSize) || pageSize <= 0 || (pageSize & (pageSize - 1)) !== 0) {
      throw new MmunError("EINVAL", `pageSize must be a power of two, got ${pageSize}`);
    }
    this.pageSize = pageSize;
    const ld = options.lockdep ?? true;
    this.lockdep = ld === true ? new Lockdep() : ld === false ? null : ld;
    if (this.lockdep !== null) this.lockdep.run++;
    const tr = options.trace ?? false;
    this.trace = tr === true ? new TraceRecorder() : tr === false ? null : tr;
    this.onReport = options.onReport ?? null;
    this.failOn = failOnSet(options.failOn ?? DEFAULT_FAIL_ON);
    this.sched.attach(this);
  }

  /** The task whose code is running, or null outside any task. */
  get current(): Task | null {
    return this.sched.current;
  }

  /** The operation counter quoted in traces and reports. */
  get step(): number {
    return this.sched.step;
  }

  /** The logical clock in milliseconds (see {@link SyncKernel.advanceClock}). */
  now(): number {
    return this.sched.clock;
  }

  /** Moves the logical clock forward, expiring timed waits that fall due. */
  advanceClock(ms: number): void {
    this.sched.advanceClock(ms);
  }

  /**
   * Creates a task running `fn`. It starts when the scheduler first switches to it (after `run()`
   * is called, or when the running task waits). Returns the task.
   */
  spawn(name: string, fn: () => unknown): Task {
    if (typeof name !== "string" || name.length === 0) {
      throw new MmunError("EINVAL", "a task needs a non-empty name");
    }
    if (typeof fn !== "function") throw new MmunError("EINVAL", `task "${name}" needs a function`);
    const s = this.sched;
    const task = new Task(s.tasks.length, name);
    // A task spawned after the execution was stopped never runs.
    if (s.aborted) return task;
    const parent = s.current;
    if (this.trace !== null) {
      this.trace.task(task.id, name);
      this.event("spawn", -1, parent === null ? -1 : parent.id, undefined, task);
    }
    const gate = task.park();
    s.addTask(task);
    void this.runTask(task, gate, fn);
    return task;
  }

  private async runTask(task: Task, gate: Promise<void>, fn: () => unknown): Promise<void> {
    await gate;
    try {
      await fn();
    } catch (e) {
      task.error = e;
      // After the execution was stopped the task's code only unwinds: what it throws is not a finding.
      if (!this.sched.aborted && !(e instanceof Object && REPORTED in e)) {
        const msg = e instanceof Error ? e.message : String(e);
        this.report("error", `${task} threw: ${msg}`, e);
      }
    }
    if (this.sched.aborted) return;
    this.taskExit(task);
    if (this.trace !== null) {
      const e = task.error;
      this.event(
        "end",
        -1,
        undefined,
        e === undefined ? undefined : String(e instanceof Error ? e.message : e),
        task,
      );
    }
    this.sched.taskEnded(task);
  }

  /** Checks a task's state as it ends: locks still held, unbalanced regions. */
  private taskExit(task: Task): void {
    if (task.heldCount > 0) {
      const list = task
        .held()
        .map((l, i) => `${l.type} "${l.name}" (acquired at step ${task.heldSteps[i]})`)
        .join(", ");
      this.report("error", `${task} ended while holding ${list}`);
    }
    if (task.nonBlock !== 0)
      this.report("error", `${task} ended inside ${task.nonBlock} non-blocking region(s)`);
  }

  /**
   * Runs the tasks until every one has ended or none can make progress. Resolves when all ended;
   * rejects with the first error a task threw, or with an `MmunError` listing the reports of the
   * kinds in `failOn` raised during this run (a deadlock gives code `EDEADLK`).
   */
  async run(): Promise<void> {
    const first = this.reports.length;
    await this.sched.run();
    const failures = this.reports.slice(first).filter((r) => this.failOn.has(r.kind));
    if (failures.length === 0) return;
    const thrown = failures.find((r) => r.kind === "error" && r.error !== undefined);
    if (thrown !== undefined) throw thrown.error;
    const code = failures.some((r) => r.kind === "deadlock" || r.kind === "lock-order")
      ? "EDEADLK"
      : "EINVAL";
    throw new MmunError(code, failures.map((r) => `[${r.kind}] ${r.message}`).join("\n"));
  }

  /**
   * An explicit scheduling point: under the controlled scheduler another task may run here; under
   * the direct one the running task yields if another is runnable. Legal anywhere (it is not a
   * sleep). Await it: `await kernel.point()`.
   */
  point(label = "point"): Promise<void> | undefined {
    return this.yieldAt(label, false);
  }

  /**
   * `cond_resched()`: might sleep, and lets others run. A spin (like {@link SyncKernel.cpuRelax}):
   * loops that call it wait for other tasks, and the explorer schedules it fairly.
   */
  condResched(): Promise<void> | undefined {
    this.mightSleep("cond_resched()");
    return this.yieldAt("cond_resched", true);
  }

  /**
   * `cpu_relax()` in a spin loop (`while (!READ_ONCE(x)) cpu_relax();`, a trylock-and-retry loop):
   * a scheduling point that says the task waits for another to make progress. Legal in atomic
   * context. The explorer is fair to it: the task is not chosen again until every task runnable now
   * has run a step (or stopped being runnable), so a spin-wait ends under every strategy; tasks
   * that only spin still reach the step bound, which reports them as a livelock.
   */
  cpuRelax(): Promise<void> | undefined {
    return this.yieldAt("cpu_relax", true);
  }

  /** A scheduling point of the running task: a plain yield, or a spin (scheduled fairly). */
  private yieldAt(label: string, spin: boolean): Promise<void> | undefined {
    const s = this.sched;
    // The execution was stopped (the explorer found a failure): nothing happens any more.
    if (s.aborted) return never();
    s.step++;
    const t = s.current;
    if (t === null) return undefined;
    if (this.trace !== null) this.event("point", -1, undefined, label);
    return spin ? s.spin(t, label) : s.yield(t, label);
  }

  /** `msleep(ms)`: sleeps for `ms` of logical time. */
  msleep(ms: number): Promise<void> | undefined {
    if (!(ms >= 0) || !Number.isFinite(ms)) {
      throw new MmunError("EINVAL", `msleep needs a finite non-negative duration, got ${ms}`);
    }
    this.timer ??= new Timer(this);
    return this.timer.sleep(ms);
  }

  /** A new mutex; `name` is its lock class. */
  mutex(name: string): Mutex {
    return new Mutex(this, name);
  }

  /** A new spinlock; `name` is its lock class. */
  spinLock(name: string): SpinLock {
    return new SpinLock(this, name);
  }

  /** A new reader/writer semaphore; `name` is its lock class. */
  rwSemaphore(name: string): RwSemaphore {
    return new RwSemaphore(this, name);
  }

  /** A new wait queue. */
  waitQueue(name: string): WaitQueue {
    return new WaitQueue(this, name);
  }

  /** A new completion. */
  completion(name: string): Completion {
    return new Completion(this, name);
  }

  /** A new (unsignalled) DMA fence. */
  dmaFence(name: string): DmaFence {
    return new DmaFence(this, name);
  }

  /** A new SRCU domain; `name` is its lockdep class. */
  srcu(name: string): Srcu {
    return new Srcu(this, name);
  }

  /** A lockdep pseudo-lock (kernel `struct lockdep_map`), e.g. "fs_reclaim". */
  lockMap(name: string): LockMap {
    return new LockMap(this, name);
  }

  /** The pseudo-lock that ties fence waits to fence signalling paths (`dma_fence_lockdep_map`). */
  get dmaFenceMap(): LockMap {
    this.fenceMap ??= new LockMap(this, "dma_fence_map");
    return this.fenceMap;
  }

  /**
   * `dma_fence_begin_signalling()`: marks the start of code that must complete for fences to
   * signal. Returns a cookie for {@link SyncKernel.dmaFenceEndSignalling}.
   */
  dmaFenceBeginSignalling(): boolean {
    const t = this.sched.current;
    const map = this.dmaFenceMap;
    if (t === null || t.atomic !== 0 || t.holds(map)) return true;
    // A successful non-recursive read trylock: no dependency on what is held, but what is taken
    // inside the section depends on it.
    map.acquireShared(MODE_READ, true);
    return false;
  }

  /** `dma_fence_end_signalling(cookie)`; pairs with {@link SyncKernel.dmaFenceBeginSignalling}. */
  dmaFenceEndSignalling(cookie: boolean): void {
    if (!cookie) this.dmaFenceMap.release();
  }

  /** Enters a region where sleeping is a bug (`non_block_start`); pairs with `nonBlockEnd`. */
  nonBlockStart(): void {
    const t = this.sched.current;
    if (t !== null) t.nonBlock++;
  }

  /** Leaves a non-blocking region; pairs with `nonBlockStart`. */
  nonBlockEnd(): void {
    const t = this.sched.current;
    if (t === null) return;
    if (t.nonBlock === 0) {
      this.misuse("EINVAL", `${t} called nonBlockEnd() without nonBlockStart()`);
    }
    t.nonBlock--;
  }

  /**
   * `might_sleep()`: reports `sleep-in-atomic` when the running task holds a spinlock or is in a
   * non-blocking region. `what` (and its argument `arg`, if any) name the operation for the report.
   */
  mightSleep(what = "might_sleep()", arg?: string | number): void {
    const t = this.sched.current;
    if (t !== null && (t.atomic | t.nonBlock) !== 0) {
      // The message is built only when there is something to report (this is on hot paths).
      const call =
        arg === undefined ? what : `${what}(${typeof arg === "string" ? JSON.stringify(arg) : arg})`;
      this.sleepInAtomic(t, call);
    }
  }

  /** `lockdep_assert_held(lock)`: warns when the running task does not hold `lock`. */
  assertHeld(lock: Lockable): void {
    const t = this.sched.current;
    if (t !== null && !t.holds(lock))
      this.warn(`${t} does not hold ${lock.type} "${lock.name}" (lockdep_assert_held)`);
  }

  /**
   * `lockdep_assert_held_write(sem)`, what `mmap_assert_write_locked(mm)` checks: warns when the
   * running code (a task, or plain code outside any task) does not hold `sem` for write. `what`
   * names the kernel assertion in the message.
   */
  assertHeldWrite(sem: RwSemaphore, what = "lockdep_assert_held_write"): void {
    if (sem.isWriteLockedByMe()) return;
    const t = this.sched.current;
    const who = t === null ? "code outside any task" : String(t);
    this.warn(`${who} does not hold rwsem "${sem.name}" for write (${what})`);
  }

  /**
   * `might_lock(lock)`: records the dependencies of acquiring `lock` now (every lock held -> lock)
   * without acquiring it, so an inversion is reported even on paths that never take it.
   */
  mightLock(lock: Lockable, mode: LockMode = MODE_WRITE): void {
    const t = this.sched.current;
    if (t !== null && this.lockdep !== null && lock.classId >= 0) this.lockdepCheck(t, lock, mode);
  }

  /** `WARN()`: records a `warn` report and carries on. */
  warn(message: string): void {
    this.report("warn", message);
  }

  /** Raises a report of `kind` for the running task. */
  report(kind: ReportKind, message: string, error?: unknown): Report {
    const s = this.sched;
    const t = s.current;
    const r: Report = { kind, message, task: t === null ? null : t.name, step: s.step, time: s.clock };
    if (error !== undefined) r.error = error;
    return this.raise(r);
  }

  /** Records `r` (trace event, `onReport`) and returns it. */
  private raise(r: Report): Report {
    // Once the execution was stopped at a failure, what its remains do is not a finding: the rest
    // of the failing operation and the unwinding of its task run on inert objects (a lock whose
    // unlock did nothing still looks held), so a later report would be invented.
    if (this.sched.aborted) return r;
    const kind = r.kind;
    const message = r.message;
    this.reports.push(r);
    if (this.trace !== null)
      this.event(kind === "warn" ? "warn" : "report", -1, undefined, `${kind}: ${message}`);
    if (this.onReport !== null) this.onReport(r);
    return r;
  }

  // ---- Internal helpers for the primitives and higher layers. ----

  /** @internal A fresh object id; names it in the trace. */
  registerObject(type: string, name: string): number {
    const id = this.nextObjectId++;
    if (this.trace !== null) this.trace.object(id, type, name);
    return id;
  }

  /** @internal The lockdep class id for `name`, or -1 when lockdep is off. */
  classId(name: string): number {
    return this.lockdep === null ? -1 : this.lockdep.classFor(name).id;
  }

  /** @internal Records a trace event for the running task (or `task`). */
  event(kind: TraceEventKind, obj: number, value?: number, detail?: string, task?: Task): void {
    const tr = this.trace;
    if (tr === null) return;
    const s = this.sched;
    const t = task ?? s.current;
    tr.event(s.step, s.clock, t === null ? -1 : t.id, kind, obj, value, detail);
  }

  /** @internal Lockdep validation before `t` acquires `lock`. */
  lockdepCheck(t: Task, lock: Lockable, mode: LockMode): void {
    const ld = this.lockdep;
    if (ld === null || lock.classId < 0 || t.heldCount === 0 || this.sched.aborted) return;
    const problems = ld.checkAcquire(t, lock.classId, mode, this.sched.step);
    if (problems !== null) for (const p of problems) this.report("lock-order", p);
  }

  /** @internal Reports sleeping in atomic context by `t` doing `what`. */
  sleepInAtomic(t: Task, what: string): void {
    const why: string[] = [];
    for (let i = 0; i < t.heldCount; i++) {
      const l = t.heldLocks[i] as Lockable;
      if (l.type === "spinlock")
        why.push(`holding spinlock "${l.name}" (acquired at step ${t.heldSteps[i]})`);
    }
    if (t.nonBlock !== 0) why.push("inside a non-blocking region");
    if (why.length === 0) why.push("in atomic context");
    this.report("sleep-in-atomic", `${t} called ${what}, which may sleep, ${why.join(" and ")}`);
  }

  /** @internal Reports misuse as an `error` and throws it (the operation cannot proceed). */
  misuse(code: "EINVAL" | "EPERM" | "EDEADLK", message: string): never {
    const e = new MmunError(code, message);
    this.report(code === "EDEADLK" ? "deadlock" : "error", message, e);
    Object.defineProperty(e, REPORTED, { value: true });
    throw e;
  }

  /** @internal The owner identity of the running code. */
  owner(): Task {
    return this.sched.current ?? OUTSIDE;
  }

  /** @internal A waiter for the running code: the task, or a fresh outside waiter. */
  waiter(): Task | OutsideWaiter {
    return this.sched.current ?? new OutsideWaiter();
  }

  /** SchedulerHost: every live task is blocked and no timeout can fire. */
  onDeadlock(blocked: readonly Task[]): void {
    this.report("deadlock", describeDeadlock(blocked));
  }

  /** SchedulerHost: the controlled scheduler's step bound was exceeded. */
  onStepBound(task: Task, maxSteps: number, spinning: readonly Task[]): void {
    const s = this.sched;
    const live = s.tasks.filter((t) => t.state !== "done");
    const names = spinning.map((t) => `"${t.name}"`).join(", ");
    const why =
      spinning.length > 0 && spinning.length === live.length
        ? `a livelock: every live task (${names}) keeps spinning (cpu_relax/cond_resched), each waiting for another`
        : "likely an unbounded retry loop or a livelock (tasks keep running without finishing)" +
          (spinning.length > 0 ? `; spinning lately: ${names}` : "");
    this.raise({
      kind: "error",
      message:
        `${task} exceeded the bound of ${maxSteps} scheduling points: ${why}; ` +
        "raise maxSteps if the scenario is just long",
      task: task.name,
      step: s.step,
      time: s.clock,
      stepBound: true,
    });
  }
}

/** Explains a deadlock: every blocked task, what it waits on, who holds that, and any wait-for cycle. */
export function describeDeadlock(blocked: readonly Task[]): string {
  const lines = blocked.map((t) => {
    const on = t.blockedOn as Waitable | null;
    if (on === null) return `  ${t} is blocked`;
    return `  ${t} waits on ${on.type} "${on.name}" to ${t.blockedFor}: ${on.describeWait()}`;
  });
  const cycle = findWaitCycle(blocked);
  const head =
    cycle !== null
      ? `deadlock: wait-for cycle ${[...cycle, cycle[0] as Task].map((t) => `"${t.name}"`).join(" -> ")}`
      : "deadlock: every live task is blocked and nothing can wake them";
  return `${head}\n${lines.join("\n")}`;
}

function findWaitCycle(blocked: readonly Task[]): Task[] | null {
  // Depth-first search of the wait-for graph: a blocked task -> the blocked tasks that must act first.
  const next = (t: Task): Task[] => {
    const hs = t.blockedOn === null ? [] : t.blockedOn.holders().filter((h) => h.state === "blocked");
    return [...hs.filter((h) => h !== t), ...hs.filter((h) => h === t)];
  };
  const color = new Map<Task, 1 | 2>();
  const path: Task[] = [];
  const visit = (t: Task): Task[] | null => {
    color.set(t, 1);
    path.push(t);
    for (const h of next(t)) {
      const c = color.get(h);
      if (c === 1) return path.slice(path.indexOf(h));
      if (c === undefined) {
        const found = visit(h);
        if (found !== null) return found;
      }
    }
    path.pop();
    color.set(t, 2);
    return null;
  };
  for (const t of blocked) {
    if (color.has(t)) continue;
    const found = visit(t);
    if (found !== null) return found;
  }
  return null;
}
