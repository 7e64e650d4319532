// Tests of src/sync/completion.ts under both schedulers, and against a counting model.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SyncKernel } from "../../src/sync/syncKernel.js";
import { makeKernel, RUNTIMES, seedsFor } from "./helpers.js";

describe.each(RUNTIMES)("completion (%s)", (runtime) => {
  it("complete() lets exactly one waiter through per call (seeds 0..49)", async () => {
    for (const seed of seedsFor(runtime, 50)) {
      const k = makeKernel(runtime, seed, { failOn: [] });
      const c = k.completion("c");
      let through = 0;
      for (let i = 0; i < 3; i++) {
        k.spawn(`w${i}`, async () => {
          await c.wait();
          through++;
        });
      }
      k.spawn("completer", async () => {
        await k.point();
        c.complete();
        c.complete();
      });
      await k.run();
      expect(through, `seed ${seed}`).toBe(2);
      expect(k.reports.map((r) => r.kind)).toEqual(["deadlock"]);
      expect(k.reports[0]!.message).toMatch(/waits on completion "c" to be completed: not completed/);
    }
  });

  it("completeAll() lets every present and future waiter through until reinit()", async () => {
    const k = makeKernel(runtime, 3);
    const c = k.completion("c");
    let early = 0;
    const log: string[] = [];
    for (let i = 0; i < 2; i++) {
      k.spawn(`early${i}`, async () => {
        await c.wait();
        early++;
      });
    }
    k.spawn("all", async () => {
      await k.msleep(1);
      c.completeAll();
      await c.wait();
      await c.wait();
      log.push(`late ${c.isDone()}`);
      // Like the kernel's, reinit_completion() must wait until the woken waiters have run.
      await k.msleep(1);
      log.push(`early ${early}`);
      c.reinit();
      log.push(`reinit ${c.isDone()} ${c.tryWait()}`);
      log.push(`timeout ${await c.waitTimeout(4)} at ${k.now()}`);
    });
    await k.run();
    expect(log).toEqual(["late true", "early 2", "reinit false false", "timeout 0 at 6"]);
  });

  it("a complete() before the wait is not lost: the later wait returns at once", async () => {
    const k = makeKernel(runtime, 4);
    const c = k.completion("c");
    let r: unknown = "unset";
    k.spawn("t", async () => {
      c.complete();
      await k.point();
      r = c.wait();
      await r;
    });
    await k.run();
    if (runtime === "direct") expect(r).toBeUndefined();
    expect(c.isDone()).toBe(false);
  });

  it("waitTimeout returns the remaining logical time when completed in time", async () => {
    const k = makeKernel(runtime, 5);
    const c = k.completion("c");
    const got: number[] = [];
    k.spawn("waiter", async () => {
      got.push(await c.waitTimeout(10));
      got.push(k.now());
    });
    k.spawn("completer", async () => {
      await k.msleep(4);
      c.complete();
    });
    await k.run();
    expect(got).toEqual([6, 4]);
  });
});

type Op = "complete" | "completeAll" | "tryWait" | "reinit" | "isDone";

describe("completion model", () => {
  it("complete/completeAll/tryWait/reinit/isDone match a counting model (fast-check seed 1234)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<Op>("complete", "completeAll", "tryWait", "reinit", "isDone"), {
          maxLength: 40,
        }),
        (ops) => {
          const c = new SyncKernel().completion("c");
          let done = 0;
          let all = false;
          for (const op of ops) {
            switch (op) {
              case "complete":
                c.complete();
                if (!all) done++;
                break;
              case "completeAll":
                c.completeAll();
                all = true;
                break;
              case "tryWait": {
                const expected = all || done > 0;
                if (!all && done > 0) done--;
                expect(c.tryWait()).toBe(expected);
                break;
              }
              case "reinit":
                c.reinit();
                done = 0;
                all = false;
                break;
              case "isDone":
                expect(c.isDone()).toBe(all || done > 0);
                break;
            }
          }
        },
      ),
      { seed: 1234, numRuns: 300 },
    );
  });
});
