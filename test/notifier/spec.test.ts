// The protocol specification in the header of src/notifier/intervalNotifier.ts names the tests that
// back each of its rows: they must exist, so the prose and the code cannot drift apart.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

function headerOf(path: string): string {
  const lines = readFileSync(path, "utf8").split("\n");
  const out: string[] = [];
  for (const l of lines) {
    if (!l.startsWith("//")) break;
    out.push(l.replace(/^\/\/ ?/, "").trim());
  }
  return out.join(" ").replace(/\s+/g, " ");
}

function testNames(): Set<string> {
  const names = new Set<string>();
  for (const f of readdirSync(here)) {
    if (!f.endsWith(".test.ts")) continue;
    const src = readFileSync(join(here, f), "utf8");
    for (const m of src.matchAll(/\bit\("((?:[^"\\]|\\.)*)"/g)) names.add(m[1] as string);
  }
  return names;
}

describe("protocol specification", () => {
  it("the protocol header of intervalNotifier.ts names only tests that exist, one for every state and transition", () => {
    const header = headerOf(join(root, "src", "notifier", "intervalNotifier.ts"));
    const quoted = [...header.matchAll(/"([^"]+)"/g)]
      .map((m) => m[1] as string)
      .filter((q) => /^(6\.1-\d+|§3\.4|interleavings):/.test(q));
    const names = testNames();
    expect(quoted.length).toBeGreaterThanOrEqual(10);
    for (const q of quoted) expect(names, `header names "${q}"`).toContain(q);
    for (const n of ["6.1-4", "6.1-5", "6.1-6", "6.1-8", "6.1-11", "6.1-14", "6.1-15", "6.1-17"]) {
      expect(
        quoted.some((q) => q.startsWith(`${n}:`)),
        n,
      ).toBe(true);
    }
  });
});
