// Tests of src/sync/spinLock.ts and of sleep-in-atomic detection (SyncKernel.mightSleep, nonBlockStart).

import { describe, expect, it } from "vitest";
import type { SyncKernel } from "../../src/sync/syncKernel.js";
import {
  kinds,
  makeKernel,
  RUNTIMES,
  reportsOf,
  runRejects,
  runSettled,
  SEEDS,
  seedsFor,
  spawnRelock,
} from "./helpers.js";

/** Operations that may sleep (their first step is synchronous), done by a task that never waits on them. */
const SLEEPERS: readonly [string, RegExp, (k: SyncKernel) => unknown][] = [
  [
    "mutex lock",
    /mutex_lock\("m"\)/,
    async (k) => {
      const m = k.mutex("m");
      await m.lock();
      m.unlock();
    },
  ],
  ["msleep", /msleep\(1\)/, (k) => k.msleep(1)],
  ["waitEvent", /wait_event\("wq"\)/, (k) => k.waitQueue("wq").waitEvent(() => true)],
  [
    "fence wait",
    /dma_fence_wait\("f"\)/,
    (k) => {
      const f = k.dmaFence("f");
      f.signal();
      return f.wait();
    },
  ],
  [
    "downRead",
    /down_read\("sem"\)/,
    async (k) => {
      const sem = k.rwSemaphore("sem");
      await sem.downRead();
      sem.upRead();
    },
  ],
  [
    "completion wait",
    /wait_for_completion\("c"\)/,
    (k) => {
      const c = k.completion("c");
      c.complete();
      return c.wait();
    },
  ],
  ["synchronize_srcu", /synchronize_srcu\("srcu"\)/, (k) => k.srcu("srcu").synchronize()],
  ["cond_resched", /cond_resched\(\)/, (k) => k.condResched()],
];

describe.each(RUNTIMES)("spinlock (%s)", (runtime) => {
  it(`keeps an increment across a point mutually exclusive (seeds 0..${SEEDS - 1})`, async () => {
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      const s = k.spinLock("s");
      let x = 0;
      for (let i = 0; i < 3; i++) {
        k.spawn(`t${i}`, async () => {
          await s.lock();
          const v = x;
          await k.point();
          x = v + 1;
          s.unlock();
        });
      }
      await k.run();
      expect(x, `seed ${seed}`).toBe(3);
      expect(k.reports).toEqual([]);
    }
  });

  it.each(SLEEPERS)(
    "reports %s inside a spinlock as sleep-in-atomic, naming the spinlock",
    async (_, what, op) => {
      const k = makeKernel(runtime, 3);
      const s = k.spinLock("s");
      k.spawn("atomic", async () => {
        await s.lock();
        const p = op(k);
        s.unlock();
        await p;
      });
      await runRejects(k);
      expect(kinds(k)).toEqual(["sleep-in-atomic"]);
      const r = reportsOf(k, "sleep-in-atomic");
      expect(r[0]!.message).toMatch(what);
      expect(r[0]!.message).toMatch(
        /^task "atomic" called .*, which may sleep, holding spinlock "s" \(acquired at step \d+\)$/,
      );
    },
  );

  it.each(SLEEPERS)("reports %s inside nonBlockStart..End as sleep-in-atomic", async (_, what, op) => {
    const k = makeKernel(runtime, 3);
    k.spawn("nonblock", async () => {
      k.nonBlockStart();
      const p = op(k);
      k.nonBlockEnd();
      await p;
    });
    await runRejects(k);
    expect(kinds(k)).toEqual(["sleep-in-atomic"]);
    const r = reportsOf(k, "sleep-in-atomic");
    expect(r[0]!.message).toMatch(what);
    expect(r[0]!.message).toMatch(/inside a non-blocking region$/);
  });

  it("does not report the same operations after the spinlock is released or the region ended", async () => {
    const k = makeKernel(runtime, 3);
    const s = k.spinLock("s");
    k.spawn("fine", async () => {
      await s.lock();
      s.unlock();
      k.nonBlockStart();
      k.nonBlockEnd();
      for (const [, , op] of SLEEPERS) await op(k);
    });
    await k.run();
    expect(k.reports).toEqual([]);
  });

  it("does not report spinning on a contended spinlock as sleeping, even inside another spinlock", async () => {
    for (const seed of seedsFor(runtime, 50)) {
      const k = makeKernel(runtime, seed, { trace: true });
      const inner = k.spinLock("inner");
      const outer = k.spinLock("outer");
      k.spawn("holder", async () => {
        await inner.lock();
        for (let i = 0; i < 3; i++) await k.point();
        inner.unlock();
      });
      k.spawn("spinner", async () => {
        await outer.lock();
        await inner.lock();
        inner.unlock();
        outer.unlock();
      });
      await k.run();
      expect(k.reports, `seed ${seed}`).toEqual([]);
      const spun = k.trace!.toJSON().events.some((e) => e.kind === "block" && e.detail === "spin");
      if (runtime === "direct") expect(spun).toBe(true);
    }
  });

  it("makes the holder atomic while held; trylock fails on a held lock", async () => {
    const k = makeKernel(runtime);
    const s = k.spinLock("s");
    const atomic: number[] = [];
    k.spawn("t", async () => {
      expect(s.trylock()).toBe(true);
      atomic.push(k.current!.atomic);
      expect(s.trylock()).toBe(false);
      s.unlock();
      atomic.push(k.current!.atomic);
    });
    await k.run();
    expect(atomic).toEqual([1, 0]);
  });

  it("unlocking a spinlock the task does not hold throws EPERM naming the task and the lock", async () => {
    const k = makeKernel(runtime);
    const s = k.spinLock("s");
    k.spawn("stranger", () => s.unlock());
    const e = await runRejects(k);
    expect(e).toMatchObject({ code: "EPERM" });
    expect(String(e)).toMatch(/task "stranger" unlocks spinlock "s", which is not locked/);
  });

  it("re-locking a held spinlock throws EDEADLK", async () => {
    const k = makeKernel(runtime);
    const relock = spawnRelock(k, k.spinLock("s"));
    await runSettled(k);
    expect(relock.caught).toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["deadlock"]);
  });
});
