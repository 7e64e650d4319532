// mmun selftest: the ported kernel HMM self-test printed as kselftest-style TAP (and as JSON), run from
// source as a user runs it.

import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { exec, type Run } from "./run.js";

const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

function mmun(...args: string[]): Promise<Run> {
  return exec(process.execPath, ["--import", tsx, main, ...args], root);
}

describe("mmun selftest", () => {
  it("prints TAP: the plan, ok and # SKIP lines in kselftest's names, diagnostics, and the totals", async () => {
    const r = await mmun("selftest", "--filter", "hmm_device_private.anon_");
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.slice(0, 2)).toEqual(["TAP version 13", "1..10"]);
    expect(lines).toContain("ok 1 hmm.hmm_device_private.anon_read");
    expect(lines).toContain("ok 4 hmm.hmm_device_private.anon_write_prot");
    expect(lines.find((l) => l.startsWith("ok 7 "))).toMatch(
      /^ok 7 hmm\.hmm_device_private\.anon_write_huge # SKIP needs transparent huge pages/,
    );
    expect(lines.find((l) => l.startsWith("# anon_teardown: "))).toMatch(/READ\(s\) returned 0/);
    expect(lines.at(-1)).toBe("# totals: pass:8 fail:0 skip:2");
  });

  it("prints JSON with --json, and rejects a filter that matches nothing or a bad seed", async () => {
    const r = await mmun("selftest", "--filter", "conformance.C", "--json");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { tests: { name: string; status: string }[]; totals: object };
    expect(out.tests.map((t) => t.name)).toContain("conformance.C9.exit_releases_every_mirror_once");
    expect(out.totals).toEqual({ pass: 10, fail: 0, skip: 0 });
    const none = await mmun("selftest", "--filter", "no-such-case");
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no case matches/);
    expect((await mmun("selftest", "--seed", "x")).code).toBe(2);
  });

  it("is listed in the help", async () => {
    expect((await mmun("--help")).stdout).toMatch(/selftest\s+run the ported kernel HMM self-test/);
    expect((await mmun("selftest", "--help")).stdout).toMatch(/# SKIP reason/);
  });
});
