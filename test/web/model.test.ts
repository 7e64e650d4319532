import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import type { Kernel } from "../../src/mm/kernel.js";
import { Kernel as MmKernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { MmuNotifierEvent, mmuNotifierRangeInit } from "../../src/notifier/range.js";
import { createMirror, mirrorPage } from "../../src/scenarios/mm/deviceMirror.js";
import { readTrace } from "../../src/trace/read.js";
import { scheduleOf } from "../../src/trace/schedule.js";
import type { Trace, TraceEvent } from "../../src/trace/schema.js";
import { buildAxis } from "../../web/src/model/addressAxis.js";
import { parseLockCycle } from "../../web/src/model/lockCycle.js";
import { buildViewModel } from "../../web/src/model/viewModel.js";
import { bigTrace } from "./bigTrace.js";
import { counterexample } from "./traces.js";

describe("trace -> view model", () => {
  it("a stale-mapping counterexample: the failing task and step, seq values, the lit notifier and the stale device entry", async () => {
    const f = await counterexample("mm/mirror-zaps-only-unmap");
    const vm = buildViewModel(readTrace(JSON.parse(JSON.stringify(f.trace))));
    expect(vm.title).toBe("mm/mirror-zaps-only-unmap");
    expect(vm.failure).toMatchObject({ kind: "stale-mapping", task: f.task, step: f.step });
    expect(vm.timeline.lanes.map((l) => l.name)).toEqual(["(outside any task)", "device", "mprotect"]);
    // At the failure: the invalidation is still running (gseq odd), the notifier is lit, and the
    // device keeps write access the CPU PTE no longer grants.
    const s = vm.stateAt(f.step);
    const mm = s.mms[0];
    expect(mm?.subs).toMatchObject({ seq: 3, active: 1, deferred: [] });
    expect(mm?.invalidations.map((r) => [r.event, r.taskName])).toEqual([["PROTECTION_VMA", "mprotect"]]);
    expect(mm?.intervals).toHaveLength(1);
    expect(mm?.intervals[0]).toMatchObject({ name: "gpu", membership: "in-tree", seq: 3, lit: true });
    expect(mm?.intervals[0]?.lastReadRetry).toMatchObject({ seq: 1, flag: false });
    expect(mm?.areas.map((a) => a.prot)).toEqual(["r--p"]);
    expect(mm?.ptes.map((p) => p.kind)).toEqual(["present-read"]);
    const entry = mm?.devices[0]?.entries[0];
    expect(entry).toMatchObject({ frame: 1, write: true });
    expect(entry?.stale).toBe("stale: writable here, read-only in the CPU PTE");
    // Before the mprotect, the same entry agreed with the CPU and gseq was even.
    const before = vm.stateAt(f.step - 8).mms[0];
    expect(before?.subs?.seq).toBe(2);
    expect(before?.devices[0]?.entries[0]?.stale).toBeNull();
    expect(before?.intervals[0]?.lit).toBe(false);
    // The timeline shows the invalidation as a slice and its readRetry as a marker.
    expect(
      vm.timeline.slices.some(
        (x) => x.kind === "invalidate" && vm.timeline.lanes[x.lane]?.name === "mprotect",
      ),
    ).toBe(true);
    expect(vm.timeline.markers.some((m) => m.kind === "read_retry" && !m.alert)).toBe(true);
    expect(vm.story.some((m) => vm.labels.marker(m) === "FAILS (stale-mapping)")).toBe(true);
  });

  it("a lock-order counterexample: holds per task, the failure, and the report's cycle with who took each edge", async () => {
    const f = await counterexample("classic/abba");
    const vm = buildViewModel(f.trace);
    expect(vm.lockCycle?.locks).toEqual(["lock_b", "lock_a"]);
    expect(
      vm.lockCycle?.edges.map((e) => `${e.from}->${e.to} ${e.task}@${e.step}${e.now ? " now" : ""}`),
    ).toEqual([
      `lock_b->lock_a ${f.task}@${f.step} now`,
      expect.stringMatching(/^lock_a->lock_b t[12]@\d+$/),
    ]);
    const holds = vm.timeline.slices.filter((s) => s.kind === "hold").map((s) => vm.labels.slice(s));
    expect(holds).toContain("mutex lock_a");
    expect(vm.stateAt(f.step).held.map((h) => `${h.task} ${h.obj}`)).toContain(`${f.task} mutex lock_b`);
    // No address space in this trace.
    expect(vm.mms).toEqual([]);
  });

  it("parses lockdep's cycle message, and answers null for a report that names no cycle", () => {
    const msg =
      'possible circular locking dependency "a" -> "b" -> "c" -> "a":\n' +
      '  now: task "x" took "b" (write, step 9) while holding "a" (write, acquired at step 8)\n' +
      '  task "y" took "c" (read, step 4) while holding "b" (write, acquired at step 3)\n' +
      '  task "z" took "a" (write, step 6) while holding "c" (write, acquired at step 5) in execution #2';
    const c = parseLockCycle(msg);
    expect(c?.locks).toEqual(["a", "b", "c"]);
    expect(c?.edges.map((e) => [e.from, e.to, e.task, e.step, e.now])).toEqual([
      ["a", "b", "x", 9, true],
      ["b", "c", "y", 4, false],
      ["c", "a", "z", 6, false],
    ]);
    // How each lock was held and taken, since when, and in which execution when not this one.
    expect(c?.edges.map((e) => [e.heldStep, e.heldMode, e.mode, e.execution])).toEqual([
      [8, "write", "write", null],
      [3, "write", "read", null],
      [5, "write", "write", 2],
    ]);
    expect(parseLockCycle("possible recursive locking: ...")).toBeNull();
  });

  it("an insert during an exclusive period is on the deferred list until the period ends, then in the tree", async () => {
    // A scenario whose check always fails: its failure carries the trace of one controlled run.
    let marker = -1;
    const scenario = defineScenario({
      name: "test/deferred-insert",
      description: "an insert during an invalidation",
      setup: (k: Kernel) => ({ mm: k.createMm({ name: "app" }) }),
      tasks: {
        cpu: async (w: { mm: Mm }, k: Kernel) => {
          const ops = { invalidate: () => true };
          const a = await MmuIntervalNotifier.insert(w.mm, 0x10000, 0x4000, { ...ops, name: "a" });
          const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, w.mm, 0x10000, 0x12000);
          await w.mm.notifiers.invalidateRangeStart(range);
          const b = await MmuIntervalNotifier.insert(w.mm, 0x20000, 0x1000, { ...ops, name: "b" });
          marker = k.step;
          await k.point("inside");
          await w.mm.notifiers.invalidateRangeEnd(range);
          await a.remove();
          await b.remove();
        },
      },
      check: () => false,
    });
    const r = await explore(scenario, { strategy: "dfs", executions: 1 });
    const trace = r.failures[0]?.trace;
    if (trace === undefined) throw new Error("no trace");
    const vm = buildViewModel(trace);
    const during = vm.stateAt(marker).mms[0];
    expect(during?.subs?.seq).toBe(3);
    expect(during?.subs?.deferred.map((d) => [d.name, d.membership])).toEqual([["b", "pending-insert"]]);
    expect(during?.intervals.find((i) => i.name === "a")?.lit).toBe(true);
    expect(during?.intervals.find((i) => i.name === "b")?.lit).toBe(false);
    const end = vm.story.find((m) => vm.labels.marker(m) === "gseq = 4 (even)")?.step ?? -1;
    const after = vm.stateAt(end).mms[0];
    expect(after?.subs).toMatchObject({ seq: 4, active: 0, deferred: [] });
    expect(after?.intervals.map((i) => [i.name, i.membership, i.lit])).toEqual([
      ["a", "in-tree", false],
      ["b", "in-tree", false],
    ]);
    // Removed notifiers are no longer drawn.
    expect(vm.stateAt(vm.timeline.steps[vm.timeline.steps.length - 1] ?? 0).mms[0]?.intervals).toEqual([]);
  });

  it("the state at a step is the same reached forward, backward or by a jump (checkpoints)", async () => {
    const f = await counterexample("mm/mirror-zaps-only-unmap");
    const fresh = (step: number) => JSON.stringify(buildViewModel(f.trace).stateAt(step));
    const vm = buildViewModel(f.trace);
    const steps = vm.timeline.steps;
    const order = [
      ...steps,
      ...[...steps].reverse(),
      steps[5] ?? 0,
      steps[steps.length - 1] ?? 0,
      steps[0] ?? 0,
    ];
    for (const s of order) expect(JSON.stringify(vm.stateAt(s)), `step ${s}`).toBe(fresh(s));
  });

  it("the rows of a step, made from its events alone, are the whole schedule's rows of that step", async () => {
    const traces = [
      (await counterexample("mm/mirror-zaps-only-unmap")).trace,
      (await counterexample("classic/abba")).trace,
      await bigTrace(600),
    ];
    for (const t of traces) {
      const whole = scheduleOf(t).rows;
      const vm = buildViewModel(t);
      let compared = 0;
      for (const step of vm.timeline.steps) {
        expect(vm.rowsAt(step), `${t.meta.scenario} step ${step}`).toEqual(
          whole.filter((r) => r.step === step),
        );
        compared++;
      }
      expect(compared).toBe(vm.timeline.steps.length);
    }
    // Preemptions and the failure are among the rows compared.
    const all = traces.flatMap((t) => scheduleOf(t).rows);
    expect(all.some((r) => r.text.includes("-> preempted"))).toBe(true);
    expect(all.some((r) => r.failure)).toBe(true);
  });

  it("a version-1 trace loads: timeline, values and failure, notifiers from its notes", async () => {
    const f = await counterexample("mm/mirror-zaps-only-unmap");
    const v2 = new Set([
      "vmas",
      "pte",
      "dev_map",
      "dev_unmap",
      "inv_start",
      "inv_end",
      "callback",
      "read_begin",
      "read_retry",
      "interval",
    ]);
    const v1 = readTrace({ ...f.trace, version: 1, events: f.trace.events.filter((e) => !v2.has(e.kind)) });
    const vm = buildViewModel(v1);
    expect(vm.failure?.kind).toBe("stale-mapping");
    const mm = vm.stateAt(f.step).mms[0];
    expect(mm?.subs?.seq).toBe(3);
    expect(mm?.intervals.map((i) => [i.name, i.membership, i.seq])).toEqual([["gpu", "in-tree", 3]]);
    expect(mm?.ptes).toEqual([]);
  });

  it("every CPU PTE state has its kind, and a device entry is stale exactly where the CPU PTE stops translating to its frame", async () => {
    // A real run: the zero page, a written page, a device mirroring both, then reclaim swaps them out.
    const k = new MmKernel({ trace: true });
    const mm = k.createMm({ name: "app" });
    const ps = k.pageSize;
    const addr = await mm.mmap({ length: 2 * ps, prot: PROT_READ | PROT_WRITE });
    await mm.read32(addr);
    await mm.write32(addr + ps, 7);
    const m = await createMirror(k, mm, addr, 2 * ps);
    k.spawn("device", async () => {
      await mirrorPage(m, addr, false);
      await mirrorPage(m, addr + ps, true);
    });
    await k.run();
    const mirrored = k.trace?.toJSON() as Trace;
    const atMirror = mirrored.events.at(-1)?.step ?? 0;
    await mm.reclaim(addr, 2 * ps);
    const real = buildViewModel(readTrace(JSON.parse(JSON.stringify(k.trace?.toJSON()))));
    const view = (step: number) => real.stateAt(step).mms.find((x) => x.name === "app");
    const mirroring = view(atMirror);
    expect(mirroring?.ptes.map((p) => p.kind)).toEqual(["zero", "present-write"]);
    expect(mirroring?.devices[0]?.entries.map((e) => e.stale)).toEqual([null, null]);
    const last = real.timeline.steps.at(-1) ?? 0;
    const swapped = view(last);
    // Reclaim leaves the zero page (it is on no LRU list) and swaps the written page out; the
    // mirror's callback unmapped the device's entry of the swapped page first, so nothing is stale.
    expect(swapped?.ptes.map((p) => p.kind)).toEqual(["zero", "swap"]);
    expect(swapped?.devices[0]?.entries.map((e) => [e.addr, e.stale])).toEqual([[addr, null]]);

    // The states only a migrating driver makes, as events: a device keeps an entry through each.
    const A = 0x100000;
    const ev = (kind: TraceEvent["kind"], obj: number, more: Partial<TraceEvent>): TraceEvent => ({
      step: 0,
      time: 0,
      task: -1,
      kind,
      obj,
      ...more,
    });
    const states: [string, number, string, string | null][] = [
      ["present write dirty young", 5, "present-write", null],
      ["present dirty young", 5, "present-read", "stale: writable here, read-only in the CPU PTE"],
      ["protnone", 5, "protnone", "stale: the CPU PTE maps nothing the device may use"],
      ["migration", 5, "migration", "stale: the CPU PTE maps nothing the device may use"],
      ["device-private write", 900, "device-private", "stale: the CPU PTE maps frame 900"],
      ["device-exclusive write", 5, "device-exclusive", null],
      ["swap", 3, "swap", "stale: the CPU PTE maps nothing the device may use"],
      ["present write young zero", 0, "zero", "stale: the CPU PTE maps frame 0"],
    ];
    const events: TraceEvent[] = [
      ev("pte", 0, { addr: A, value: 5, detail: "present write dirty young" }),
      ev("dev_map", 1, { addr: A, value: 5, detail: "write", mm: 0 }),
      ...states.map(([detail, value]) => ev("pte", 0, { addr: A, value, detail })),
    ].map((e, i) => ({ ...e, step: i + 1 }));
    const made = buildViewModel(
      readTrace({
        version: 2,
        tasks: [],
        objects: [
          { id: 0, type: "mm", name: "app" },
          { id: 1, type: "device_page_table", name: "gpu" },
        ],
        events,
        meta: {},
      }),
    );
    states.forEach(([detail, , kind, stale], i) => {
      const at = made.stateAt(i + 3).mms[0];
      expect(
        at?.ptes.map((p) => [p.state, p.kind]),
        detail,
      ).toEqual([[detail, kind]]);
      expect(at?.devices[0]?.entries[0]?.stale ?? null, detail).toBe(stale);
    });
  });

  it("the address axis draws each touched stretch to scale and cuts the empty space between them", () => {
    const page = 4096;
    const axis = buildAxis(
      [
        [0x10000, 0x10000 + 4 * page],
        [0x7fff0000, 0x7fff0000 + page],
        [0x10000 + page, 0x10000 + 2 * page],
      ],
      600,
    );
    expect(axis?.segments.map((s) => [s.start, s.end])).toEqual([
      [0x10000, 0x14000],
      [0x7fff0000, 0x7fff1000],
    ]);
    const x = (a: number) => axis?.x(a) ?? Number.NaN;
    expect(x(0x10000)).toBe(0);
    expect(x(0x12000)).toBeCloseTo((x(0x10000) + x(0x14000)) / 2);
    expect(x(0x7fff1000)).toBeCloseTo(600);
    // A range across the cut is drawn as one piece per segment.
    expect(axis?.pieces(0x13000, 0x7fff1000)).toHaveLength(2);
    expect(buildAxis([], 600)).toBeNull();
  });
});
