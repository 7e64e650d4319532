// Tests of src/sync/rwSemaphore.ts under both schedulers.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SyncKernel } from "../../src/sync/syncKernel.js";
import { kinds, makeKernel, RUNTIMES, reportsOf, runRejects, SEEDS, seedsFor } from "./helpers.js";

/** Readers and writers taking one semaphore across points; checks exclusion, returns the most concurrent readers. */
async function readersWriters(k: SyncKernel, roles: readonly ("r" | "w")[], rounds: number): Promise<number> {
  const sem = k.rwSemaphore("sem");
  let readers = 0;
  let writers = 0;
  let maxReaders = 0;
  let done = 0;
  roles.forEach((role, i) => {
    k.spawn(`${role}${i}`, async () => {
      for (let j = 0; j < rounds; j++) {
        if (role === "r") {
          await sem.downRead();
          readers++;
          maxReaders = Math.max(maxReaders, readers);
          expect(writers).toBe(0);
          await k.point();
          readers--;
          sem.upRead();
        } else {
          await sem.downWrite();
          writers++;
          expect(writers).toBe(1);
          expect(readers).toBe(0);
          await k.point();
          writers--;
          sem.upWrite();
        }
      }
      done++;
    });
  });
  await k.run();
  expect(done).toBe(roles.length);
  expect(sem.isLocked()).toBe(false);
  return maxReaders;
}

describe.each(RUNTIMES)("rw semaphore (%s)", (runtime) => {
  it(`lets readers share and makes a writer exclude everyone (seeds 0..${SEEDS - 1})`, async () => {
    let shared = 0;
    for (const seed of seedsFor(runtime)) {
      if ((await readersWriters(makeKernel(runtime, seed), ["r", "w", "r", "r", "w"], 2)) > 1) shared++;
    }
    expect(shared).toBeGreaterThan(0);
  });

  it(`a waiting writer blocks new readers, so read recursion deadlocks (seeds 0..${SEEDS - 1})`, async () => {
    let deadlocks = 0;
    for (const seed of seedsFor(runtime)) {
      const k = makeKernel(runtime, seed);
      const sem = k.rwSemaphore("mmap_lock");
      k.spawn("reader", async () => {
        await sem.downRead();
        await k.point();
        await sem.downRead();
        sem.upRead();
        sem.upRead();
      });
      k.spawn("writer", async () => {
        await sem.downWrite();
        sem.upWrite();
      });
      await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
      // Lockdep flags the recursive read in every schedule, deadlocked or not.
      const order = reportsOf(k, "lock-order");
      expect(order, `seed ${seed}`).toHaveLength(1);
      expect(order[0]!.message).toMatch(
        /possible recursive locking: task "reader" \(step \d+\) acquires "mmap_lock" \(read\) while already holding a lock of the same class \(read, acquired at step \d+\)/,
      );
      expect(order[0]!.message).toMatch(/queues behind a waiting writer/);
      const dl = reportsOf(k, "deadlock");
      if (dl.length === 0) continue;
      deadlocks++;
      expect(dl[0]!.message).toMatch(/^deadlock: wait-for cycle "reader" -> "writer" -> "reader"/);
      expect(dl[0]!.message).toMatch(
        /task "reader" waits on rwsem "mmap_lock" to down_read: held for read by task "reader"; writers queued: task "writer"/,
      );
      expect(dl[0]!.message).toMatch(/task "writer" waits on rwsem "mmap_lock" to down_write/);
    }
    expect(deadlocks).toBeGreaterThan(0);
    if (runtime === "controlled") expect(deadlocks).toBeLessThan(SEEDS);
  });

  it("read recursion with no writer waiting completes, and lockdep still flags it", async () => {
    const k = makeKernel(runtime, 4);
    const sem = k.rwSemaphore("sem");
    k.spawn("reader", async () => {
      await sem.downRead();
      await sem.downRead();
      sem.upRead();
      sem.upRead();
    });
    await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
    expect(kinds(k)).toEqual(["lock-order"]);
    expect(sem.isLocked()).toBe(false);
  });

  it("downgradeWrite turns the write hold into a read hold and lets queued readers in, not writers", async () => {
    const k = makeKernel(runtime, 6);
    const sem = k.rwSemaphore("sem");
    const held = k.completion("held");
    const log: string[] = [];
    k.spawn("owner", async () => {
      await sem.downWrite();
      held.completeAll();
      await k.msleep(10); // everyone else queues meanwhile
      sem.downgradeWrite();
      log.push(`downgraded: readers ${sem.readers.map((t) => t.name).join(",")}`);
      expect(sem.isReadLockedByMe()).toBe(true);
      expect(sem.isWriteLockedByMe()).toBe(false);
      await k.msleep(10);
      sem.upRead();
    });
    for (const [name, write] of [
      ["r1", false],
      ["w2", true],
      ["r3", false],
    ] as const) {
      k.spawn(name, async () => {
        await held.wait();
        await k.msleep(name === "r1" ? 1 : name === "w2" ? 2 : 3);
        if (write) await sem.downWrite();
        else await sem.downRead();
        log.push(`${name} ${k.now()}`);
        await k.msleep(1);
        if (write) sem.upWrite();
        else sem.upRead();
      });
    }
    await k.run();
    // r1 and r3 are both granted at the downgrade; the controlled scheduler may run either first.
    expect([log[0], ...log.slice(1, 3).sort(), log[3]]).toEqual([
      "downgraded: readers owner,r1,r3",
      "r1 10",
      "r3 10",
      "w2 20",
    ]);
  });

  it("trylocks never wait: read fails while a writer holds or waits, write fails while anyone holds", async () => {
    const k = makeKernel(runtime, 7);
    const sem = k.rwSemaphore("sem");
    const got: boolean[] = [];
    k.spawn("reader", async () => {
      await sem.downRead();
      await k.msleep(5);
      got.push(sem.downReadTrylock()); // a writer waits: false
      await k.msleep(10);
      sem.upRead();
    });
    k.spawn("writer", async () => {
      await k.msleep(1);
      got.push(sem.downWriteTrylock()); // a reader holds: false
      got.push(sem.downReadTrylock()); // readers share: true
      sem.upRead();
      await sem.downWrite();
      sem.upWrite();
      got.push(sem.downWriteTrylock()); // free: true
      sem.upWrite();
    });
    await k.run();
    expect(got).toEqual([false, true, false, true]);
  });

  it("up_read without holding the read side throws EPERM naming the task and the semaphore", async () => {
    const k = makeKernel(runtime);
    const sem = k.rwSemaphore("sem");
    k.spawn("stranger", () => sem.upRead());
    const e = await runRejects(k);
    expect(e).toMatchObject({ code: "EPERM" });
    expect(String(e)).toMatch(/task "stranger" calls up_read\("sem"\) without holding it for read/);
  });

  it("up_write by a task that does not hold the write side throws EPERM naming the holder", async () => {
    const k = makeKernel(runtime);
    const sem = k.rwSemaphore("sem");
    k.spawn("owner", async () => {
      await sem.downWrite();
      await k.msleep(5);
      sem.upWrite();
    });
    k.spawn("stranger", () => sem.upWrite());
    const e = await runRejects(k);
    expect(String(e)).toMatch(/task "stranger" calls up_write\("sem"\) but task "owner" holds it for write/);
  });

  it("taking the write side while holding the read side (or the reverse) throws EDEADLK", async () => {
    for (const first of ["read", "write"] as const) {
      const k = makeKernel(runtime);
      const sem = k.rwSemaphore("sem");
      let caught: unknown;
      k.spawn("self", async () => {
        if (first === "read") await sem.downRead();
        else await sem.downWrite();
        try {
          if (first === "read") await sem.downWrite();
          else await sem.downRead();
        } catch (e) {
          caught = e;
        }
        if (first === "read") sem.upRead();
        else sem.upWrite();
      });
      await expect(k.run()).rejects.toMatchObject({ code: "EDEADLK" });
      expect(caught).toMatchObject({ code: "EDEADLK" });
      expect(String(caught)).toMatch(`while holding it for ${first}: self-deadlock`);
    }
  });
});

describe("rw semaphore hand-off (direct)", () => {
  it("release grants every queued reader when the head is a reader, even past a queued writer", async () => {
    const k = makeKernel("direct");
    const sem = k.rwSemaphore("sem");
    const log: string[] = [];
    let granted = "";
    k.spawn("w0", async () => {
      await sem.downWrite();
      await k.point(); // the others queue: r1, r2, w3, r4
      sem.upWrite();
      granted = sem.readers.map((t) => t.name).join(",");
    });
    for (const name of ["r1", "r2", "w3", "r4"]) {
      k.spawn(name, async () => {
        if (name === "w3") await sem.downWrite();
        else await sem.downRead();
        log.push(name);
        await k.point();
        if (name === "w3") sem.upWrite();
        else sem.upRead();
      });
    }
    await k.run();
    expect(granted).toBe("r1,r2,r4");
    expect(log).toEqual(["r1", "r2", "r4", "w3"]);
  });

  it("release grants a head writer alone, and the readers behind it wait for it", async () => {
    const k = makeKernel("direct");
    const sem = k.rwSemaphore("sem");
    const log: string[] = [];
    k.spawn("w0", async () => {
      await sem.downWrite();
      await k.point(); // the others queue: w1, r2, r3
      sem.upWrite();
      log.push(`writer ${sem.writer?.name}, readers ${sem.readers.length}`);
    });
    for (const name of ["w1", "r2", "r3"]) {
      k.spawn(name, async () => {
        if (name === "w1") await sem.downWrite();
        else await sem.downRead();
        log.push(name);
        await k.point();
        if (name === "w1") sem.upWrite();
        else sem.upRead();
      });
    }
    await k.run();
    expect(log).toEqual(["writer w1, readers 0", "w1", "r2", "r3"]);
  });
});

describe("rw semaphore property", () => {
  it("any mix of readers and writers under any schedule keeps exclusion and finishes (fast-check seed 7)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<"r" | "w">("r", "w"), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(1_000_000),
        async (roles, rounds, seed) => {
          const max = await readersWriters(makeKernel("controlled", seed), roles, rounds);
          expect(max).toBeLessThanOrEqual(roles.filter((r) => r === "r").length);
        },
      ),
      { seed: 7, numRuns: 100 },
    );
  });
});
