// Tests of src/sync/syncKernel.ts: tasks, run(), reports and library use outside tasks.

import { describe, expect, it } from "vitest";
import { MmunError } from "../../src/lib/errno.js";
import type { Report } from "../../src/sync/report.js";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import { OUTSIDE } from "../../src/sync/task.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, runRejects, seedsFor } from "./helpers.js";

describe("kernel options", () => {
  it("rejects an empty task name or a missing function with EINVAL", () => {
    const k = new SyncKernel();
    expect(() => k.spawn("", () => {})).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => k.spawn("t", 42 as unknown as () => void)).toThrow(/needs a function/);
  });

  it("accepts only a power-of-two page size", () => {
    expect(new SyncKernel({ pageSize: 65536 }).pageSize).toBe(65536);
    expect(new SyncKernel().pageSize).toBe(4096);
    expect(() => new SyncKernel({ pageSize: 3000 })).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => new SyncKernel({ pageSize: 0 })).toThrow(/power of two/);
  });
});

describe.each(RUNTIMES)("tasks and run() (%s)", (runtime) => {
  it("resolves run() with no tasks at all", async () => {
    await expect(makeKernel(runtime).run()).resolves.toBeUndefined();
  });

  it("makes run() reject with the very error a task threw, and reports it naming the task", async () => {
    const k = makeKernel(runtime, 5);
    const boom = new Error("boom");
    let otherDone = false;
    k.spawn("thrower", async () => {
      await k.point();
      throw boom;
    });
    k.spawn("other", async () => {
      await k.point();
      otherDone = true;
    });
    expect(await runRejects(k)).toBe(boom);
    expect(otherDone).toBe(true);
    const errs = reportsOf(k, "error");
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ task: "thrower", error: boom });
    expect(errs[0]!.message).toBe('task "thrower" threw: boom');
  });

  it("runs a task spawned from inside a task, and run() waits for it (seeds 0..19)", async () => {
    for (const seed of seedsFor(runtime, 20)) {
      const k = makeKernel(runtime, seed);
      const log: string[] = [];
      k.spawn("parent", async () => {
        const child = k.spawn("child", async () => {
          await k.point();
          log.push("child");
        });
        expect(child.name).toBe("child");
        await k.point();
        log.push("parent");
      });
      await k.run();
      expect(log.sort()).toEqual(["child", "parent"]);
      expect(k.sched.tasks.map((t) => t.state)).toEqual(["done", "done"]);
    }
  });

  it("rejects a second run() while one is in progress (EBUSY)", async () => {
    const k = makeKernel(runtime);
    k.spawn("t", () => k.msleep(10));
    const first = k.run();
    await expect(k.run()).rejects.toMatchObject({ code: "EBUSY" });
    await first;
    expect(k.now()).toBe(10);
  });

  it("can run again after new tasks are spawned", async () => {
    const k = makeKernel(runtime);
    let n = 0;
    k.spawn("one", () => {
      n++;
    });
    await k.run();
    k.spawn("two", () => {
      n++;
    });
    await k.run();
    expect(n).toBe(2);
  });
});

describe("reports", () => {
  it("record the running task, step and logical time, and reach onReport as they are raised", async () => {
    const seen: Report[] = [];
    const k = new SyncKernel({ onReport: (r) => seen.push(r) });
    k.spawn("w", async () => {
      await k.msleep(7);
      k.warn("something odd");
    });
    await k.run();
    expect(k.reports).toHaveLength(1);
    expect(k.reports[0]).toMatchObject({ kind: "warn", message: "something odd", task: "w", time: 7 });
    expect(k.reports[0]!.step).toBeGreaterThan(0);
    expect(seen).toEqual(k.reports);
  });

  it("a warn does not fail run(), and failOn: [] lets run() resolve despite a deadlock", async () => {
    const k = new SyncKernel({ failOn: [] });
    const c = k.completion("never");
    k.spawn("stuck", () => c.wait());
    await expect(k.run()).resolves.toBeUndefined();
    expect(kinds(k)).toEqual(["deadlock"]);
  });

  it("only the reports of the current run make run() reject", async () => {
    const k = new SyncKernel();
    k.spawn("bad", () => {
      throw new Error("first run");
    });
    await expect(k.run()).rejects.toThrow("first run");
    k.spawn("good", () => {});
    await expect(k.run()).resolves.toBeUndefined();
  });

  it("a task ending while holding a lock is reported naming the task and the lock", async () => {
    const k = new SyncKernel();
    const m = k.mutex("forgotten");
    k.spawn("leaky", () => m.lock());
    const e = await runRejects(k);
    expect(e).toBeInstanceOf(MmunError);
    const errs = reportsOf(k, "error");
    expect(errs).toHaveLength(1);
    expect(errs[0]!.message).toMatch(
      /task "leaky" ended while holding mutex "forgotten" \(acquired at step \d+\)/,
    );
  });

  it("a task ending inside a non-blocking region is reported", async () => {
    const k = new SyncKernel();
    k.spawn("open", () => k.nonBlockStart());
    await runRejects(k);
    expect(reportsOf(k, "error")[0]!.message).toMatch(/task "open" ended inside 1 non-blocking region/);
  });

  it("nonBlockEnd without nonBlockStart throws EINVAL naming the task", async () => {
    const k = new SyncKernel();
    let caught: unknown;
    k.spawn("unbalanced", () => {
      try {
        k.nonBlockEnd();
      } catch (e) {
        caught = e;
      }
    });
    await runRejects(k);
    expect(caught).toMatchObject({ code: "EINVAL" });
    expect(String(caught)).toMatch(/task "unbalanced" called nonBlockEnd\(\) without nonBlockStart\(\)/);
  });
});

describe("library use outside tasks (direct runtime)", () => {
  it("locks and unlocks without a task, synchronously when uncontended", () => {
    const k = new SyncKernel();
    const m = k.mutex("m");
    expect(m.lock()).toBeUndefined();
    expect(m.owner).toBe(OUTSIDE);
    expect(m.trylock()).toBe(false);
    m.unlock();
    expect(m.isLocked()).toBe(false);
    expect(() => m.unlock()).toThrow(/unlocks mutex "m", which is not locked/);
    const sem = k.rwSemaphore("sem");
    expect(sem.downRead()).toBeUndefined();
    expect(sem.isReadLockedByMe()).toBe(true);
    sem.upRead();
    expect(k.point()).toBeUndefined();
  });

  // Outside code must start its waits before run(): while a run is in progress the scheduler's
  // current task is the one it switched to, and an outside call would be taken for that task's.
  it("waits for a fence that a task signals", async () => {
    const k = new SyncKernel();
    const f = k.dmaFence("job");
    k.spawn("gpu", async () => {
      await k.msleep(5);
      f.signal();
    });
    const p = f.wait();
    expect(p).toBeInstanceOf(Promise);
    const running = k.run();
    await p;
    expect(f.isSignaled()).toBe(true);
    expect(k.now()).toBe(5);
    await running;
  });

  it("hands a contended mutex between outside callers in FIFO order", async () => {
    const k = new SyncKernel();
    const m = k.mutex("m");
    const order: number[] = [];
    m.lock();
    const waits = [1, 2].map((i) => Promise.resolve(m.lock()).then(() => order.push(i)));
    expect(m.lock()).toBeInstanceOf(Promise);
    m.unlock();
    await waits[0];
    m.unlock();
    await waits[1];
    expect(order).toEqual([1, 2]);
  });

  it("counts an outside timed wait as a deadline: the clock jumps to it before declaring a deadlock", async () => {
    const k = new SyncKernel({ failOn: [] });
    const timed = k.completion("c").waitTimeout(5);
    k.spawn("stuck", () => k.completion("never").wait());
    await k.run();
    expect(k.now()).toBe(5);
    expect(kinds(k)).toEqual(["deadlock"]);
    expect(k.reports[0]!.time).toBe(5);
    expect(await timed).toBe(0);
  });

  it("times out an outside wait when the clock reaches its deadline", async () => {
    const k = new SyncKernel();
    const c = k.completion("c");
    const f = k.dmaFence("f");
    const timed = c.waitTimeout(5);
    const signalled = f.waitTimeout(50);
    k.spawn("ticker", async () => {
      await k.msleep(20);
      f.signal();
    });
    const running = k.run();
    expect(await timed).toBe(0);
    expect(await signalled).toBe(30);
    await running;
    expect(k.now()).toBe(20);
  });
});
