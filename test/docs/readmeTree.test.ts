// The interval-tree example of README.md, run as written (so the README cannot drift from the code).

import { describe, expect, it } from "vitest";
import { IntervalTree, MmunError } from "../../src/index.js";

describe("README.md: the interval tree as a library", () => {
  it("finds, walks and removes as the example says, and refuses bad keys and double removes", () => {
    const tree = new IntervalTree<string>();
    const heap = tree.insert(0x1000, 0x1fff, "heap");
    tree.insert(0x1800, 0x27ff, "mmap");
    tree.insert(0x8000, 0x8fff, "stack");

    expect([...tree.overlapping(0x1900, 0x1a00)].map((n) => n.value)).toEqual(["heap", "mmap"]);
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
