// Tests of src/sync/dmaFence.ts: waits, signalling, callbacks, timeouts and the signalling lockdep map.

import { describe, expect, it } from "vitest";
import { EINVAL, ENOENT } from "../../src/lib/errno.js";
import type { DmaFence } from "../../src/sync/dmaFence.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, runRejects, seedsFor } from "./helpers.js";

describe.each(RUNTIMES)("dma fence (%s)", (runtime) => {
  it("wait() sleeps until signal() and wakes every waiter (seeds 0..49)", async () => {
    for (const seed of seedsFor(runtime, 50)) {
      const k = makeKernel(runtime, seed);
      const f = k.dmaFence("job");
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        k.spawn(`waiter${i}`, async () => {
          await f.wait();
          seen.push(k.now());
        });
      }
      k.spawn("gpu", async () => {
        await k.msleep(5);
        expect(f.getStatus()).toBe(0);
        expect(f.signal()).toBe(0);
      });
      await k.run();
      expect(seen, `seed ${seed}`).toEqual([5, 5, 5]);
      expect(f.isSignaled()).toBe(true);
      expect(f.getStatus()).toBe(1);
    }
  });

  it("signalling twice returns -EINVAL and warns, without failing the run", async () => {
    const k = makeKernel(runtime);
    const f = k.dmaFence("job");
    const rets: number[] = [];
    k.spawn("gpu", () => {
      rets.push(f.signal(), f.signal());
    });
    await k.run();
    expect(rets).toEqual([0, -EINVAL]);
    expect(kinds(k)).toEqual(["warn"]);
    expect(k.reports[0]!.message).toBe('fence "job" signalled twice');
  });

  it("runs callbacks once, in order, at signal; -ENOENT (not added) once signalled; removable before", async () => {
    const k = makeKernel(runtime, 2);
    const f = k.dmaFence("job");
    const calls: string[] = [];
    const removed = () => calls.push("removed");
    k.spawn("driver", async () => {
      expect(f.addCallback((g) => calls.push(`a ${g.name}`))).toBe(0);
      expect(f.addCallback(removed)).toBe(0);
      expect(f.addCallback(() => calls.push("b"))).toBe(0);
      expect(f.removeCallback(removed)).toBe(true);
      expect(f.removeCallback(removed)).toBe(false);
      await k.msleep(3);
      expect(f.addCallback(() => calls.push("late"))).toBe(-ENOENT);
    });
    k.spawn("gpu", async () => {
      await k.msleep(1);
      f.signal();
      calls.push("signalled");
    });
    await k.run();
    expect(calls).toEqual(["a job", "b", "signalled"]);
    expect(k.reports).toEqual([]);
  });

  it("runs callbacks atomically: a callback that may sleep is reported as sleep-in-atomic", async () => {
    const k = makeKernel(runtime);
    const f = k.dmaFence("job");
    f.addCallback(() => k.mightSleep("callback_sleeps()"));
    k.spawn("gpu", () => f.signal());
    await runRejects(k);
    expect(kinds(k)).toEqual(["sleep-in-atomic"]);
    expect(k.reports[0]!.message).toBe(
      'task "gpu" called callback_sleeps(), which may sleep, in atomic context',
    );
  });

  it("waitTimeout returns 0 when the time runs out, else the remaining time", async () => {
    const k = makeKernel(runtime, 3);
    const slow = k.dmaFence("slow");
    const fast = k.dmaFence("fast");
    const got: [string, number, number][] = [];
    k.spawn("a", async () => {
      const r = await slow.waitTimeout(10);
      got.push(["slow", r, k.now()]);
    });
    k.spawn("b", async () => {
      const r = await fast.waitTimeout(10);
      got.push(["fast", r, k.now()]);
    });
    k.spawn("gpu", async () => {
      await k.msleep(4);
      fast.signal();
      await k.msleep(20);
      slow.signal();
    });
    await k.run();
    expect(got).toEqual([
      ["fast", 6, 4],
      ["slow", 0, 10],
    ]);
  });

  it("reports an error set before signalling as its status; setError after signalling warns", async () => {
    const k = makeKernel(runtime);
    const f = k.dmaFence("job");
    k.spawn("gpu", () => {
      f.setError(-5);
      f.signal();
      f.setError(-7);
    });
    await k.run();
    expect(f.getStatus()).toBe(-5);
    expect(kinds(k)).toEqual(["warn"]);
    expect(k.reports[0]!.message).toMatch(/setError after it was signalled/);
  });

  it("reports a lock held around a fence wait that the signalling path takes, though nothing deadlocked", async () => {
    for (const waiterFirst of [true, false]) {
      const k = makeKernel(runtime, 1);
      const m = k.mutex("driver_lock");
      const f = k.dmaFence("job");
      const waiter = async () => {
        await m.lock();
        await f.wait();
        m.unlock();
      };
      const signaller = async () => {
        const cookie = k.dmaFenceBeginSignalling();
        await m.lock();
        m.unlock();
        f.signal();
        k.dmaFenceEndSignalling(cookie);
      };
      // Nothing ever blocks: the fence is signalled before anyone waits on it.
      k.spawn("worker", async () => {
        if (waiterFirst) {
          f.signal();
          await waiter();
        } else {
          await signaller();
          await waiter();
        }
      });
      if (waiterFirst) k.spawn("signaller", signaller);
      await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
      expect(reportsOf(k, "deadlock")).toEqual([]);
      const order = reportsOf(k, "lock-order");
      expect(order).toHaveLength(1);
      const msg = order[0]!.message;
      expect(msg).toMatch(/possible circular locking dependency/);
      expect(msg).toMatch(/took "dma_fence_map" \(write, step \d+\) while holding "driver_lock"/);
      expect(msg).toMatch(/took "driver_lock" \(write, step \d+\) while holding "dma_fence_map" \(read/);
    }
  });

  it("does not report a fence wait under a lock the signalling path never takes", async () => {
    const k = makeKernel(runtime, 1);
    const m = k.mutex("driver_lock");
    const other = k.mutex("other_lock");
    const f = k.dmaFence("job");
    k.spawn("waiter", async () => {
      await m.lock();
      await f.wait();
      m.unlock();
    });
    k.spawn("signaller", async () => {
      const cookie = k.dmaFenceBeginSignalling();
      await other.lock();
      other.unlock();
      f.signal();
      k.dmaFenceEndSignalling(cookie);
    });
    await k.run();
    expect(k.reports).toEqual([]);
  });
});

describe("dma fence deadlock (direct)", () => {
  it("a waiter holding the lock the signaller needs deadlocks, and both reports name the lock", async () => {
    const k = makeKernel("direct");
    const m = k.mutex("driver_lock");
    const f: DmaFence = k.dmaFence("job");
    k.spawn("waiter", async () => {
      await m.lock();
      await f.wait();
      m.unlock();
    });
    k.spawn("signaller", async () => {
      const cookie = k.dmaFenceBeginSignalling();
      await m.lock();
      f.signal();
      m.unlock();
      k.dmaFenceEndSignalling(cookie);
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order", "deadlock"]);
    expect(reportsOf(k, "deadlock")[0]!.message).toMatch(
      /task "signaller" waits on mutex "driver_lock" to lock: held by task "waiter"/,
    );
    expect(reportsOf(k, "deadlock")[0]!.message).toMatch(
      /task "waiter" waits on fence "job" to be signalled/,
    );
  });

  it("nested signalling sections hold the map once; the inner end is a no-op", async () => {
    const k = makeKernel("direct");
    const held: number[] = [];
    k.spawn("t", () => {
      const outer = k.dmaFenceBeginSignalling();
      const inner = k.dmaFenceBeginSignalling();
      held.push(k.current!.heldCount);
      k.dmaFenceEndSignalling(inner);
      held.push(k.current!.heldCount);
      k.dmaFenceEndSignalling(outer);
      held.push(k.current!.heldCount);
      expect([outer, inner]).toEqual([false, true]);
    });
    await k.run();
    expect(held).toEqual([1, 1, 0]);
  });
});
