import { describe, expect, it } from "vitest";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import { type ChromeTrace, toPerfetto } from "../../src/trace/perfetto.js";
import { counterexample } from "../web/traces.js";

describe("Perfetto export", () => {
  it("gives one named track per task, a slice per lock hold and per wait, and instants for the rest", async () => {
    const k = new SyncKernel({ trace: true });
    const m = k.mutex("pt_lock");
    const f = k.dmaFence("job");
    k.spawn("cpu0", async () => {
      await m.lock();
      await k.point("inside");
      m.unlock();
      await f.wait();
    });
    k.spawn("gpu", async () => {
      await m.lock();
      m.unlock();
      f.signal();
    });
    await k.run();
    const trace = k.trace?.toJSON();
    if (trace === undefined) throw new Error("no trace");
    const p = toPerfetto(trace);
    const names = p.traceEvents
      .filter((e) => e.ph === "M" && e.name === "thread_name")
      .map((e) => e.args?.name);
    expect(names).toEqual(["cpu0", "gpu"]);
    const holds = p.traceEvents.filter((e) => e.ph === "X" && e.cat === "lock");
    // Two holds of the mutex, and the fence signalling section (a lockdep pseudo-lock) around signal().
    expect(holds.map((e) => e.name).sort()).toEqual([
      "hold lockmap dma_fence_map",
      "hold mutex pt_lock",
      "hold mutex pt_lock",
    ]);
    expect(holds.every((e) => (e.dur ?? -1) >= 0)).toBe(true);
    const waits = p.traceEvents.filter((e) => e.ph === "X" && e.cat === "wait");
    expect(waits.map((e) => e.name)).toContain("wait fence job");
    expect(p.traceEvents.some((e) => e.ph === "i" && e.cat === "signal")).toBe(true);
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });

  it("closes holds and waits left open by a deadlock at the end of the trace", async () => {
    const k = new SyncKernel({ trace: true, failOn: [] });
    const f = k.dmaFence("never");
    k.spawn("stuck", async () => {
      await f.wait();
    });
    await k.run();
    const p = toPerfetto(k.trace?.toJSON() ?? { version: 1, tasks: [], objects: [], events: [], meta: {} });
    expect(p.traceEvents.some((e) => e.name === "wait fence never (never woken)")).toBe(true);
  });
});

describe("Perfetto export of a recorded counterexample", () => {
  it("is trace-event JSON with every required field: one named track per task, slices with durations, instants with a scope", async () => {
    const f = await counterexample("mm/mirror-zaps-only-unmap");
    const p = JSON.parse(JSON.stringify(toPerfetto(f.trace))) as ChromeTrace;
    expect(Array.isArray(p.traceEvents)).toBe(true);
    expect(["ns", "ms"]).toContain(p.displayTimeUnit);
    expect(p.metadata.mmunTraceVersion).toBe(f.trace.version);
    for (const e of p.traceEvents) {
      // The Trace Event Format's required fields, by phase.
      expect(typeof e.name).toBe("string");
      expect(["X", "i", "M"]).toContain(e.ph);
      expect(Number.isInteger(e.pid)).toBe(true);
      expect(Number.isInteger(e.tid)).toBe(true);
      expect(typeof e.ts).toBe("number");
      if (e.ph === "X") expect(e.dur).toBeGreaterThanOrEqual(0);
      if (e.ph === "i") expect(["t", "p", "g"]).toContain(e.s);
      if (e.ph === "M") expect(typeof e.args?.name).toBe("string");
    }
    const tracks = p.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name");
    const taskTracks = f.trace.tasks.map((t) => t.name);
    expect(tracks.map((e) => e.args?.name).slice(0, taskTracks.length)).toEqual(taskTracks);
    // Every event sits on a named track: its task's, or the one of events outside any task.
    const tids = new Set(tracks.map((e) => e.tid));
    expect(tids.size).toBe(tracks.length);
    for (const e of p.traceEvents) if (e.ph !== "M") expect(tids).toContain(e.tid);
    // Address-space events say where, in hex.
    const pte = p.traceEvents.find((e) => e.cat === "pte");
    expect(pte?.args?.addr).toMatch(/^0x[0-9a-f]+$/);
    // The version-2 events are there as instants (the failure's report among them).
    const cats = new Set(p.traceEvents.map((e) => e.cat));
    for (const c of ["read_retry", "callback", "pte", "dev_map", "report"]) expect(cats).toContain(c);
  });
});
