// Tests of src/sync/srcu.ts: read sections, grace periods, callbacks and their lockdep checks.

import { describe, expect, it } from "vitest";
import { kinds, makeKernel, RUNTIMES, reportsOf, runRejects, runSettled, seedsFor } from "./helpers.js";

describe.each(RUNTIMES)("srcu (%s)", (runtime) => {
  it("synchronize waits for readers that entered before it, not for those that entered after (seeds 0..99)", async () => {
    for (const seed of seedsFor(runtime, 100)) {
      const k = makeKernel(runtime, seed);
      const srcu = k.srcu("srcu");
      const oldIn = k.completion("oldIn");
      const releaseOld = k.completion("releaseOld");
      const synced = k.completion("synced");
      const log: string[] = [];
      k.spawn("oldReader", async () => {
        const idx = srcu.readLock();
        oldIn.complete();
        await releaseOld.wait();
        log.push("old leaves");
        srcu.readUnlock(idx);
      });
      const syncer = k.spawn("syncer", async () => {
        await oldIn.wait();
        await srcu.synchronize();
        log.push(`synchronized with ${srcu.readerCount()} reader(s) inside`);
        synced.complete();
      });
      k.spawn("newReader", async () => {
        // Enter only once the grace period has started (the syncer sleeps in it).
        while (syncer.blockedOn !== srcu) await k.point();
        const idx = srcu.readLock();
        log.push("new enters");
        releaseOld.complete();
        await synced.wait();
        srcu.readUnlock(idx);
      });
      await k.run();
      expect(log, `seed ${seed}`).toEqual([
        "new enters",
        "old leaves",
        "synchronized with 1 reader(s) inside",
      ]);
      expect(k.reports).toEqual([]);
    }
  });

  it("synchronize with no reader returns at once; readers may sleep in their section", async () => {
    const k = makeKernel(runtime, 2);
    const srcu = k.srcu("srcu");
    let first: unknown = "unset";
    k.spawn("t", async () => {
      first = srcu.synchronize();
      await first;
      const idx = srcu.readLock();
      await k.msleep(3);
      srcu.readUnlock(idx);
      await srcu.synchronize();
    });
    await k.run();
    if (runtime === "direct") expect(first).toBeUndefined();
    expect(k.reports).toEqual([]);
    expect(srcu.readerCount()).toBe(0);
  });

  it("reports synchronize inside its own read section (lock-order) and the resulting deadlock", async () => {
    const k = makeKernel(runtime);
    const srcu = k.srcu("notifier_srcu");
    k.spawn("self", async () => {
      const idx = srcu.readLock();
      await srcu.synchronize();
      srcu.readUnlock(idx);
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order", "deadlock"]);
    expect(k.reports[0]!.message).toMatch(
      /possible recursive locking: task "self" \(step \d+\) acquires "notifier_srcu" \(write\) while already holding a lock of the same class \(recursive-read/,
    );
    expect(k.reports[1]!.message).toMatch(/readers still inside: task "self"/);
  });

  it("reports synchronize under a lock that a reader takes inside its section, though nothing deadlocked", async () => {
    const k = makeKernel(runtime, 3);
    const srcu = k.srcu("srcu");
    const m = k.mutex("m");
    k.spawn("t", async () => {
      const idx = srcu.readLock();
      await m.lock();
      m.unlock();
      srcu.readUnlock(idx);
      await m.lock();
      await srcu.synchronize();
      m.unlock();
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order"]);
    expect(k.reports[0]!.message).toMatch(/possible circular locking dependency "m" -> "srcu" -> "m"/);
  });

  it("nested read sections of one domain are fine (recursive reads)", async () => {
    const k = makeKernel(runtime);
    const srcu = k.srcu("srcu");
    k.spawn("t", () => {
      const a = srcu.readLock();
      const b = srcu.readLock();
      expect(srcu.readerCount()).toBe(2);
      srcu.readUnlock(b);
      srcu.readUnlock(a);
    });
    await k.run();
    expect(k.reports).toEqual([]);
  });

  it("callSrcu runs the callback after the pre-existing readers left; barrier waits for it", async () => {
    const k = makeKernel(runtime, 4);
    const srcu = k.srcu("srcu");
    const log: string[] = [];
    const inside = k.completion("inside");
    k.spawn("reader", async () => {
      const idx = srcu.readLock();
      inside.complete();
      await k.msleep(5);
      log.push("reader leaves");
      srcu.readUnlock(idx);
    });
    k.spawn("updater", async () => {
      await inside.wait();
      srcu.callSrcu(() => log.push(`callback at ${k.now()}`));
      log.push("queued");
      await srcu.barrier();
      log.push("barrier done");
      srcu.callSrcu(() => log.push("immediate"));
      await srcu.barrier();
    });
    await k.run();
    expect(log).toEqual(["queued", "reader leaves", "callback at 5", "barrier done", "immediate"]);
  });

  it("callSrcu's grace period does not wait for readers that entered after it", async () => {
    const k = makeKernel(runtime);
    const srcu = k.srcu("srcu");
    const log: string[] = [];
    k.spawn("t", () => {
      const old = srcu.readLock();
      srcu.callSrcu(() => log.push("callback"));
      const young = srcu.readLock();
      log.push("old leaves");
      srcu.readUnlock(old);
      log.push("young leaves");
      srcu.readUnlock(young);
    });
    await k.run();
    expect(log).toEqual(["old leaves", "callback", "young leaves"]);
  });

  it("runs srcu callbacks atomically: sleeping in one is reported", async () => {
    const k = makeKernel(runtime);
    const srcu = k.srcu("srcu");
    k.spawn("t", () => srcu.callSrcu(() => k.mightSleep("sleepy_callback()")));
    await runRejects(k);
    expect(kinds(k)).toEqual(["sleep-in-atomic"]);
  });

  it("readUnlock without a matching readLock throws EINVAL naming the domain", async () => {
    const k = makeKernel(runtime);
    const srcu = k.srcu("srcu");
    const errors: unknown[] = [];
    k.spawn("t", () => {
      for (const idx of [0, 7]) {
        try {
          srcu.readUnlock(idx);
        } catch (e) {
          errors.push(e);
        }
      }
    });
    await runSettled(k);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ code: "EINVAL" });
    expect(String(errors[1])).toMatch(/srcu_read_unlock\("srcu", 7\) without a matching srcu_read_lock/);
    expect(reportsOf(k, "error")).toHaveLength(2);
  });

  it("callSrcu needs a function (EINVAL)", () => {
    const srcu = makeKernel(runtime).srcu("srcu");
    expect(() => srcu.callSrcu(null as unknown as () => void)).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
  });
});
