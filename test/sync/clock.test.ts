// Tests of the logical clock (src/sync/scheduler.ts, src/sync/timer.ts): msleep, timeouts, advanceClock.

import { describe, expect, it } from "vitest";
import type { SyncKernel } from "../../src/sync/syncKernel.js";
import { kinds, makeKernel, RUNTIMES, SEEDS, seedsFor } from "./helpers.js";

/** Timed waits of every kind; returns what each saw. The values must not depend on the schedule. */
async function timedWorld(k: SyncKernel): Promise<string[]> {
  const c = k.completion("c");
  const f = k.dmaFence("f");
  const wq = k.waitQueue("wq");
  let flag = false;
  const seen: string[] = [];
  k.spawn("completionWaiter", async () => {
    seen.push(`completion ${await c.waitTimeout(10)} at ${k.now()}`);
  });
  k.spawn("fenceWaiter", async () => {
    seen.push(`fence ${await f.waitTimeout(3)} at ${k.now()}`);
  });
  k.spawn("eventWaiter", async () => {
    seen.push(`event ${await wq.waitEventTimeout(() => flag, 50)} at ${k.now()}`);
  });
  k.spawn("driver", async () => {
    await k.msleep(4);
    c.complete();
    await k.msleep(4);
    f.signal();
    await k.msleep(12);
    flag = true;
    wq.wakeUpAll();
    seen.push(`driver done at ${k.now()}`);
  });
  await k.run();
  return seen.sort();
}

describe.each(RUNTIMES)("logical clock (%s)", (runtime) => {
  it(`advances only when every task waits (seeds 0..${SEEDS - 1})`, async () => {
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      const busyTimes: number[] = [];
      let sleeperWoke = -1;
      k.spawn("sleeper", async () => {
        await k.msleep(10);
        sleeperWoke = k.now();
      });
      k.spawn("busy", async () => {
        for (let i = 0; i < 5; i++) {
          await k.point();
          busyTimes.push(k.now());
        }
      });
      await k.run();
      expect(busyTimes, `seed ${seed}`).toEqual([0, 0, 0, 0, 0]);
      expect(sleeperWoke).toBe(10);
      expect(k.now()).toBe(10);
    }
  });

  it("wakes sleepers in deadline order, each at its own deadline", async () => {
    const k = makeKernel(runtime, 1);
    const woke: string[] = [];
    for (const [name, ms] of [
      ["seven", 7],
      ["three", 3],
      ["five", 5],
    ] as const) {
      k.spawn(name, async () => {
        await k.msleep(ms);
        woke.push(`${name}@${k.now()}`);
        await k.msleep(ms);
        woke.push(`${name}@${k.now()}`);
      });
    }
    await k.run();
    expect(woke).toEqual(["three@3", "five@5", "three@6", "seven@7", "five@10", "seven@14"]);
  });

  it(`gives every timed wait the same value in every schedule (seeds 0..${SEEDS - 1})`, async () => {
    for (const seed of seedsFor(runtime)) {
      expect(await timedWorld(makeKernel(runtime, seed)), `seed ${seed}`).toEqual([
        "completion 6 at 4",
        "driver done at 20",
        "event 30 at 20",
        "fence 0 at 3",
      ]);
    }
  });

  it("a zero timeout polls: the wait returns at once, 0 while unmet and 1 once met, and never sleeps", async () => {
    const k = makeKernel(runtime, 5, { trace: true });
    const wq = k.waitQueue("wq");
    const c = k.completion("c");
    const f = k.dmaFence("f");
    let flag = false;
    const log: string[] = [];
    const poll = async () => [
      await wq.waitEventTimeout(() => flag, 0),
      await c.waitTimeout(0),
      await f.waitTimeout(0),
    ];
    k.spawn("poller", async () => {
      log.push(`unmet ${await poll()}`);
      flag = true;
      c.complete();
      f.signal();
      log.push(`met ${await poll()}`);
    });
    k.spawn("bystander", () => {
      log.push("bystander");
    });
    await k.run();
    expect(log.filter((l) => l !== "bystander")).toEqual(["unmet 0,0,0", "met 1,1,1"]);
    if (runtime === "direct") expect(log[2]).toBe("bystander");
    expect(k.trace!.toJSON().events.filter((e) => e.kind === "block")).toEqual([]);
    expect(k.now()).toBe(0);
  });

  it("msleep(0) neither waits nor moves the clock", async () => {
    const k = makeKernel(runtime);
    let r: unknown = "unset";
    k.spawn("t", async () => {
      r = k.msleep(0);
      await r;
    });
    await k.run();
    if (runtime === "direct") expect(r).toBeUndefined();
    expect(k.now()).toBe(0);
  });

  it("a timed wait on something nobody will signal times out instead of deadlocking", async () => {
    const k = makeKernel(runtime);
    const c = k.completion("never");
    let r = -1;
    k.spawn("patient", async () => {
      r = await c.waitTimeout(100);
    });
    await k.run();
    expect(r).toBe(0);
    expect(k.now()).toBe(100);
    expect(k.reports).toEqual([]);
  });

  it("does not move when a run deadlocks without deadlines", async () => {
    const k = makeKernel(runtime);
    const c = k.completion("never");
    k.spawn("stuck", () => c.wait());
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["deadlock"]);
    expect(k.now()).toBe(0);
  });

  it("advanceClock moves time forward and expires the timed waits that fall due", async () => {
    const k = makeKernel(runtime, 2);
    const wq = k.waitQueue("wq");
    const seen: string[] = [];
    const early = k.spawn("early", async () => {
      seen.push(`early ${await wq.waitEventTimeout(() => false, 30)} at ${k.now()}`);
    });
    const late = k.spawn("late", async () => {
      seen.push(`late ${await wq.waitEventTimeout(() => false, 500)} at ${k.now()}`);
    });
    k.spawn("clock", async () => {
      while (early.state !== "blocked" || late.state !== "blocked") await k.point();
      k.advanceClock(100);
      seen.push(`advanced to ${k.now()}: early ${early.state}, late ${late.state}`);
    });
    await k.run();
    expect(seen.sort()).toEqual([
      "advanced to 100: early runnable, late blocked",
      "early 0 at 100",
      "late 0 at 500",
    ]);
  });

  it("rejects negative or non-finite durations (EINVAL)", () => {
    const k = makeKernel(runtime);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => k.advanceClock(bad)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => k.msleep(bad)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    }
    expect(k.now()).toBe(0);
  });
});
