// kernel-spec §3.4, the worked trace, reproduced step by step with its exact sequence values. The
// writer steps run in one task ("mm"); the sleeping reader, remover and second reader are tasks
// that block in readBegin / remove until the end of the exclusive period wakes them.

import { describe, expect, it } from "vitest";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import type { Task } from "../../src/sync/task.js";
import { type Call, range, recordingOps, world } from "./helpers.js";

/** Yields until `t` is blocked (it runs meanwhile). */
async function untilBlocked(k: { point(): Promise<void> | undefined }, t: Task): Promise<void> {
  for (let i = 0; t.state !== "blocked"; i++) {
    if (i > 1000) throw new Error(`${t} never blocked`);
    await k.point();
  }
}

/** Yields until `cond()` holds. */
async function until(k: { point(): Promise<void> | undefined }, cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 1000) throw new Error("condition never held");
    await k.point();
  }
}

describe("kernel-spec §3.4 worked trace", () => {
  it("§3.4: the worked trace gives the same sequence values step by step (direct runtime, tasks)", async () => {
    const { k, mm } = world({ trace: true });
    const subs = mm.notifiers;
    const driver = k.mutex("driver_lock");
    const log: Call[] = [];
    const steps: string[] = [];
    const st = () => {
      const s = subs.state();
      return `gseq=${s.invalidateSeq} active=${s.activeInvalidateRanges}`;
    };

    k.spawn("mm", async () => {
      // subs created: gseq=2 active=0
      expect(st()).toBe("gseq=2 active=0");
      // insert A=[0x1000,0x1fff] (idle): A.sseq=1
      const A = await MmuIntervalNotifier.insert(
        mm,
        0x1000,
        0x1000,
        recordingOps(log, "A", { lock: driver }),
      );
      expect(A.invalidateSeq).toBe(1);
      // C was inserted earlier and is in the tree.
      const C = await MmuIntervalNotifier.insert(
        mm,
        0x7000,
        0x1000,
        recordingOps(log, "C", { lock: driver }),
      );
      expect(C.membership).toBe("in-tree");
      steps.push(`inserted A, C: ${st()} A.sseq=${A.invalidateSeq}`);

      // R1: read_begin(A) -> 1 (1 != 2); R1 faults pages.
      let r1Seq = -1;
      let i1Started = false;
      let r1Mapped = -1;
      const R1 = k.spawn("R1", async () => {
        const s1 = await A.readBegin();
        r1Seq = s1;
        await until(k, () => i1Started);
        // R1: lock; read_retry(A,1): 3 != 1 -> retry; unlock
        const l = driver.lock();
        if (l) await l;
        expect(A.readRetry(s1)).toBe(true);
        driver.unlock();
        // R1: read_begin(A): 3 == 3 -> sleeps
        const s2 = await A.readBegin();
        expect(s2).toBe(3);
        // R1 redoes the fault; lock; read_retry(A,3) false -> map; unlock
        const l2 = driver.lock();
        if (l2) await l2;
        expect(A.readRetry(s2)).toBe(false);
        r1Mapped = s2;
        driver.unlock();
      });
      await until(k, () => r1Seq !== -1);
      expect(r1Seq).toBe(1);

      // I1 start [0x1000,0x2000): active=1, A found, gseq=3, cur=3; A.invalidate sets A.sseq=3
      const I1 = range(mm, 0x1000, 0x2000);
      const p1 = subs.invalidateRangeStart(I1);
      if (p1) await p1;
      expect(st()).toBe("gseq=3 active=1");
      expect(A.invalidateSeq).toBe(3);
      i1Started = true;
      await untilBlocked(k, R1);
      steps.push(`I1 started, R1 sleeps: ${st()}`);

      // I2 start [0x1800,0x1900) (nested): active=2, A found, gseq stays 3, cur=3
      const I2 = range(mm, 0x1800, 0x1900);
      const p2 = subs.invalidateRangeStart(I2);
      if (p2) await p2;
      expect(st()).toBe("gseq=3 active=2");
      expect(A.invalidateSeq).toBe(3);

      // I1 end: active=1 (still odd, nothing happens)
      subs.invalidateRangeEnd(I1);
      expect(st()).toBe("gseq=3 active=1");
      expect(R1.state).toBe("blocked");

      // insert B=[0x5000,0x5fff]: EXCLUSIVE -> queued, B.sseq=3
      const B = await MmuIntervalNotifier.insert(mm, 0x5000, 0x1000, recordingOps(log, "B"));
      expect(B.invalidateSeq).toBe(3);
      expect(B.membership).toBe("pending-insert");

      // remove C (in tree): queued for removal, the remover sleeps on gseq != 3
      let removed = false;
      const remover = k.spawn("remover", async () => {
        await C.remove();
        removed = true;
      });
      await untilBlocked(k, remover);
      expect(C.membership).toBe("pending-remove");
      expect(subs.state().deferred.map((d) => `${d.op} ${d.start.toString(16)}`)).toEqual([
        "remove 7000",
        "insert 5000",
      ]);
      expect(subs.state().tree.map((e) => e.start)).toEqual([0x1000, 0x7000]);
      steps.push(`B queued, C queued for removal: ${st()}`);

      // I2 end: active=0, gseq=4, B linked, C unlinked, wake all
      subs.invalidateRangeEnd(I2);
      expect(st()).toBe("gseq=4 active=0");
      expect(subs.state().tree.map((e) => e.start)).toEqual([0x1000, 0x5000]);
      expect(subs.state().deferred).toEqual([]);
      expect(B.membership).toBe("in-tree");

      // R1 wakes, read_begin returns 3; R1 redoes the fault and maps.
      await until(k, () => r1Mapped !== -1 && removed);
      expect(r1Mapped).toBe(3);
      expect(C.membership).toBe("removed");

      // I3 start [0x9000,0xa000): active=1, nothing intersects, gseq stays 4 (PARTIAL)
      const I3 = range(mm, 0x9000, 0xa000);
      subs.invalidateRangeStart(I3);
      expect(st()).toBe("gseq=4 active=1");
      // R2: read_begin(A) -> 3 immediately (A untouched by I3)
      expect(A.readBegin()).toBe(3);

      // insert D=[0x9000,0x9fff] during I3: gseq=5 (EXCLUSIVE), D linked now, D.sseq=5
      const D = await MmuIntervalNotifier.insert(mm, 0x9000, 0x1000, recordingOps(log, "D"));
      expect(st()).toBe("gseq=5 active=1");
      expect(D.membership).toBe("in-tree");
      expect(D.invalidateSeq).toBe(5);

      // R3: read_begin(D): 5 == 5 -> sleeps
      let r3 = -1;
      const R3 = k.spawn("R3", async () => {
        r3 = await D.readBegin();
      });
      await untilBlocked(k, R3);

      // I3 end: active=0, gseq odd -> gseq=6, wake; R3 returns 5
      subs.invalidateRangeEnd(I3);
      expect(st()).toBe("gseq=6 active=0");
      await until(k, () => r3 !== -1);
      expect(r3).toBe(5);
      steps.push(`done: ${st()}`);
      await A.remove();
      await B.remove();
      await D.remove();
    });
    await k.run();

    // Only A was called, by I1 and I2, both with cur 3; I3 found nobody.
    expect(log.map((c) => `${c.sub} [${c.start.toString(16)},${c.end.toString(16)}) cur=${c.cur}`)).toEqual([
      "A [1000,2000) cur=3",
      "A [1800,1900) cur=3",
    ]);
    expect(k.reports).toEqual([]);
    // The trace shows the same gseq values, in order.
    const gseq = (k.trace?.events ?? [])
      .filter((e) => e.obj === subs.id && e.kind === "value" && e.detail === "invalidate_seq")
      .map((e) => e.value)
      .filter((v, i, a) => i === 0 || a[i - 1] !== v);
    expect(gseq).toEqual([3, 4, 5, 6]);
    expect(steps).toEqual([
      "inserted A, C: gseq=2 active=0 A.sseq=1",
      "I1 started, R1 sleeps: gseq=3 active=1",
      "B queued, C queued for removal: gseq=3 active=1",
      "done: gseq=6 active=0",
    ]);
  });
});
