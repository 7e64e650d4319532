// Tests of src/sync/directScheduler.ts and src/sync/controlledScheduler.ts (with the random and replay strategies).

import { describe, expect, it } from "vitest";
import { RandomChooser } from "../../src/explore/strategies/random.js";
import { ReplayChooser } from "../../src/explore/strategies/replay.js";
import type { Chooser, ControlledScheduler } from "../../src/sync/controlledScheduler.js";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import type { Task } from "../../src/sync/task.js";
import type { Trace } from "../../src/trace/schema.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, runRejects, runSettled } from "./helpers.js";

describe("direct scheduler", () => {
  it("runs runnable tasks in FIFO order: each point lets the others run in spawn order", async () => {
    const k = new SyncKernel();
    const log: string[] = [];
    for (const name of ["a", "b", "c"]) {
      k.spawn(name, async () => {
        for (let i = 1; i <= 3; i++) {
          log.push(`${name}${i}`);
          await k.point();
        }
      });
    }
    await k.run();
    expect(log).toEqual(["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]);
  });

  it("keeps a task running until it waits: tasks without points run one after the other", async () => {
    const k = new SyncKernel();
    const m = k.mutex("m");
    const log: string[] = [];
    for (const name of ["a", "b"]) {
      k.spawn(name, async () => {
        log.push(`${name}+`);
        await m.lock();
        m.unlock();
        await k.msleep(0);
        log.push(`${name}-`);
      });
    }
    await k.run();
    expect(log).toEqual(["a+", "a-", "b+", "b-"]);
  });

  it("completes uncontended operations synchronously, without a promise", async () => {
    const k = new SyncKernel();
    const results: unknown[] = [];
    k.spawn("solo", () => {
      const m = k.mutex("m");
      const sem = k.rwSemaphore("sem");
      const wq = k.waitQueue("wq");
      const c = k.completion("c");
      const f = k.dmaFence("f");
      c.complete();
      f.signal();
      results.push(
        m.lock(),
        sem.downRead(),
        wq.waitEvent(() => true),
        c.wait(),
        f.wait(),
        k.point(),
      );
      sem.upRead();
      m.unlock();
    });
    await k.run();
    expect(results).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it("wakes mutex waiters in the order they blocked, not the order they were spawned", async () => {
    const k = new SyncKernel();
    const m = k.mutex("m");
    const order: string[] = [];
    k.spawn("holder", async () => {
      await m.lock();
      for (let i = 0; i < 4; i++) await k.point();
      m.unlock();
    });
    // Each waiter yields `delay` times first, so they block in the order c, b, a.
    for (const [name, delay] of [
      ["a", 2],
      ["b", 1],
      ["c", 0],
    ] as const) {
      k.spawn(name, async () => {
        for (let i = 0; i < delay; i++) await k.point();
        await m.lock();
        order.push(name);
        m.unlock();
      });
    }
    await k.run();
    expect(order).toEqual(["c", "b", "a"]);
  });

  it("wakes wait-queue waiters in block order, behind tasks that were already runnable", async () => {
    const k = new SyncKernel();
    const wq = k.waitQueue("wq");
    let go = false;
    const log: string[] = [];
    for (const name of ["w1", "w2"]) {
      k.spawn(name, async () => {
        await wq.waitEvent(() => go);
        log.push(name);
      });
    }
    k.spawn("busy", async () => {
      await k.point();
      log.push("busy");
    });
    k.spawn("waker", () => {
      go = true;
      wq.wakeUpAll();
      log.push("waker");
    });
    await k.run();
    // busy was queued (at its point) before the waiters were woken.
    expect(log).toEqual(["waker", "busy", "w1", "w2"]);
  });
});

/** A small world touching most primitives; its final state and trace identify the interleaving. */
function scenario(k: SyncKernel): () => unknown {
  const m = k.mutex("m");
  const sem = k.rwSemaphore("sem");
  const wq = k.waitQueue("wq");
  const c = k.completion("c");
  const log: string[] = [];
  let x = 0;
  let ready = 0;
  for (const name of ["a", "b", "c"]) {
    k.spawn(name, async () => {
      await m.lock();
      const v = x;
      await k.point();
      x = v + 1;
      log.push(`${name} inc ${k.now()}`);
      m.unlock();
      await sem.downRead();
      await k.msleep(name === "b" ? 3 : 1);
      sem.upRead();
      ready++;
      wq.wakeUpAll();
      c.complete();
      log.push(`${name} done ${k.now()}`);
    });
  }
  k.spawn("writer", async () => {
    await sem.downWrite();
    log.push(`writer ${x}`);
    sem.upWrite();
    await wq.waitEvent(() => ready === 3);
    for (let i = 0; i < 3; i++) await c.wait();
    log.push(`writer end ${k.now()}`);
  });
  return () => ({ log, x, now: k.now(), step: k.step });
}

function runOnce(chooser: Chooser): Promise<{ choices: number[]; trace: Trace; state: unknown }> {
  const k = new SyncKernel({ runtime: "controlled", chooser, trace: true });
  const state = scenario(k);
  return k.run().then(() => ({
    choices: [...(k.sched as ControlledScheduler).choices],
    trace: k.trace!.toJSON(),
    state: state(),
  }));
}

describe("controlled scheduler", () => {
  it("replays a run exactly from its choice list: same choices, trace and final state (seeds 0..49)", async () => {
    for (let seed = 0; seed < 50; seed++) {
      const first = await runOnce(new RandomChooser(seed));
      expect(first.choices.length).toBeGreaterThan(0);
      const replayed = await runOnce(new ReplayChooser(first.choices));
      expect(replayed.choices, `seed ${seed}`).toEqual(first.choices);
      expect(replayed.trace, `seed ${seed}`).toEqual(first.trace);
      expect(replayed.state, `seed ${seed}`).toEqual(first.state);
    }
  });

  it("gives the same run for the same seed (seeds 0..49)", async () => {
    for (let seed = 0; seed < 50; seed++) {
      const a = await runOnce(new RandomChooser(seed));
      const b = await runOnce(new RandomChooser(seed));
      expect(b, `seed ${seed}`).toEqual(a);
    }
  });

  it("explores different interleavings for different seeds (seeds 0..49)", async () => {
    const schedules = new Set<string>();
    const states = new Set<string>();
    for (let seed = 0; seed < 50; seed++) {
      const r = await runOnce(new RandomChooser(seed));
      schedules.add(r.choices.join(","));
      states.add(JSON.stringify(r.state));
    }
    expect(schedules.size).toBeGreaterThan(10);
    expect(states.size).toBeGreaterThan(1);
  });

  it("makes every operation that may wait a scheduling point, and no other operation", async () => {
    const ops: string[] = [];
    const chooser: Chooser = {
      choose(enabled: readonly Task[], current: Task | null): number {
        if (current !== null && current.name === "t") ops.push(current.pendingOp);
        const i = enabled.findIndex((t) => t.name === "t");
        return Math.max(i, 0);
      },
    };
    const k = new SyncKernel({ runtime: "controlled", chooser });
    // Stays runnable (it never runs before t ends), so the chooser is asked at each of t's points.
    k.spawn("idle", () => k.point("idle"));
    k.spawn("t", async () => {
      const m = k.mutex("m");
      const s = k.spinLock("s");
      const sem = k.rwSemaphore("sem");
      const wq = k.waitQueue("wq");
      const c = k.completion("c");
      const f = k.dmaFence("f");
      const srcu = k.srcu("srcu");
      await m.lock();
      m.unlock();
      m.trylock();
      m.unlock();
      await s.lock();
      s.unlock();
      await sem.downRead();
      sem.upRead();
      await sem.downWrite();
      sem.upWrite();
      await wq.waitEvent(() => true);
      wq.wakeUpAll();
      c.complete();
      await c.wait();
      f.signal();
      await f.wait();
      await k.msleep(0);
      const idx = srcu.readLock();
      srcu.readUnlock(idx);
      await srcu.synchronize();
      await k.point("mine");
    });
    await k.run();
    expect(ops).toEqual([
      "lock",
      "spin_lock",
      "down_read",
      "down_write",
      "wait_event",
      "wait_for_completion",
      "fence_wait",
      "msleep",
      "synchronize_srcu",
      "mine",
    ]);
  });

  it("records a choice only where two or more tasks were runnable", async () => {
    const k = new SyncKernel({ runtime: "controlled", chooser: new RandomChooser(1) });
    k.spawn("solo", async () => {
      for (let i = 0; i < 5; i++) await k.point();
    });
    await k.run();
    const s = k.sched as ControlledScheduler;
    expect(s.points).toBe(5);
    expect(s.choices).toEqual([]);
  });

  it("ends a livelock at maxSteps with an error report naming a likely unbounded retry loop", async () => {
    const k = new SyncKernel({ runtime: "controlled", chooser: new RandomChooser(3), maxSteps: 50 });
    const wq = k.waitQueue("wq");
    let done = false;
    k.spawn("retry", async () => {
      while (!done) await k.point("retry");
    });
    k.spawn("stuck", async () => {
      await wq.waitEvent(() => false);
      done = true;
    });
    const e = await runRejects(k);
    expect(e).toMatchObject({ code: "EINVAL" });
    const errors = k.reports.filter((r) => r.kind === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/exceeded the bound of 50 scheduling points/);
    expect(errors[0]!.message).toMatch(/unbounded retry loop or a livelock/);
    expect(errors[0]!.stepBound).toBe(true);
    expect(errors[0]!.task).toBe("retry");
    expect((k.sched as ControlledScheduler).points).toBe(51);
  });

  it("rejects a chooser that picks an index outside the runnable set (EINVAL)", async () => {
    const k = new SyncKernel({ runtime: "controlled", chooser: { choose: () => 7 } });
    let ran = false;
    k.spawn("a", async () => {
      await k.point();
      ran = true;
    });
    k.spawn("b", async () => {
      await k.point();
      ran = true;
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EINVAL" });
    expect(ran).toBe(false);
  });

  it("stops a replay that diverges from the recorded run and says at which choice", async () => {
    const chooser = new ReplayChooser([0, 5]);
    const k = new SyncKernel({ runtime: "controlled", chooser });
    let points = 0;
    for (const name of ["a", "b"]) {
      k.spawn(name, async () => {
        await k.point();
        points++;
        await k.point();
        points++;
      });
    }
    await k.run();
    expect(k.sched.aborted).toBe(true);
    expect(points).toBe(0);
    expect(chooser.divergence).toMatch(
      /at recorded choice 1 of 2, task #5 is not runnable \(runnable: #0 "a", #1 "b"\)/,
    );
  });

  it("an exact replay also stops at a decision past the end of its list", async () => {
    const chooser = new ReplayChooser([0], { exact: true });
    const k = new SyncKernel({ runtime: "controlled", chooser });
    for (const name of ["a", "b"]) k.spawn(name, () => k.point());
    await k.run();
    expect(chooser.divergence).toMatch(/after all 1 recorded choices the execution needs another/);
  });

  it("needs a chooser (EINVAL) and rejects unknown runtimes", () => {
    expect(() => new SyncKernel({ runtime: "controlled" })).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(() => new SyncKernel({ runtime: "other" as "direct" })).toThrow(/unknown runtime/);
  });

  it("after a replay list ends keeps the running task running (no preemption)", async () => {
    const k = new SyncKernel({ runtime: "controlled", chooser: new ReplayChooser([]) });
    const log: string[] = [];
    for (const name of ["a", "b"]) {
      k.spawn(name, async () => {
        for (let i = 0; i < 3; i++) {
          log.push(name);
          await k.point();
        }
      });
    }
    await runSettled(k);
    expect(log).toEqual(["a", "a", "a", "b", "b", "b"]);
  });
});

describe("an aborted run (the explorer stops an execution at its first failure)", () => {
  it("keeps crediting the running task and makes every later operation do nothing", async () => {
    let aborts = 0;
    const k = new SyncKernel({
      runtime: "controlled",
      chooser: new ReplayChooser([]),
      trace: true,
      failOn: [],
      onReport: () => {
        aborts++;
        k.sched.abort();
      },
    });
    const a = k.mutex("a");
    const b = k.mutex("b");
    const f = k.dmaFence("f");
    const seen: unknown[] = [];
    k.spawn("t", async () => {
      await a.lock();
      k.report("check", "found it");
      // The rest of the task runs on, but nothing it does takes effect or is reported.
      a.unlock();
      a.unlock();
      seen.push(b.trylock(), f.signal());
      k.spawn("late", () => {
        seen.push("late ran");
      });
      await b.lock();
      seen.push("after a lock that never returns");
    });
    await k.run();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(aborts).toBe(1);
    expect(k.reports.map((r) => [r.kind, r.task])).toEqual([["check", "t"]]);
    expect(a.owner?.name).toBe("t");
    expect(b.isLocked()).toBe(false);
    expect(f.isSignaled()).toBe(false);
    expect(seen).toEqual([false, 0]);
    const events = k.trace?.toJSON().events ?? [];
    expect(events.at(-1)).toMatchObject({ kind: "report", task: 0 });
  });
});

describe("spinning tasks (cpuRelax, condResched)", () => {
  it("direct scheduler: a spin queues the task behind every runnable one, so a spin-wait ends", async () => {
    const k = new SyncKernel();
    const log: string[] = [];
    let flag = false;
    k.spawn("waiter", async () => {
      while (!flag) {
        log.push("check");
        await k.cpuRelax();
      }
    });
    k.spawn("setter", async () => {
      log.push("set");
      flag = true;
    });
    await k.run();
    expect(log).toEqual(["check", "set"]);
  });

  it("cpuRelax is legal in atomic context, on both runtimes (condResched is not: spinLock.test.ts)", async () => {
    for (const runtime of RUNTIMES) {
      const k = makeKernel(runtime);
      const s = k.spinLock("s");
      k.spawn("t", async () => {
        await s.lock();
        await k.cpuRelax();
        s.unlock();
      });
      await k.run();
      expect(kinds(k), runtime).toEqual([]);
    }
  });

  it("controlled scheduler: a spinning task is not offered until the task runnable at its spin has run a step", async () => {
    const offered: string[][] = [];
    const chooser: Chooser = {
      // Always the lowest id: without fairness the waiter (id 0) would spin forever.
      choose: (enabled) => {
        offered.push(enabled.map((t) => t.name));
        return 0;
      },
    };
    const k = new SyncKernel({ runtime: "controlled", chooser, maxSteps: 100 });
    let flag = false;
    k.spawn("waiter", async () => {
      while (!flag) await k.cpuRelax();
    });
    k.spawn("setter", async () => {
      await k.point();
      flag = true;
    });
    await k.run();
    expect(kinds(k)).toEqual([]);
    // The first decision offers both; after each spin only the setter is offered (no decision).
    expect(offered).toEqual([
      ["waiter", "setter"],
      ["waiter", "setter"],
    ]);
  });

  it("controlled scheduler with fair: false: the same chooser spins the waiter into the step bound", async () => {
    const k = new SyncKernel({
      runtime: "controlled",
      chooser: { choose: () => 0 },
      maxSteps: 100,
      fair: false,
    });
    let flag = false;
    k.spawn("waiter", async () => {
      while (!flag) await k.cpuRelax();
    });
    k.spawn("setter", async () => {
      flag = true;
    });
    await runSettled(k);
    expect(reportsOf(k, "error")[0]?.message).toMatch(
      /exceeded the bound of 100 .*spinning lately: "waiter"/,
    );
  });
});
