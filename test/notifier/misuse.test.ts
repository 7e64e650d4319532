// Every misuse path of the notifier API: bad arguments, dead mms, double insert/remove, calls from
// callbacks, calling context (lockdep, sleeping in atomic context).

import { describe, expect, it } from "vitest";
import { EAGAIN, MmunError } from "../../src/lib/errno.js";
import type { Mm } from "../../src/mm/mm.js";
import { MmuNotifier } from "../../src/notifier/classicNotifier.js";
import { MmuIntervalNotifier, type MmuIntervalNotifierOps } from "../../src/notifier/intervalNotifier.js";
import { mnItreeInvStartRange, mnItreeIsInvalidating } from "../../src/notifier/itree.js";
import { notifierGlobals } from "../../src/notifier/notifierGlobals.js";
import { mmuNotifierRangeInit } from "../../src/notifier/range.js";
import {
  type Call,
  controlledKernel,
  insertRecorded,
  range,
  recordingOps,
  rejection,
  reportsOf,
  world,
} from "./helpers.js";

const PAGE = 0x1000;

function code(e: unknown): string | undefined {
  return e instanceof MmunError ? e.code : undefined;
}

async function settled(k: { run(): Promise<void> }): Promise<void> {
  await k.run().catch(() => undefined);
}

describe("insert misuse", () => {
  it("insert rejects arguments of the wrong type or range with EINVAL and changes nothing", async () => {
    const { mm } = world();
    const log: Call[] = [];
    const ok = recordingOps(log, "ok");
    const bad: [unknown, unknown, unknown, unknown][] = [
      [mm, "4096", PAGE, ok],
      [mm, -PAGE, PAGE, ok],
      [mm, 1.5, PAGE, ok],
      [mm, Number.NaN, PAGE, ok],
      [mm, Number.POSITIVE_INFINITY, PAGE, ok],
      [mm, 0, -1, ok],
      [mm, 0, 0.5, ok],
      [mm, 0, "1", ok],
      [mm, 0, 2 ** 54, ok],
      [mm, 0, PAGE, null],
      [mm, 0, PAGE, {}],
      [mm, 0, PAGE, { invalidate: 1 }],
      [{}, 0, PAGE, ok],
      [null, 0, PAGE, ok],
    ];
    for (const [m, s, l, o] of bad) {
      const e = await rejection(() =>
        MmuIntervalNotifier.insert(m as Mm, s as number, l as number, o as MmuIntervalNotifierOps<Mm>),
      );
      expect(code(e), JSON.stringify([typeof m, s, l, o])).toBe("EINVAL");
    }
    expect(mm.notifiers.state()).toMatchObject({ present: false, tree: [] });
    expect(mm.count).toBe(1);
  });

  it("insert on a dead mm (no users) fails with EINVAL, warned as the kernel does", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    await (await insertRecorded(mm, log, "first", 0, PAGE)).remove();
    await mm.mmput();
    expect(mm.users).toBe(0);
    const e = await rejection(() => insertRecorded(mm, log, "late", 0, PAGE));
    expect(code(e)).toBe("EINVAL");
    expect(reportsOf(k, "warn")).toEqual([expect.stringContaining("has no users")]);
    // An mm that never had an interval notifier: the registration itself refuses.
    const { k: k2, mm: mm2 } = world();
    await mm2.mmput();
    const e2 = await rejection(() => insertRecorded(mm2, log, "late", 0, PAGE));
    expect(code(e2)).toBe("EINVAL");
    expect(reportsOf(k2, "error")).toEqual([expect.stringContaining("no users")]);
  });

  it("inserting a notifier that is inserted already is misuse (EINVAL); after remove it can be inserted again", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    const sub = new MmuIntervalNotifier<Mm>();
    await sub.insert(mm, 0, PAGE, recordingOps(log, "A"));
    const e = await rejection(() => sub.insert(mm, PAGE, PAGE, recordingOps(log, "A")));
    expect(code(e)).toBe("EINVAL");
    expect(reportsOf(k, "error")).toEqual([expect.stringContaining("double insert")]);
    expect(mm.notifiers.state().tree).toHaveLength(1);
    await sub.remove();
    await sub.insert(mm, 8 * PAGE, PAGE, recordingOps(log, "A"));
    expect(sub.start).toBe(8 * PAGE);
    expect(sub.membership).toBe("in-tree");
    await sub.remove();
  });

  // Each `*Locked` entry point is for a caller holding mmap_lock for write, asserted as the kernel does.
  const lockedCalls: [string, (mm: Mm) => Promise<unknown>][] = [
    ["insertLocked", async (mm) => MmuIntervalNotifier.insertLocked(mm, 0, PAGE, recordingOps([], "A"))],
    ["registerLocked", (mm) => mm.notifiers.registerLocked(new MmuNotifier({ name: "classic" }))],
    ["getLocked", (mm) => mm.notifiers.getLocked({ name: "classic" })],
  ];

  it.each(lockedCalls)(
    "%s without holding mmap_lock for write warns (mmap_assert_write_locked); held for write, it does not",
    async (name, call) => {
      const { k, mm } = world();
      await call(mm);
      const warns = reportsOf(k, "warn");
      expect(warns.length).toBeGreaterThan(0);
      expect(warns.every((m) => m.includes(`mmap_assert_write_locked: ${name} on ${mm.name}`))).toBe(true);
      // Held for write: no warning.
      const { k: k2, mm: mm2 } = world();
      await mm2.mmapLock.downWrite();
      await call(mm2);
      mm2.mmapLock.upWrite();
      expect(k2.reports).toEqual([]);
    },
  );

  it("insert while holding mmap_lock for read is reported (the first insert takes it for write)", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    k.spawn("driver", async () => {
      await mm.mmapLock.downRead();
      // Only lockdep knows: the tree is registered already, so no real deadlock here.
      await insertRecorded(mm, log, "A", 0, PAGE).catch(() => undefined);
      mm.mmapLock.upRead();
    });
    // Register the tree first so the insert does not actually deadlock.
    await (await insertRecorded(mm, log, "first", 8 * PAGE, PAGE)).remove();
    await settled(k);
    expect(reportsOf(k, "lock-order")).toEqual([expect.stringContaining("possible recursive locking")]);
  });
});

describe("remove and readBegin misuse", () => {
  it("removing a notifier twice, or one never inserted, is misuse (EINVAL)", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    await a.remove();
    expect(code(await rejection(() => a.remove()))).toBe("EINVAL");
    expect(reportsOf(k, "error")).toEqual([expect.stringContaining("double remove")]);
    expect(code(await rejection(() => new MmuIntervalNotifier().remove()))).toBe("EINVAL");
    expect(mm.count).toBe(1);
  });

  it("a second remove while the first one waits is misuse (EINVAL) and does not drop the mm twice", async () => {
    const { mm } = world();
    const log: Call[] = [];
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    const r = range(mm, 0, PAGE);
    mm.notifiers.invalidateRangeStart(r);
    const first = a.remove();
    expect(first).toBeInstanceOf(Promise);
    expect(code(await rejection(() => a.remove()))).toBe("EINVAL");
    mm.notifiers.invalidateRangeEnd(r);
    await first;
    expect(mm.count).toBe(1);
  });

  it("readBegin on a notifier never inserted or already removed is misuse (EINVAL)", async () => {
    const { mm } = world();
    const log: Call[] = [];
    expect(code(await rejection(() => new MmuIntervalNotifier().readBegin()))).toBe("EINVAL");
    const a = await insertRecorded(mm, log, "A", 0, PAGE);
    await a.remove();
    expect(code(await rejection(() => a.readBegin()))).toBe("EINVAL");
  });

  it.each(["remove", "readBegin"] as const)(
    "%s from inside a callback of the same mm is reported as a deadlock and throws EDEADLK (task)",
    async (call) => {
      const { k, mm } = world();
      const caught: unknown[] = [];
      const sub = await MmuIntervalNotifier.insert(mm, 0, PAGE, {
        async invalidate(s, _r, cur) {
          s.setSeq(cur);
          await k.point();
          try {
            await s[call]();
          } catch (e) {
            caught.push(e);
          }
          return true;
        },
      });
      k.spawn("munmap", async () => {
        const r = range(mm, 0, PAGE);
        await mm.notifiers.invalidateRangeStart(r);
        await mm.notifiers.invalidateRangeEnd(r);
      });
      await settled(k);
      expect(caught.map(code)).toEqual(["EDEADLK"]);
      expect(reportsOf(k, "deadlock")).toEqual([
        expect.stringContaining(`${call}() called from inside an invalidate callback`),
      ]);
      // Nothing is stuck: the invalidation completed and the notifier can still be removed.
      expect(mm.notifiers.state()).toMatchObject({ activeInvalidateRanges: 0, invalidateSeq: 4 });
      await sub.remove();
    },
  );

  it("remove and readBegin from the synchronous part of a callback outside any task throw EDEADLK", async () => {
    const { k, mm } = world();
    const caught: unknown[] = [];
    const sub = await MmuIntervalNotifier.insert(mm, 0, PAGE, {
      invalidate(s, _r, cur) {
        s.setSeq(cur);
        s.remove()?.catch((e: unknown) => caught.push(e));
        const b = s.readBegin();
        if (b instanceof Promise) b.catch((e: unknown) => caught.push(e));
        return true;
      },
    });
    const r = range(mm, 0, PAGE);
    mm.notifiers.invalidateRangeStart(r);
    mm.notifiers.invalidateRangeEnd(r);
    await new Promise((res) => setImmediate(res));
    expect(caught.map(code)).toEqual(["EDEADLK", "EDEADLK"]);
    expect(reportsOf(k, "deadlock")).toHaveLength(2);
    await sub.remove();
  });
});

describe("sequence values from plain JavaScript", () => {
  // A driver written in JavaScript can pass anything; a non-integer is never a sequence value.
  const bad: [string, "readRetry" | "checkRetry" | "setSeq", unknown][] = [
    ['readRetry("garbage")', "readRetry", "garbage"],
    ["readRetry(NaN)", "readRetry", Number.NaN],
    ["checkRetry(1.5)", "checkRetry", 1.5],
    ['setSeq("x")', "setSeq", "x"],
  ];

  it.each(bad)("%s throws EINVAL and changes nothing", async (_call, method, value) => {
    const { k, mm } = world();
    const sub = await insertRecorded(mm, [], "A", 0, PAGE);
    const seq = await sub.readBegin();
    const e = (() => {
      try {
        sub[method](value as number);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(code(e)).toBe("EINVAL");
    expect(String(e)).toContain(`${method}(`);
    // The notifier keeps its sequence value: readBegin still returns it.
    expect(sub.invalidateSeq).toBe(seq);
    expect(await sub.readBegin()).toBe(seq);
    expect(sub.readRetry(seq)).toBe(false);
    expect(k.reports).toEqual([]);
    await sub.remove();
  });
});

describe("calling context (lockdep and atomic context)", () => {
  /** A driver whose callback takes `driver_lock`, and one invalidation run by a task. */
  async function driverWorld() {
    const { k, mm } = world();
    const driver = k.mutex("driver_lock");
    const log: Call[] = [];
    const sub = await insertRecorded(mm, log, "A", 0, PAGE, { lock: driver });
    return { k, mm, driver, sub };
  }

  function invalidateInTask(k: ReturnType<typeof world>["k"], mm: Mm): void {
    k.spawn("munmap", async () => {
      const r = range(mm, 0, PAGE);
      await mm.notifiers.invalidateRangeStart(r);
      await mm.notifiers.invalidateRangeEnd(r);
    });
  }

  it("readBegin while holding the driver lock a callback takes is a lock-order report (callback first)", async () => {
    const { k, mm, driver, sub } = await driverWorld();
    invalidateInTask(k, mm);
    k.spawn("fault", async () => {
      await driver.lock();
      await sub.readBegin();
      driver.unlock();
    });
    await settled(k);
    expect(reportsOf(k, "lock-order")).toEqual([
      expect.stringMatching(/circular locking dependency.*driver_lock.*mmu_notifier_invalidate_range_start/s),
    ]);
  });

  it("readBegin while holding the driver lock is a lock-order report (reader first)", async () => {
    const { k, mm, driver, sub } = await driverWorld();
    k.spawn("fault", async () => {
      await driver.lock();
      await sub.readBegin();
      driver.unlock();
    });
    invalidateInTask(k, mm);
    await settled(k);
    expect(reportsOf(k, "lock-order")).toHaveLength(1);
  });

  it("remove while holding the driver lock a callback takes is a lock-order report", async () => {
    const { k, mm, driver, sub } = await driverWorld();
    invalidateInTask(k, mm);
    k.spawn("teardown", async () => {
      await driver.lock();
      await sub.remove();
      driver.unlock();
    });
    await settled(k);
    expect(reportsOf(k, "lock-order")).toHaveLength(1);
  });

  it("allocating (fs_reclaim) under the driver lock is a lock-order report, thanks to the priming at registration", async () => {
    const { k, mm } = world();
    const driver = k.mutex("driver_lock");
    const log: Call[] = [];
    k.spawn("open", async () => {
      // The first insert registers the tree inside this task: fs_reclaim -> invalidate map.
      await insertRecorded(mm, log, "A", 0, PAGE, { lock: driver });
    });
    await k.run();
    invalidateInTask(k, mm); // invalidate map -> driver_lock
    k.spawn("ioctl", async () => {
      await driver.lock();
      const reclaim = notifierGlobals(k).fsReclaim;
      reclaim.acquire(); // kmalloc(GFP_KERNEL) under the driver lock
      reclaim.release();
      driver.unlock();
    });
    await settled(k);
    expect(reportsOf(k, "lock-order")).toEqual([expect.stringMatching(/fs_reclaim/)]);
  });

  it("the interval-tree sections assert subs.lock where it is really taken (controlled scheduler, lockdep_assert_held)", async () => {
    const k = controlledKernel(1);
    const mm = k.createMm({ name: "mm" });
    const subs = mm.notifiers;
    const r = range(mm, 0, PAGE);
    k.spawn("t", async () => {
      mnItreeIsInvalidating(subs);
      mnItreeInvStartRange(subs, r);
      expect(reportsOf(k, "warn")).toEqual([
        'task "t" does not hold spinlock "mmu_notifier_subscriptions.lock" (lockdep_assert_held)',
        'task "t" does not hold spinlock "mmu_notifier_subscriptions.lock" (lockdep_assert_held)',
      ]);
      subs.activeInvalidateRanges--;
      // Through underLock, as the notifier core runs them: silent.
      expect(await subs.underLock(mnItreeIsInvalidating)).toBe(false);
      expect(await subs.underLock(mnItreeInvStartRange, r)).toBe(-1);
      expect(await subs.underLock(mnItreeIsInvalidating)).toBe(false);
      subs.activeInvalidateRanges--;
    });
    await k.run();
    expect(reportsOf(k, "warn")).toHaveLength(2);
    // The direct runtime does not take subs.lock: nothing to assert there.
    const { k: k2, mm: mm2 } = world();
    k2.spawn("t", () => {
      mnItreeIsInvalidating(mm2.notifiers);
    });
    await k2.run();
    expect(k2.reports).toEqual([]);
  });

  it("a correct driver (driver lock only inside the callback and around readRetry) raises no report", async () => {
    const { k, mm, driver, sub } = await driverWorld();
    invalidateInTask(k, mm);
    k.spawn("fault", async () => {
      for (;;) {
        const seq = await sub.readBegin();
        await driver.lock();
        const retry = sub.readRetry(seq);
        driver.unlock();
        if (!retry) break;
      }
    });
    await k.run();
    expect(k.reports).toEqual([]);
  });

  it("a classic start that sleeps in a non-blocking range is reported as sleep-in-atomic", async () => {
    const { k, mm } = world();
    const m = k.mutex("kvm->mmu_lock");
    await mm.notifiers.register(
      new MmuNotifier({
        async invalidateRangeStart() {
          await m.lock();
          m.unlock();
          return 0;
        },
      }),
    );
    k.spawn("oom_reaper", async () => {
      const r = range(mm, 0, PAGE);
      const ret = await mm.notifiers.invalidateRangeStartNonblock(r);
      if (ret === 0) await mm.notifiers.invalidateRangeEnd(r);
    });
    await settled(k);
    expect(reportsOf(k, "sleep-in-atomic")).toEqual([expect.stringContaining("non-blocking region")]);
  });

  it("readBegin and remove under a spinlock are reported as sleep-in-atomic", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    const sub = await insertRecorded(mm, log, "A", 0, PAGE);
    const spin = k.spinLock("pt_lock");
    k.spawn("atomic", async () => {
      await spin.lock();
      sub.readBegin();
      sub.remove();
      spin.unlock();
    });
    await settled(k);
    expect(reportsOf(k, "sleep-in-atomic")).toEqual([
      expect.stringContaining("mmu_interval_read_begin"),
      expect.stringContaining("mmu_interval_notifier_remove"),
    ]);
  });

  it("a blockable invalidate returning false is a warning, not a failure", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    const sub = await insertRecorded(mm, log, "A", 0, PAGE, { result: false });
    const r = range(mm, 0, PAGE);
    expect(mm.notifiers.invalidateRangeStart(r)).toBeUndefined();
    mm.notifiers.invalidateRangeEnd(r);
    expect(k.reports.map((x) => x.kind)).toEqual(["warn"]);
    await sub.remove();
  });
});

describe("entry point misuse", () => {
  it("a range of another mm, or an empty or negative one, is misuse (EINVAL)", async () => {
    const { k, mm } = world();
    const other = k.createMm();
    const log: Call[] = [];
    const sub = await insertRecorded(mm, log, "A", 0, PAGE);
    for (const r of [
      range(other, 0, PAGE),
      range(mm, PAGE, PAGE),
      range(mm, -PAGE, PAGE),
      range(mm, 0, 2 ** 54),
    ]) {
      expect(() => mm.notifiers.invalidateRangeStart(r)).toThrow(MmunError);
      expect(() => mm.notifiers.invalidateRangeStartNonblock(r)).toThrow(MmunError);
      expect(() => mm.notifiers.invalidateRangeEnd(r)).toThrow(MmunError);
    }
    expect(mm.notifiers.state()).toMatchObject({ activeInvalidateRanges: 0, invalidateSeq: 2 });
    await sub.remove();
  });

  it("invalidateRangeEnd without a start warns and changes nothing", async () => {
    const { k, mm } = world();
    const log: Call[] = [];
    const sub = await insertRecorded(mm, log, "A", 0, PAGE);
    mm.notifiers.invalidateRangeEnd(range(mm, 0, PAGE));
    expect(reportsOf(k, "warn")).toEqual([expect.stringContaining("without a matching start")]);
    expect(mm.notifiers.state()).toMatchObject({ activeInvalidateRanges: 0, invalidateSeq: 2 });
    await sub.remove();
  });

  it("a callback that throws: the error reaches the caller and the interval phase it began is ended", async () => {
    const { mm } = world();
    const sub = await MmuIntervalNotifier.insert(mm, 0, PAGE, {
      invalidate() {
        throw new Error("driver bug");
      },
    });
    const r = range(mm, 0, PAGE);
    expect(() => mm.notifiers.invalidateRangeStart(r)).toThrow("driver bug");
    expect(mm.notifiers.state()).toMatchObject({ activeInvalidateRanges: 0, invalidateSeq: 4 });
    const asyncSub = await MmuIntervalNotifier.insert(mm, 2 * PAGE, PAGE, {
      invalidate: async () => {
        throw new Error("async driver bug");
      },
    });
    await expect(mm.notifiers.invalidateRangeStart(range(mm, 2 * PAGE, 3 * PAGE))).rejects.toThrow(
      "async driver bug",
    );
    expect(mm.notifiers.state()).toMatchObject({ activeInvalidateRanges: 0, invalidateSeq: 6 });
    await sub.remove();
    await asyncSub.remove();
  });
});

describe("classic notifier misuse", () => {
  it("registering a notifier twice, or unregistering one that is not registered, is misuse (EINVAL)", async () => {
    const { mm } = world();
    const n = new MmuNotifier({});
    await mm.notifiers.register(n);
    expect(code(await rejection(() => mm.notifiers.register(n)))).toBe("EINVAL");
    await mm.notifiers.unregister(n);
    expect(code(await rejection(() => mm.notifiers.unregister(n)))).toBe("EINVAL");
    expect(code(await rejection(() => mm.notifiers.register({} as MmuNotifier)))).toBe("EINVAL");
    expect(mm.count).toBe(1);
  });

  it("one put too many warns and frees nothing twice", async () => {
    const { k, mm } = world();
    let frees = 0;
    const n = await mm.notifiers.get({ freeNotifier: () => void frees++ });
    mm.notifiers.put(n);
    await mm.notifiers.synchronize();
    mm.notifiers.put(n);
    await mm.notifiers.synchronize();
    expect(frees).toBe(1);
    expect(reportsOf(k, "warn")).toEqual([expect.stringContaining("unbalanced put")]);
  });

  it("a classic start failing in a blockable range, or with another errno, is warned", async () => {
    const { k, mm } = world();
    await mm.notifiers.register(new MmuNotifier({ invalidateRangeStart: () => -EAGAIN }));
    const r = mmuNotifierRangeInit(0, mm, 0, PAGE);
    mm.notifiers.invalidateRangeStart(r);
    mm.notifiers.invalidateRangeEnd(r);
    expect(reportsOf(k, "warn")).toEqual([
      expect.stringContaining("only -EAGAIN, and only when non-blockable"),
    ]);
  });
});
