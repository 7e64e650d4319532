import { describe, expect, it } from "vitest";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import { toPerfetto } from "../../src/trace/perfetto.js";

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
