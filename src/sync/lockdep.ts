// Follows kernel/locking/lockdep.c: lock classes, the dependency graph, and its deadlock checks.
//
// Every acquisition of a lock of class B by a task that holds a lock of class A adds the
// dependency A -> B to a graph shared by every execution that uses this Lockdep (the explorer
// passes one instance to all the kernels it creates). A new dependency that closes a cycle is a
// potential deadlock even if no run deadlocked. Read locks follow the kernel's rules
// (Documentation/locking/lockdep-design.rst, "Recursive read locks"): each dependency is labelled
// by how A was held (Exclusive or Shared) and how B was acquired (Recursive read or Non-recursive);
// a cycle is a deadlock unless it passes through a lock that is acquired as a recursive read and
// then held shared (-(*R)-> -(S*)->), because recursive readers never wait for each other. rwsem
// `downRead` is a non-recursive read: it queues behind a waiting writer, so it can deadlock.

import { type LockMode, MODE_NAMES, MODE_RECURSIVE_READ, MODE_WRITE, type Task } from "./task.js";

/** A lock class: all locks created with the same name (and subclass) share one. */
export class LockClass {
  constructor(
    readonly id: number,
    readonly name: string,
  ) {}
}

/** Where a dependency was first seen. */
export interface DependencySite {
  /** The task that took `to` while holding `from`. */
  task: string;
  /** The step at which `to` was taken. */
  step: number;
  /** The step at which `from` had been taken. */
  heldStep: number;
  heldMode: LockMode;
  mode: LockMode;
  /** Which kernel run (explorer execution) it was seen in, counting from 1. */
  run: number;
}

/** A dependency from -> to, with the first site of each of its four labels. */
class Dependency {
  /** Bit (srcShared * 2 + dstRecursive) is set when that label was seen. */
  labels = 0;
  readonly sites: (DependencySite | undefined)[] = [undefined, undefined, undefined, undefined];
  constructor(
    readonly from: number,
    readonly to: number,
  ) {}
}

function label(heldMode: LockMode, mode: LockMode): number {
  return (heldMode !== MODE_WRITE ? 2 : 0) + (mode === MODE_RECURSIVE_READ ? 1 : 0);
}
const SRC_SHARED = 2;
const DST_RECURSIVE = 1;

/** The lockdep state: classes and the dependency graph. */
export class Lockdep {
  readonly classes: LockClass[] = [];
  private readonly byName = new Map<string, LockClass>();
  private readonly out: Map<number, Dependency>[] = [];
  private readonly reported = new Set<string>();
  /** The number of kernels attached so far (the current run's number). */
  run = 0;
  /** The runs in which the dependencies of the last reported cycle were first seen. */
  lastCycleRuns: number[] = [];
  /**
   * Counts the changes to what later runs see: a dependency label recorded, a problem reported (and
   * so not reported again). A run that leaves it alone leaves the graph as it found it.
   */
  changes = 0;

  /** The class named `name` (created on first use). */
  classFor(name: string): LockClass {
    let c = this.byName.get(name);
    if (c === undefined) {
      c = new LockClass(this.classes.length, name);
      this.classes.push(c);
      this.byName.set(name, c);
      this.out.push(new Map());
    }
    return c;
  }

  /** Number of problems reported so far (each is reported once per graph). */
  get reportCount(): number {
    return this.reported.size;
  }

  /** Number of distinct dependencies recorded (all labels of one pair count once). */
  get dependencyCount(): number {
    let n = 0;
    for (const m of this.out) n += m.size;
    return n;
  }

  /** True when a dependency from class `from` to class `to` was recorded (any label). */
  hasDependency(from: string, to: string): boolean {
    const a = this.byName.get(from);
    const b = this.byName.get(to);
    return a !== undefined && b !== undefined && this.out[a.id]?.has(b.id) === true;
  }

  /**
   * Validates that `task` may acquire a lock of class `classId` in `mode` at `step`, given the locks
   * it holds; records the new dependencies. Returns the messages of problems not reported before
   * (possible recursive locking, possible circular dependency), or null.
   */
  checkAcquire(task: Task, classId: number, mode: LockMode, step: number): string[] | null {
    const held = task.heldLocks;
    const n = task.heldCount;
    if (n === 0) return null;
    const problems: string[] = [];
    const modes = task.heldModes;
    for (let i = 0; i < n; i++) {
      const h = held[i];
      if (h === undefined || h.classId < 0) continue;
      const hMode = modes[i] as LockMode;
      if (h.classId === classId) {
        if (mode === MODE_RECURSIVE_READ && hMode !== MODE_WRITE) continue;
        const msg = this.recursion(task, classId, mode, step, hMode, task.heldSteps[i] as number);
        if (msg !== null) problems.push(msg);
        continue;
      }
      const lab = label(hMode, mode);
      const outs = this.out[h.classId] as Map<number, Dependency>;
      let dep = outs.get(classId);
      if (dep !== undefined && (dep.labels & (1 << lab)) !== 0) continue;
      const site: DependencySite = {
        task: task.name,
        step,
        heldStep: task.heldSteps[i] as number,
        heldMode: hMode,
        mode,
        run: this.run,
      };
      const msg = this.findCycle(h.classId, classId, lab, site);
      if (msg !== null) problems.push(msg);
      if (dep === undefined) {
        dep = new Dependency(h.classId, classId);
        outs.set(classId, dep);
      }
      dep.labels |= 1 << lab;
      dep.sites[lab] = site;
      this.changes++;
    }
    return problems.length === 0 ? null : problems;
  }

  private recursion(
    task: Task,
    classId: number,
    mode: LockMode,
    step: number,
    heldMode: LockMode,
    heldStep: number,
  ): string | null {
    const name = (this.classes[classId] as LockClass).name;
    const key = `recursion:${classId}:${mode}:${heldMode}`;
    if (this.reported.has(key)) return null;
    this.reported.add(key);
    this.changes++;
    return (
      `possible recursive locking: ${task} (step ${step}) acquires "${name}" (${MODE_NAMES[mode]}) ` +
      `while already holding a lock of the same class (${MODE_NAMES[heldMode]}, acquired at step ${heldStep})` +
      (mode === MODE_WRITE
        ? ""
        : "; a read that queues behind a waiting writer deadlocks against itself (rwsem fairness)")
    );
  }

  /**
   * Looks for a strong path to -> ... -> from in the existing graph which, with the new dependency
   * from -> to (label `lab`), closes a deadlock cycle. Returns the report, or null.
   */
  private findCycle(from: number, to: number, lab: number, site: DependencySite): string | null {
    // Breadth-first search over (class, "arrived by a recursive-read acquisition") states.
    type State = { cls: number; rec: boolean; prev: State | null; dep: Dependency | null; lab: number };
    const start: State = { cls: to, rec: (lab & DST_RECURSIVE) !== 0, prev: null, dep: null, lab: -1 };
    const seen = new Map<number, number>(); // class -> bit 1: seen with rec=false, bit 2: with rec=true
    seen.set(to, start.rec ? 2 : 1);
    const queue: State[] = [start];
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi] as State;
      if (s.cls === from) {
        if (!(s.rec && (lab & SRC_SHARED) !== 0)) return this.describeCycle(s, from, to, site);
        continue;
      }
      for (const dep of (this.out[s.cls] as Map<number, Dependency>).values()) {
        for (let l = 0; l < 4; l++) {
          if ((dep.labels & (1 << l)) === 0) continue;
          if (s.rec && (l & SRC_SHARED) !== 0) continue;
          const rec = (l & DST_RECURSIVE) !== 0;
          const bit = rec ? 2 : 1;
          const was = seen.get(dep.to) ?? 0;
          if ((was & bit) !== 0 || (rec && (was & 1) !== 0)) continue;
          seen.set(dep.to, was | bit);
          queue.push({ cls: dep.to, rec, prev: s, dep, lab: l });
        }
      }
    }
    return null;
  }

  private describeCycle(
    end: { prev: unknown },
    from: number,
    to: number,
    site: DependencySite,
  ): string | null {
    type State = { cls: number; prev: State | null; dep: Dependency | null; lab: number };
    const path: { dep: Dependency; lab: number }[] = [];
    for (let s = end as State; s.prev !== null; s = s.prev)
      path.push({ dep: s.dep as Dependency, lab: s.lab });
    path.reverse();
    const classes = [from, to, ...path.map((p) => p.dep.to)];
    const key = `cycle:${[...new Set(classes)].sort((a, b) => a - b).join(",")}`;
    if (this.reported.has(key)) return null;
    this.reported.add(key);
    this.changes++;
    const name = (id: number) => `"${(this.classes[id] as LockClass).name}"`;
    const line = (a: number, b: number, s: DependencySite) =>
      `  ${a === from && b === to ? "now: " : ""}task "${s.task}" took ${name(b)} (${MODE_NAMES[s.mode]}, step ${s.step})` +
      ` while holding ${name(a)} (${MODE_NAMES[s.heldMode]}, acquired at step ${s.heldStep})` +
      (s.run !== this.run ? ` in execution #${s.run}` : "");
    const lines = [line(from, to, site)];
    const runs = new Set<number>([site.run]);
    for (const p of path) {
      const s = p.dep.sites[p.lab] as DependencySite;
      lines.push(line(p.dep.from, p.dep.to, s));
      runs.add(s.run);
    }
    this.lastCycleRuns = [...runs].sort((a, b) => a - b);
    const cycle = [...classes.map(name)].join(" -> ");
    return `possible circular locking dependency ${cycle}:\n${lines.join("\n")}`;
  }
}
