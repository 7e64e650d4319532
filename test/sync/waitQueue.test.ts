// Tests of src/sync/waitQueue.ts: waitEvent, timeouts, and the lost wake-up of sleepOn.

import { describe, expect, it } from "vitest";
import type { SyncKernel } from "../../src/sync/syncKernel.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, SEEDS, seedsFor } from "./helpers.js";

/**
 * A waiter that checks a flag and then sleeps, and a waker that sets it and wakes the queue; true if
 * the run deadlocked. Under the direct scheduler `direct` puts a point between the waiter's check and
 * its sleep and none in the waker, so the waker runs exactly there.
 */
async function flagHandshake(k: SyncKernel, racy: boolean, direct: boolean): Promise<boolean> {
  const wq = k.waitQueue("wq");
  let flag = false;
  let seen = false;
  k.spawn("waiter", async () => {
    if (racy) {
      if (!flag) {
        if (direct) await k.point();
        await wq.sleepOn();
      }
    } else {
      await wq.waitEvent(() => flag);
    }
    seen = flag;
  });
  k.spawn("waker", async () => {
    if (!direct) await k.point();
    flag = true;
    wq.wakeUpAll();
  });
  await k.run().catch(() => undefined);
  const deadlocked = reportsOf(k, "deadlock").length > 0;
  if (!deadlocked) expect(seen).toBe(true);
  return deadlocked;
}

describe.each(RUNTIMES)("wait queue (%s)", (runtime) => {
  it(`waitEvent(() => flag) never loses the wake-up (seeds 0..${SEEDS - 1})`, async () => {
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      expect(await flagHandshake(k, false, runtime === "direct"), `seed ${seed}`).toBe(false);
      expect(k.reports).toEqual([]);
    }
  });

  it(`checking a flag then sleepOn() loses the wake-up in some schedule (seeds 0..${SEEDS - 1})`, async () => {
    let lost = 0;
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      if (await flagHandshake(k, true, runtime === "direct")) {
        lost++;
        expect(kinds(k)).toEqual(["deadlock"]);
        expect(k.reports[0]!.message).toMatch(
          /task "waiter" waits on waitqueue "wq" to be woken \(sleep_on\): no task will wake it/,
        );
      }
    }
    expect(lost).toBeGreaterThan(0);
    if (runtime === "controlled") expect(lost).toBeLessThan(SEEDS);
  });

  it("waitEvent re-checks its condition after each wake-up and keeps waiting while it is false", async () => {
    const k = makeKernel(runtime, 11);
    const wq = k.waitQueue("wq");
    let n = 0;
    let wokeAt = -1;
    k.spawn("waiter", async () => {
      await wq.waitEvent(() => n >= 3);
      wokeAt = n;
    });
    k.spawn("waker", async () => {
      for (let i = 0; i < 3; i++) {
        await k.msleep(1);
        n++;
        wq.wakeUpAll();
      }
    });
    await k.run();
    expect(wokeAt).toBe(3);
  });

  it("wakeUpAll wakes every waiter and empties the queue", async () => {
    const k = makeKernel(runtime, 12);
    const wq = k.waitQueue("wq");
    let go = false;
    let woken = 0;
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      k.spawn(`w${i}`, async () => {
        await wq.waitEvent(() => go);
        woken++;
      });
    }
    k.spawn("waker", async () => {
      await k.msleep(1);
      counts.push(wq.waiterCount());
      go = true;
      wq.wakeUpAll();
      counts.push(wq.waiterCount());
    });
    await k.run();
    expect(counts).toEqual([3, 0]);
    expect(woken).toBe(3);
  });

  it("waitEventTimeout returns 0 when time runs out and the remaining time otherwise", async () => {
    const k = makeKernel(runtime, 13);
    const wq = k.waitQueue("wq");
    let flag = false;
    const results: [number, number][] = [];
    k.spawn("timesOut", async () => {
      const r = await wq.waitEventTimeout(() => false, 5);
      results.push([r, k.now()]);
    });
    k.spawn("woken", async () => {
      const r = await wq.waitEventTimeout(() => flag, 20);
      results.push([r, k.now()]);
    });
    k.spawn("immediate", async () => {
      await k.msleep(30);
      const r = await wq.waitEventTimeout(() => flag, 20);
      results.push([r, k.now()]);
    });
    k.spawn("waker", async () => {
      await k.msleep(8);
      flag = true;
      wq.wakeUpAll();
    });
    await k.run();
    expect(results).toEqual([
      [0, 5],
      [12, 8],
      [20, 30],
    ]);
    expect(wq.waiterCount()).toBe(0);
  });

  it("a timed-out waitEventTimeout whose condition became true without a wake-up returns 1, as Linux does", async () => {
    const k = makeKernel(runtime, 14);
    const wq = k.waitQueue("wq");
    let flag = false;
    let r = -1;
    k.spawn("waiter", async () => {
      r = await wq.waitEventTimeout(() => flag, 10);
    });
    k.spawn("silent", async () => {
      await k.msleep(5);
      flag = true; // forgets wakeUpAll
    });
    await k.run();
    expect(r).toBe(1);
    expect(k.now()).toBe(10);
  });

  it("a waitEvent nobody can satisfy is a deadlock naming the queue", async () => {
    const k = makeKernel(runtime);
    const wq = k.waitQueue("lonely");
    k.spawn("w", () => wq.waitEvent(() => false));
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(k.reports[0]!.message).toMatch(
      /task "w" waits on waitqueue "lonely" to wait for an event: no task will wake it/,
    );
  });
});
