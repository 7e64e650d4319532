// Tests of src/sync/lockdep.ts and src/sync/lockMap.ts: lock-order cycles, read rules, pseudo-locks.

import { describe, expect, it } from "vitest";
import { Lockdep } from "../../src/sync/lockdep.js";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import { MODE_READ } from "../../src/sync/task.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, SEEDS, seedsFor } from "./helpers.js";

/** Spawns the classic AB-BA pair; `points` puts a point between the two acquisitions. */
function abba(k: SyncKernel, points: boolean): void {
  const a = k.mutex("A");
  const b = k.mutex("B");
  for (const [name, first, second] of [
    ["T1", a, b],
    ["T2", b, a],
  ] as const) {
    k.spawn(name, async () => {
      await first.lock();
      if (points) await k.point();
      await second.lock();
      second.unlock();
      first.unlock();
    });
  }
}

describe("AB-BA", () => {
  it("deadlocks under the direct scheduler: the report names both tasks, both mutexes and their holders", async () => {
    const k = new SyncKernel();
    abba(k, true);
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order", "deadlock"]);
    expect(reportsOf(k, "deadlock")[0]!.message).toBe(
      [
        'deadlock: wait-for cycle "T1" -> "T2" -> "T1"',
        '  task "T1" waits on mutex "B" to lock: held by task "T2"',
        '  task "T2" waits on mutex "A" to lock: held by task "T1"',
      ].join("\n"),
    );
  });

  it("is reported by lockdep with both acquisition sites in a run that did not deadlock", async () => {
    const k = new SyncKernel();
    const a = k.mutex("A");
    const b = k.mutex("B");
    const steps: Record<string, number> = {};
    const take = async (tag: string, m: typeof a) => {
      await m.lock();
      steps[tag] = k.step;
    };
    k.spawn("T1", async () => {
      await take("T1.A", a);
      await take("T1.B", b);
      b.unlock();
      a.unlock();
    });
    k.spawn("T2", async () => {
      await take("T2.B", b);
      await take("T2.A", a);
      a.unlock();
      b.unlock();
    });
    const e = await k.run().catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order"]);
    const r = reportsOf(k, "lock-order")[0]!;
    expect(r.task).toBe("T2");
    expect(r.message).toBe(
      [
        'possible circular locking dependency "B" -> "A" -> "B":',
        `  now: task "T2" took "A" (write, step ${steps["T2.A"]}) while holding "B" (write, acquired at step ${steps["T2.B"]})`,
        `  task "T1" took "B" (write, step ${steps["T1.B"]}) while holding "A" (write, acquired at step ${steps["T1.A"]})`,
      ].join("\n"),
    );
  });

  it(`is reported in every controlled schedule, deadlocked or not (seeds 0..${SEEDS - 1})`, async () => {
    let deadlocks = 0;
    for (const seed of seedsFor("controlled")) {
      const k = makeKernel("controlled", seed);
      abba(k, true);
      await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
      const order = reportsOf(k, "lock-order");
      expect(order, `seed ${seed}`).toHaveLength(1);
      expect(order[0]!.message).toMatch(/task "T1" took/);
      expect(order[0]!.message).toMatch(/task "T2" took/);
      if (reportsOf(k, "deadlock").length > 0) deadlocks++;
    }
    expect(deadlocks).toBeGreaterThan(0);
    expect(deadlocks).toBeLessThan(SEEDS);
  });

  it("is reported when the two orders are taken in two kernels sharing one lockdep", async () => {
    const ld = new Lockdep();
    const k1 = new SyncKernel({ lockdep: ld });
    const a1 = k1.mutex("A");
    const b1 = k1.mutex("B");
    k1.spawn("first", async () => {
      await a1.lock();
      await b1.lock();
      b1.unlock();
      a1.unlock();
    });
    await k1.run();
    expect(k1.reports).toEqual([]);
    expect(ld.hasDependency("A", "B")).toBe(true);

    const k2 = new SyncKernel({ lockdep: ld });
    const a2 = k2.mutex("A");
    const b2 = k2.mutex("B");
    k2.spawn("second", async () => {
      await b2.lock();
      await a2.lock();
      a2.unlock();
      b2.unlock();
    });
    await expect(k2.run()).rejects.toMatchObject({ code: "EDEADLK" });
    const msg = reportsOf(k2, "lock-order")[0]!.message;
    expect(msg).toMatch(/now: task "second" took "A" \(write, step \d+\) while holding "B"/);
    expect(msg).toMatch(/task "first" took "B" \(write, step \d+\) while holding "A" .* in execution #1$/);
    expect(ld.run).toBe(2);

    // The same cycle is reported once per lockdep graph.
    const k3 = new SyncKernel({ lockdep: ld });
    abba(k3, false);
    await k3.run();
    expect(k3.reports).toEqual([]);
  });

  it("is not reported with lockdep off", async () => {
    const k = new SyncKernel({ lockdep: false });
    abba(k, false);
    await k.run();
    expect(k.lockdep).toBeNull();
    expect(k.reports).toEqual([]);
  });
});

describe.each(RUNTIMES)("lockdep rules (%s)", (runtime) => {
  it("reports a three-lock cycle with the whole path", async () => {
    const k = makeKernel(runtime, 1);
    const locks = ["A", "B", "C"].map((n) => k.mutex(n));
    for (let i = 0; i < 3; i++) {
      const first = locks[i]!;
      const second = locks[(i + 1) % 3]!;
      k.spawn(`T${i}`, async () => {
        for (let j = 0; j < i; j++) await k.msleep(1); // one after the other
        await first.lock();
        await second.lock();
        second.unlock();
        first.unlock();
      });
    }
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    const msg = reportsOf(k, "lock-order")[0]!.message;
    expect(msg.split("\n")[0]).toBe('possible circular locking dependency "C" -> "A" -> "B" -> "C":');
    expect(msg.split("\n")).toHaveLength(4);
    expect(reportsOf(k, "deadlock")).toEqual([]);
  });

  it("does not report a cycle through a lock taken as a recursive read and then held shared", async () => {
    for (const mode of ["recursive", "non-recursive"] as const) {
      const k = makeKernel(runtime, 2);
      const l = k.lockMap("L");
      const a = k.mutex("A");
      k.spawn("reader", async () => {
        l.acquireShared();
        await a.lock();
        a.unlock();
        l.release();
      });
      k.spawn("writer", async () => {
        await k.msleep(1);
        await a.lock();
        if (mode === "recursive") l.acquireShared();
        else l.acquireShared(MODE_READ);
        l.release();
        a.unlock();
      });
      await k.run().catch(() => undefined);
      if (mode === "recursive") expect(k.reports).toEqual([]);
      else expect(kinds(k)).toEqual(["lock-order"]);
    }
  });

  it("records no dependency for a trylock", async () => {
    const k = makeKernel(runtime);
    const a = k.mutex("A");
    const b = k.mutex("B");
    k.spawn("T1", async () => {
      await a.lock();
      expect(b.trylock()).toBe(true);
      b.unlock();
      a.unlock();
      await b.lock();
      await a.lock();
      a.unlock();
      b.unlock();
    });
    await k.run();
    expect(k.reports).toEqual([]);
    expect(k.lockdep!.hasDependency("A", "B")).toBe(false);
    expect(k.lockdep!.hasDependency("B", "A")).toBe(true);
    expect(k.lockdep!.dependencyCount).toBe(1);
  });

  it("mightLock and a pseudo-lock's touch() record the dependency without taking anything", async () => {
    const k = makeKernel(runtime, 3);
    const m = k.mutex("M");
    const reclaim = k.lockMap("fs_reclaim");
    const other = k.mutex("other");
    k.spawn("allocator", async () => {
      await m.lock();
      reclaim.touch();
      k.mightLock(other);
      m.unlock();
    });
    k.spawn("reclaimer", async () => {
      await k.msleep(1);
      reclaim.acquire();
      await m.lock();
      m.unlock();
      reclaim.release();
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order"]);
    expect(k.reports[0]!.message).toMatch(/"fs_reclaim" -> "M" -> "fs_reclaim"/);
    expect(k.lockdep!.hasDependency("M", "other")).toBe(true);
    expect(other.isLocked()).toBe(false);
  });

  it("assertHeld warns when the lock is not held, and is silent when it is", async () => {
    const k = makeKernel(runtime);
    const m = k.mutex("m");
    k.spawn("t", async () => {
      k.assertHeld(m);
      await m.lock();
      k.assertHeld(m);
      m.unlock();
    });
    await k.run();
    expect(kinds(k)).toEqual(["warn"]);
    expect(k.reports[0]!.message).toBe('task "t" does not hold mutex "m" (lockdep_assert_held)');
  });

  it("assertHeldWrite warns unless the rwsem is held for write, by a task or by code outside tasks", async () => {
    const k = makeKernel(runtime);
    const sem = k.rwSemaphore("sem");
    k.spawn("t", async () => {
      k.assertHeldWrite(sem);
      await sem.downRead();
      k.assertHeldWrite(sem, "mmap_assert_write_locked");
      sem.upRead();
      await sem.downWrite();
      k.assertHeldWrite(sem);
      sem.upWrite();
    });
    await k.run();
    expect(k.reports.map((r) => r.message)).toEqual([
      'task "t" does not hold rwsem "sem" for write (lockdep_assert_held_write)',
      'task "t" does not hold rwsem "sem" for write (mmap_assert_write_locked)',
    ]);
    k.assertHeldWrite(sem);
    await sem.downWrite();
    k.assertHeldWrite(sem);
    sem.upWrite();
    expect(k.reports.map((r) => r.message).slice(2)).toEqual([
      'code outside any task does not hold rwsem "sem" for write (lockdep_assert_held_write)',
    ]);
  });

  it("releasing a pseudo-lock the task does not hold throws EPERM", async () => {
    const k = makeKernel(runtime);
    const l = k.lockMap("L");
    k.spawn("t", () => l.release());
    await expect(k.run()).rejects.toMatchObject({ code: "EPERM" });
    expect(k.reports[0]!.message).toBe('task "t" releases lock map "L", which it does not hold');
  });
});
