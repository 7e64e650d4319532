// The broken-driver catalogue (src/drivers/broken/): every variant has exactly one classic mistake,
// and the explorer finds EVERY one within its default budget with the failure kind the variant's
// file names: the default search (random, 1,000 executions), PCT (1,000 executions, depth one more
// than the scenario's preemption bound) and DFS within the scenario's preemption bound (2 unless it
// says otherwise); and each finding replays from its token: same kind, same step, same message.

import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { explore, replay } from "../../src/explore/explore.js";
import { builtinScenario } from "../../src/scenarios/index.js";
import { brokenScenarios } from "../../src/scenarios/patterns/broken.js";

const dir = resolve(import.meta.dirname, "../../src/drivers/broken");
const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));

describe("the broken-driver catalogue", () => {
  it("has at least 15 variants, one file each, each saying where its mistake was seen and how it is found", () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const f of files) {
      const text = readFileSync(join(dir, f), "utf8");
      expect(text, f).toMatch(/^\/\/ Seen: /m);
      expect(text, f).toMatch(/^\/\/ Found as: /m);
      // Exactly one mistake: one line marked BUG (the valid-flag scheme marks the check it gets wrong).
      expect(text.match(/\/\/ BUG\b/g)?.length, f).toBe(1);
    }
    expect(brokenScenarios.length).toBe(files.length);
  });

  it.each(brokenScenarios.map((s) => [s.name, s] as const))(
    "%s: random, PCT and bounded DFS (seed 0) find the expected kind, and each finding replays from its token",
    async (_name, scenario) => {
      expect(builtinScenario(scenario.name), "a built-in scenario (mmun list, check, demo)").toBe(scenario);
      const kind = scenario.expect;
      expect(kind).not.toBe("pass");
      const text = readFileSync(join(dir, `${camel(scenario.name)}.ts`), "utf8");
      expect(text, "the variant's file names the failure kind it is found as").toContain(`Found as: ${kind}`);
      const pb = scenario.preemptionBound ?? 2;
      for (const options of [
        { strategy: "random" },
        { strategy: "pct", pctDepth: pb + 1 },
        { strategy: "dfs", preemptionBound: pb },
      ] as const) {
        const strategy = options.strategy;
        const r = await explore(scenario, { ...options, seed: 0 });
        const f = r.failures[0];
        expect(f?.kind, `${strategy}: ${f?.message}`).toBe(kind);
        const again = await replay(scenario, f?.token as string);
        expect(again.reproduced).toBe(true);
        expect(again.failure?.kind).toBe(f?.kind);
        expect(again.failure?.step).toBe(f?.step);
        expect(again.failure?.message).toBe(f?.message);
        expect(f?.replay.cli).toBe(`npx mmun replay ${scenario.name} ${f?.token}`);
      }
    },
    120_000,
  );
});

/** "broken/set-seq-outside-lock" -> "setSeqOutsideLock" (the variant's file). */
function camel(name: string): string {
  return name.replace(/^broken\//, "").replace(/-(\w)/g, (_m, c: string) => c.toUpperCase());
}
