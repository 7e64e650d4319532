// The schedule of a failing execution as text (issue: a check failure printed no interleaving).

import { describe, expect, it } from "vitest";
import { explore, replay } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import { encodeToken } from "../../src/explore/token.js";
import type { Kernel } from "../../src/mm/kernel.js";
import { abba } from "../../src/scenarios/classic/abba.js";
import { lostUpdate } from "../../src/scenarios/classic/lostUpdate.js";
import { formatSchedule, scheduleOf } from "../../src/trace/schedule.js";

describe("the schedule of a failing execution", () => {
  it("abba: each task's operations at their steps, the preemption, and the failing row last", async () => {
    const r = await replay(abba, encodeToken("lock-order", 6, [[0, 1, 1, 1]]));
    expect(r.reproduced).toBe(true);
    expect(r.schedule?.tasks).toEqual(["t1", "t2"]);
    expect(r.schedule?.rows).toEqual([
      { step: 1, task: "t1", text: 'lock mutex "lock_a" -> preempted' },
      { step: 2, task: "t2", text: 'lock mutex "lock_b" -> acquired' },
      { step: 3, task: "t2", text: 'lock mutex "lock_a" -> acquired' },
      { step: 4, task: "t2", text: 'releases mutex "lock_a"' },
      { step: 5, task: "t2", text: 'releases mutex "lock_b", ends' },
      { step: 5, task: "t1", text: 'acquires mutex "lock_a"' },
      { step: 6, task: "t1", text: 'lock mutex "lock_b" -> acquired, FAILS (lock-order)', failure: true },
    ]);
    expect(r.failure?.schedule).toEqual(r.schedule);
  });

  it("prints one column per task, marks the failing row, and says how much it left out", async () => {
    const r = await replay(abba, encodeToken("lock-order", 6, [[0, 1, 1, 1]]));
    const text = formatSchedule(r.schedule!, { last: 2 });
    expect(text.split("\n")).toEqual([
      "schedule (the last 2 steps of 6; --full shows all):",
      `   step  ${"t1".padEnd(34)}t2`,
      `      5  ${" ".repeat(34)}releases mutex "lock_b", ends`,
      '      5  acquires mutex "lock_a"',
      '>     6  lock mutex "lock_b" -> acquired, FAILS (lock-order)',
    ]);
    expect(formatSchedule(r.schedule!, { last: Number.POSITIVE_INFINITY })).toMatch(/^schedule \(6 steps\):/);
  });

  it("a check failure shows the interleaving that broke the invariant (lost update, seed 0)", async () => {
    const found = await explore(lostUpdate, { strategy: "dfs" });
    const f = found.failures[0]!;
    expect(f.kind).toBe("check");
    expect(f.schedule.rows.map((x) => [x.task, x.text])).toEqual([
      ["inc1", 'point "between read and write" -> preempted'],
      ["inc2", 'point "between read and write", ends'],
      ["inc1", "ends"],
      [null, "FAILS (check)"],
    ]);
    expect(formatSchedule(f.schedule)).toContain("(outside any task) FAILS (check)");
  });

  it("with more than four tasks, each row names its task (seed 0)", async () => {
    const names = ["a", "b", "c", "d", "e"];
    const many = defineScenario({
      name: "five",
      description: "five tasks bump a counter across a point; the check wants them in order",
      setup: () => ({ order: [] as string[] }),
      tasks: Object.fromEntries(
        names.map((n) => [
          n,
          async (w: { order: string[] }, k: Kernel) => {
            await k.point(`${n} before`);
            w.order.push(n);
          },
        ]),
      ),
      check: (w) => w.order.join("") === names.join(""),
    });
    const r = await explore(many, { strategy: "dfs" });
    const text = formatSchedule(r.failures[0]!.schedule);
    expect(text).not.toMatch(/^ {3}step/m);
    expect(text).toMatch(/^ {5,6}\d+ {2}a {15,16}point "a before"/m);
  });

  it("is built from the trace alone (a trace read back from JSON gives the same schedule)", async () => {
    const r = await replay(abba, encodeToken("lock-order", 6, [[0, 1, 1, 1]]));
    expect(scheduleOf(JSON.parse(JSON.stringify(r.trace)))).toEqual(r.schedule);
  });
});
