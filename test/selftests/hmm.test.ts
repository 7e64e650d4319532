// The kernel's HMM self-test (tools/testing/selftests/mm/hmm-tests.c), ported case by case in
// src/drivers/dmirror/selftests/hmmTests.ts (migrateTests.ts, exclusiveTests.ts), and the conformance
// cases A-G of kernel-tests.md §4 (conformance.ts, conformanceDevice.ts): each ported case under each
// variant is an `it` here, run by the same code as `mmun selftest`. A case that needs what is not
// simulated is not an `it` (the project has no
// skipped tests): it is in the suite's registry with its reason, printed by `mmun selftest` as
// `# SKIP`, and the status table at the top of hmmTests.ts and the one in docs/hmm.md must both
// agree with that registry (checked below).

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { instancesOf, runSelftest, VARIANTS } from "../../src/drivers/dmirror/selftests/harness.js";
import { hmmTests } from "../../src/drivers/dmirror/selftests/hmmTests.js";
import { selftestInstances } from "../../src/drivers/dmirror/selftests/suite.js";

const root = resolve(import.meta.dirname, "../..");
const ported = selftestInstances().filter((i) => i.testCase.body !== undefined);

describe("hmm-tests.c and the conformance cases, ported", () => {
  it.each(ported.map((i) => [i.id, i] as const))("%s passes", async (_id, inst) => {
    const r = await runSelftest(inst);
    expect(r.reason).toBeUndefined();
    expect(r.status).toBe("pass");
  });
});

/** The status column of a table: test name -> "ported" | "partial" | "skip". */
function statusTable(text: string, row: RegExp): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = row.exec(line);
    if (m !== null) out.set(m[1] as string, m[2] as string);
  }
  return out;
}

describe("the registry of the 38 kernel test bodies", () => {
  const registry = new Map(
    hmmTests.map((c) => [
      c.name,
      c.body === undefined ? "skip" : c.partial === undefined ? "ported" : "partial",
    ]),
  );

  it("lists every body of hmm-tests.c once, each ported or skipped with the feature it needs", () => {
    expect(hmmTests.length).toBe(38);
    expect(new Set(hmmTests.map((c) => c.name)).size).toBe(38);
    for (const c of hmmTests) {
      expect(
        c.body !== undefined || (c.skip ?? "").startsWith("needs") || c.tags.includes("perf"),
        c.name,
      ).toBe(true);
      expect(c.body === undefined || c.skip === undefined, `${c.name}: a body or a skip, not both`).toBe(
        true,
      );
    }
    expect(hmmTests.filter((c) => c.fixture === "hmm2").map((c) => c.name)).toEqual([
      "migrate_mixed",
      "snapshot",
      "double_map",
    ]);
  });

  it("ports in full every body tagged CORE that needs no device memory, and the FORK one that needs none", () => {
    const core = ["open_close", "anon_read", "anon_read_prot", "anon_write", "anon_write_prot"];
    for (const name of [...core, "anon_read_multiple", "anon_teardown", "anon_write_child_shared"]) {
      expect(registry.get(name), name).toBe("ported");
    }
    for (const c of hmmTests) {
      if (c.tags.includes("CORE") && !c.tags.includes("MIG"))
        expect(registry.get(c.name), c.name).toBe("ported");
    }
  });

  it("ports every body tagged MIG, EXCL or FORK unless it needs files, hugetlbfs, THP-only steps or a clock: 27 of 38", () => {
    const missing = ["FILE", "HTLB", "THP", "perf"];
    for (const c of hmmTests) {
      if (c.body === undefined && c.tags.some((t) => ["MIG", "EXCL", "FORK"].includes(t))) {
        expect(
          c.tags.some((t) => missing.includes(t)),
          c.name,
        ).toBe(true);
      }
    }
    expect(hmmTests.filter((c) => c.body !== undefined).length).toBe(27);
  });

  it("runs as 76 instances in kselftest's order: fixture, variant, test", () => {
    const ids = instancesOf(hmmTests).map((i) => i.id);
    expect(ids.length).toBe(76);
    expect(ids[0]).toBe("hmm.hmm_device_private.open_close");
    expect(ids[35]).toBe("hmm.hmm_device_coherent.open_close");
    expect(ids.slice(70)).toEqual(
      VARIANTS.filter((v) => v.fixture === "hmm2").flatMap((v) =>
        ["migrate_mixed", "snapshot", "double_map"].map((n) => `hmm2.${v.name}.${n}`),
      ),
    );
  });

  it("agrees with the status table at the top of hmmTests.ts", () => {
    const text = readFileSync(join(root, "src/drivers/dmirror/selftests/hmmTests.ts"), "utf8");
    const table = statusTable(text, /^\/\/\s+\d+\s+(\w+)(?: \(hmm2\))?\s+.*?\s(ported|partial|skip)\b/);
    expect(table).toEqual(registry);
  });

  it("agrees with the status table of docs/hmm.md", () => {
    const text = readFileSync(join(root, "docs/hmm.md"), "utf8");
    const table = statusTable(text, /^\| \d+ \| `(\w+)` \|[^|]*\| (ported|partial|skip)\b/);
    expect(table).toEqual(registry);
  });
});
