// The lock cycle in the timeline (web/src/model/cyclePlaces.ts): for real lock-order counterexamples,
// which hold slice and which acquisition marker belong to which edge of the report, and that a
// trace missing part of an edge (an earlier execution, a hold before the trace starts or in setup,
// a task it does not have) still places the rest.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Trace, TraceEvent } from "../../src/trace/schema.js";
import type { CyclePlaces, EdgePlace } from "../../web/src/model/cyclePlaces.js";
import { buildViewModel, type ViewModel } from "../../web/src/model/viewModel.js";
import { checked } from "./traces.js";

/** What each edge's places say, in the page's words: lane, hold, acquisition. */
function described(vm: ViewModel): string[] {
  const places = vm.cyclePlaces as CyclePlaces;
  return places.edges.map((p) => {
    const lane = p.lane === null ? "no lane" : vm.timeline.lanes[p.lane]?.name;
    const hold = p.hold === null ? "no hold" : `${vm.labels.slice(p.hold)} ${p.hold.from}..${p.hold.to}`;
    const take = p.take === null ? "no take" : `${vm.labels.marker(p.take)} @${p.take.step}`;
    return `${p.n} ${lane}: ${hold}; ${take}`;
  });
}

/** The invariants of every placed edge, whatever the trace lacks. */
function checkPlaces(vm: ViewModel): void {
  const places = vm.cyclePlaces as CyclePlaces;
  expect(places.edges.map((p) => p.edge)).toEqual(vm.lockCycle?.edges);
  for (const p of places.edges) {
    if (p.inTrace) expect(p.lane).not.toBeNull();
    if (p.edge.execution !== null) expect(p.inTrace).toBe(false);
    if (!p.inTrace) expect([p.hold, p.take]).toEqual([null, null]);
    if (p.hold !== null) {
      expect(p.hold.kind).toBe("hold");
      expect(vm.objects.get((vm.trace.events[p.hold.event] as TraceEvent).obj)?.name).toBe(p.edge.from);
      expect(p.hold.from).toBeLessThanOrEqual(p.edge.step);
      expect(p.hold.to).toBeGreaterThanOrEqual(p.edge.step);
    }
    if (p.take !== null) {
      expect(p.take.step).toBe(p.edge.step);
      expect(p.take.lane).toBe(p.lane);
    }
    if (p.inTrace) {
      expect(p.holdFrom).toBeLessThanOrEqual(p.edge.step);
      expect(p.holdTo).toBeGreaterThanOrEqual(p.edge.step);
    }
    // Whatever the lanes cannot show is said.
    if (p.note === null) {
      expect(p.inTrace && p.hold?.lane === p.lane && p.take !== null).toBe(true);
    }
    if (!p.inTrace || p.hold === null || p.take === null) expect(p.note).toMatch(/\w/);
  }
  for (const l of places.links) {
    const a = places.edges[l.from] as EdgePlace;
    const b = places.edges[l.to] as EdgePlace;
    expect([a.inTrace, b.inTrace, a.edge.to, b.edge.from]).toEqual([true, true, l.lock, l.lock]);
  }
}

describe("the lock cycle in the timeline", () => {
  it("classic/abba: each edge's hold is its task's slice of the held lock, its acquisition the marker at its step, linked both ways", async () => {
    const f = await checked("classic/abba");
    const vm = buildViewModel(f.trace);
    checkPlaces(vm);
    const [now, other] = vm.cyclePlaces?.edges ?? [];
    // As `mmun check classic/abba` prints it: t2 took lock_b then lock_a and ended; t1 took lock_a,
    // then lock_b closed the cycle.
    expect(now?.edge).toMatchObject({ now: true, task: f.task, step: f.step, from: "lock_a", to: "lock_b" });
    expect(other?.edge).toMatchObject({ now: false, task: "t2", from: "lock_b", to: "lock_a" });
    expect(described(vm)).toEqual([
      `1 t1: mutex lock_a, never released ${now?.edge.heldStep}..${f.step + 1}; takes mutex lock_b @${f.step}`,
      `2 t2: mutex lock_b ${other?.edge.heldStep}..${other?.hold?.to}; takes mutex lock_a @${other?.edge.step}`,
    ]);
    expect(other?.hold?.to).toBeGreaterThan(other?.edge.step ?? Number.NaN);
    expect(vm.cyclePlaces?.links).toEqual([
      { from: 0, to: 1, lock: "lock_b" },
      { from: 1, to: 0, lock: "lock_a" },
    ]);
    expect(vm.cyclePlaces?.edges.map((p) => p.note)).toEqual([null, null]);
  });

  it("broken/fence-before-fault: the holds are the fence and invalidate lock maps; the acquisitions, annotations without an acquire, are what the task did at that step", async () => {
    const f = await checked("broken/fence-before-fault");
    const vm = buildViewModel(f.trace);
    checkPlaces(vm);
    const edges = vm.cyclePlaces?.edges ?? [];
    expect(edges.map((p) => [p.edge.from, p.edge.to, p.edge.heldMode])).toEqual([
      ["mmu_notifier_invalidate_range_start", "dma_fence_map", "write"],
      ["dma_fence_map", "mmu_notifier_invalidate_range_start", "read"],
    ]);
    expect(edges.map((p) => p.inTrace)).toEqual([true, true]);
    const fork = edges[0] as EdgePlace;
    const app = edges[1] as EdgePlace;
    // readBegin takes the invalidate map (lock_map_acquire + release: lockdep only); the fork's
    // fence wait takes the fence map where the report stops it.
    expect(app.take?.kind).toBe("read_begin");
    const readBegin = vm.labels.marker(app.take as NonNullable<EdgePlace["take"]>);
    expect(described(vm)).toEqual([
      `1 ${fork.edge.task}: lockmap mmu_notifier_invalidate_range_start, never released ${fork.edge.heldStep}..${f.step + 1}; FAILS (lock-order) @${f.step}`,
      `2 ${app.edge.task}: lockmap dma_fence_map (read), never released ${app.edge.heldStep}..${f.step + 1}; ${readBegin} @${app.edge.step}`,
    ]);
    expect(app.note).toMatch(/no acquire of "mmu_notifier_invalidate_range_start" at step \d+ in the trace/);
    expect(vm.cyclePlaces?.links.map((l) => l.lock)).toEqual([
      "dma_fence_map",
      "mmu_notifier_invalidate_range_start",
    ]);
  });

  it("broken/alloc-under-lock: the edges lockdep remembers from an earlier execution are not placed in this trace's steps; the one made here is", async () => {
    const f = await checked("broken/alloc-under-lock");
    const vm = buildViewModel(f.trace);
    checkPlaces(vm);
    const edges = vm.cyclePlaces?.edges ?? [];
    expect(vm.lockCycle?.locks).toEqual([
      "notifier_lock",
      "fs_reclaim",
      "mmu_notifier_invalidate_range_start",
    ]);
    expect(edges.map((p) => [p.edge.now, p.edge.execution, p.inTrace])).toEqual([
      [true, null, true],
      [false, 1, false],
      [false, 1, false],
    ]);
    expect(described(vm)[0]).toBe(
      `1 app: mutex notifier_lock, never released ${f.step}..${f.step + 1}; takes lockmap fs_reclaim @${f.step}`,
    );
    // Their tasks' lanes are known (a badge by the name), their steps are another execution's.
    expect(edges.slice(1).map((p) => vm.timeline.lanes[p.lane ?? -1]?.name)).toEqual(
      edges.slice(1).map((p) => p.edge.task),
    );
    expect(edges[1]?.note).toMatch(/^made in execution #1, an earlier execution/);
    expect(vm.cyclePlaces?.links).toEqual([]);
  });

  it("a hold taken before the trace starts is drawn from its first step; one taken in setup is found outside any task; an unknown task has no lane", async () => {
    const f = await checked("classic/abba");
    const other = buildViewModel(f.trace).cyclePlaces?.edges[1] as EdgePlace;
    // The trace without the steps before the other task's acquisition: its hold began before.
    const cut = buildViewModel({
      ...f.trace,
      events: f.trace.events.filter((e) => e.step > other.edge.heldStep),
    });
    checkPlaces(cut);
    const p = cut.cyclePlaces?.edges[1] as EdgePlace;
    expect(p.inTrace).toBe(true);
    expect(p.hold).toBeNull();
    expect(p.holdFrom).toBe(cut.timeline.steps[0]);
    expect(p.note).toBe(`"lock_b" was held since step ${other.edge.heldStep}, before the trace starts`);
    expect(p.take?.kind).toBe("acquire");

    // Setup (outside any task) takes A; task t takes B; a report blames t for A -> B, and an edge
    // by code outside any task and one by a task the trace does not have.
    const ev = (
      step: number,
      task: number,
      kind: TraceEvent["kind"],
      obj: number,
      detail?: string,
    ): TraceEvent =>
      detail === undefined ? { step, time: 0, task, kind, obj } : { step, time: 0, task, kind, obj, detail };
    const message =
      'lock-order: possible circular locking dependency "A" -> "B" -> "C" -> "A":\n' +
      '  now: task "t" took "B" (write, step 3) while holding "A" (write, acquired at step 1)\n' +
      '  task "(outside any task)" took "C" (write, step 2) while holding "B" (write, acquired at step 1)\n' +
      '  task "gone" took "A" (read, step 7) while holding "C" (write, acquired at step 6)';
    const trace: Trace = {
      version: 2,
      tasks: [{ id: 0, name: "t" }],
      objects: [
        { id: 0, type: "mutex", name: "A" },
        { id: 1, type: "mutex", name: "B" },
        { id: 2, type: "mutex", name: "C" },
      ],
      events: [
        ev(1, -1, "acquire", 0, "write"),
        ev(1, -1, "acquire", 1, "write"),
        ev(2, -1, "acquire", 2, "write"),
        ev(2, -1, "release", 1),
        ev(3, 0, "run", -1),
        ev(3, 0, "point", 1, "lock"),
        ev(3, 0, "report", -1, message),
        ev(3, 0, "acquire", 1, "write"),
      ],
      meta: {},
    };
    const vm = buildViewModel(trace);
    checkPlaces(vm);
    expect(described(vm)).toEqual([
      "1 t: mutex A, never released 1..4; takes mutex B @3",
      "2 (outside any task): mutex B 1..2; takes mutex C @2",
      "3 no lane: no hold; no take",
    ]);
    expect(vm.cyclePlaces?.edges.map((e) => e.note)).toEqual([
      '"A" was taken at step 1 in (outside any task)',
      null,
      'this trace has no task "gone"',
    ]);
    // Edge 1 takes B, which edge 2 holds; edge 2 takes C, held only in the edge the trace lacks.
    expect(vm.cyclePlaces?.links).toEqual([{ from: 0, to: 1, lock: "B" }]);
  });

  it("any part of a real lock-order trace lost (seed 20261203): every edge placed as far as the rest allows, never a throw", async () => {
    const traces = [
      (await checked("classic/abba")).trace,
      (await checked("broken/fence-before-fault")).trace,
      (await checked("broken/alloc-under-lock")).trace,
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...traces),
        fc.array(fc.boolean(), { minLength: 400, maxLength: 400 }),
        (trace, keep) => {
          const events = trace.events.filter((e, i) => e.kind === "report" || keep[i % keep.length]);
          const vm = buildViewModel({ ...trace, events });
          expect(vm.lockCycle).not.toBeNull();
          checkPlaces(vm);
        },
      ),
      { seed: 20261203, numRuns: 150 },
    );
  });
});
