// The interval-tree example of README.md, run as written (so the README cannot drift from the code).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { IntervalTree, MmunError } from "../../src/index.js";

/** The example's code block in README.md. */
function example(): string {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.split("## The interval tree as a library")[1] ?? "";
  return section.split("```ts")[1]?.split("```")[0] ?? "";
}

describe("README.md: the interval tree as a library", () => {
  it("shows the calls this test makes, as written here", () => {
    const code = example();
    for (const line of [
      'const heap = tree.insert(0x1000, 0x1fff, "heap");',
      "[...tree.overlapping(0x1900, 0x1a00)].map((n) => n.value);",
      "tree.search(0x1900, 0x1a00);",
      "for (let n = tree.iterFirst(0, 0x9000); n; n = tree.iterNext(n, 0, 0x9000)) walked.push(n.value);",
      "tree.remove(heap);",
      "tree.first()?.value;",
      'tree.insert(5, 1, "x");',
    ]) {
      expect(code).toContain(line);
    }
  });

  it("finds, walks and removes as the example says, and refuses bad keys and double removes", () => {
    const tree = new IntervalTree<string>();
    const heap = tree.insert(0x1000, 0x1fff, "heap");
    tree.insert(0x1800, 0x27ff, "mmap");
    tree.insert(0x8000, 0x8fff, "stack");

    expect([...tree.overlapping(0x1900, 0x1a00)].map((n) => n.value)).toEqual(["heap", "mmap"]);
    expect(tree.search(0x1900, 0x1a00)).toEqual(["heap", "mmap"]);
    const walked: string[] = [];
    for (let n = tree.iterFirst(0, 0x9000); n; n = tree.iterNext(n, 0, 0x9000)) walked.push(n.value);
    expect(walked).toEqual(["heap", "mmap", "stack"]);
    tree.remove(heap);
    expect(() => tree.remove(heap)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(tree.first()?.value).toBe("mmap");
    let err: unknown;
    try {
      tree.insert(5, 1, "x");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MmunError);
    expect((err as MmunError).code).toBe("EINVAL");
    expect([...tree].map((n) => [n.start, n.last, n.value])).toEqual([
      [0x1800, 0x27ff, "mmap"],
      [0x8000, 0x8fff, "stack"],
    ]);
  });
});
