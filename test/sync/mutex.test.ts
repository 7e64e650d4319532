// Tests of src/sync/mutex.ts under both schedulers.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Mutex } from "../../src/sync/mutex.js";
import type { SyncKernel } from "../../src/sync/syncKernel.js";
import { makeKernel, RUNTIMES, reportsOf, runRejects, SEEDS, seedsFor, spawnRelock } from "./helpers.js";

/** `n` tasks each increment a shared counter `times` times across a point; returns the final value. */
async function increments(k: SyncKernel, m: Mutex | null, n: number, times: number): Promise<number> {
  let x = 0;
  let inside = 0;
  let maxInside = 0;
  for (let i = 0; i < n; i++) {
    k.spawn(`inc${i}`, async () => {
      for (let j = 0; j < times; j++) {
        if (m !== null) await m.lock();
        inside++;
        maxInside = Math.max(maxInside, inside);
        const v = x;
        await k.point();
        x = v + 1;
        inside--;
        if (m !== null) m.unlock();
      }
    });
  }
  await k.run();
  if (m !== null) expect(maxInside).toBe(1);
  return x;
}

describe.each(RUNTIMES)("mutex (%s)", (runtime) => {
  it(`keeps an increment across a point mutually exclusive (seeds 0..${SEEDS - 1})`, async () => {
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      expect(await increments(k, k.mutex("m"), 3, 2), `seed ${seed}`).toBe(6);
    }
  });

  it(`loses an update without the mutex for some schedule (seeds 0..${SEEDS - 1})`, async () => {
    let lost = 0;
    for (const seed of seedsFor(runtime)) {
      if ((await increments(makeKernel(runtime, seed), null, 3, 2)) < 6) lost++;
    }
    expect(lost).toBeGreaterThan(0);
  });

  it("hands the mutex to waiters in the order they blocked (seeds 0..49)", async () => {
    for (const seed of seedsFor(runtime, 50)) {
      const k = makeKernel(runtime, seed, { trace: true });
      const m = k.mutex("m");
      for (let i = 0; i < 4; i++) {
        k.spawn(`t${i}`, async () => {
          await k.point();
          await m.lock();
          await k.point();
          m.unlock();
        });
      }
      await k.run();
      const ev = k.trace!.toJSON().events.filter((e) => e.obj === m.id);
      const blocked = ev.filter((e) => e.kind === "block").map((e) => e.task);
      const acquiredAfterWait = ev
        .filter((e) => e.kind === "acquire" && blocked.includes(e.task))
        .map((e) => e.task);
      expect(acquiredAfterWait, `seed ${seed}`).toEqual(blocked);
      if (runtime === "direct") expect(blocked).toEqual([1, 2, 3]);
    }
  });

  it("trylock fails while another task holds the mutex and never waits", async () => {
    const k = makeKernel(runtime, 1);
    const m = k.mutex("m");
    const got: boolean[] = [];
    const held = k.completion("held");
    const tried = k.completion("tried");
    k.spawn("holder", async () => {
      await m.lock();
      held.complete();
      await tried.wait();
      m.unlock();
    });
    k.spawn("trier", async () => {
      await held.wait();
      got.push(m.trylock());
      tried.complete();
      await k.msleep(1);
      got.push(m.trylock());
      expect(m.owner?.name).toBe("trier");
      m.unlock();
    });
    await k.run();
    expect(got).toEqual([false, true]);
    expect(m.isLocked()).toBe(false);
  });

  it("unlocking a mutex the task does not hold throws EPERM naming the task and the holder", async () => {
    const k = makeKernel(runtime, 2);
    const m = k.mutex("big");
    const held = k.completion("held");
    let caught: unknown;
    k.spawn("owner", async () => {
      await m.lock();
      held.complete();
      await k.msleep(5);
      m.unlock();
    });
    k.spawn("thief", async () => {
      await held.wait();
      try {
        m.unlock();
      } catch (e) {
        caught = e;
      }
    });
    await runRejects(k);
    expect(caught).toMatchObject({ code: "EPERM" });
    expect(String(caught)).toMatch(/task "thief" unlocks mutex "big", which is held by task "owner"/);
    expect(reportsOf(k, "error")).toHaveLength(1);
    expect(m.isLocked()).toBe(false);
  });

  it("a double unlock throws EPERM naming the task and the lock", async () => {
    const k = makeKernel(runtime);
    const m = k.mutex("m");
    k.spawn("twice", async () => {
      await m.lock();
      m.unlock();
      m.unlock();
    });
    const e = await runRejects(k);
    expect(e).toMatchObject({ code: "EPERM" });
    expect(String(e)).toMatch(/task "twice" unlocks mutex "m", which is not locked \(double unlock\?\)/);
  });

  it("re-locking a held mutex throws EDEADLK and reports a deadlock", async () => {
    const k = makeKernel(runtime);
    const m = k.mutex("m");
    const relock = spawnRelock(k, m);
    const e = await runRejects(k);
    expect(relock.caught).toMatchObject({ code: "EDEADLK" });
    expect(e).toMatchObject({ code: "EDEADLK" });
    expect(reportsOf(k, "deadlock")[0]!.message).toMatch(
      /task "again" re-locks mutex "m", which it already holds/,
    );
    expect(m.isLocked()).toBe(false);
  });
});

describe("mutex property", () => {
  it("for any number of tasks, rounds and schedule, no increment is lost (fast-check seed 42)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(1_000_000),
        async (n, times, seed) => {
          const k = makeKernel("controlled", seed);
          expect(await increments(k, k.mutex("m"), n, times)).toBe(n * times);
        },
      ),
      { seed: 42, numRuns: 100 },
    );
  });
});
