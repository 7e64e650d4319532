import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IntervalTree } from "../../src/lib/intervalTree.js";
import { Slab } from "../../src/lib/slab.js";

const SEED = 21;

describe("Slab", () => {
  it(`hands out zeroed, 8-aligned, disjoint space, and never reuses it (fast-check seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 60 }), (sizes) => {
        const slab = new Slab();
        const taken: { view: Uint8Array; mark: number }[] = [];
        sizes.forEach((bytes, i) => {
          const at = slab.carve(bytes);
          expect(at % 8).toBe(0);
          const view = new Uint8Array(slab.buffer, at, bytes);
          expect(view.every((b) => b === 0)).toBe(true);
          const mark = (i % 255) + 1;
          view.fill(mark);
          taken.push({ view, mark });
        });
        // Every earlier range still holds its own mark: no two ranges overlap.
        for (const { view, mark } of taken) expect(view.every((b) => b === mark)).toBe(true);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("gives a request over a quarter of a slab a buffer of its own", () => {
    const slab = new Slab();
    slab.carve(8);
    const shared = slab.buffer;
    expect(slab.carve(20_000)).toBe(0);
    expect(slab.buffer).not.toBe(shared);
    expect(slab.buffer.byteLength).toBe(20_000);
    slab.carve(8);
    expect(slab.buffer).toBe(shared);
  });

  it("starts a new slab when the current one is full", () => {
    const slab = new Slab();
    slab.carve(16_384);
    const first = slab.buffer;
    for (let i = 0; i < 3; i++) slab.carve(16_384);
    expect(slab.buffer).toBe(first);
    expect(slab.carve(1024)).toBe(0);
    expect(slab.buffer).not.toBe(first);
  });

  it("keeps trees whose first pools share a slab apart", () => {
    const trees = Array.from({ length: 50 }, () => new IntervalTree<number>());
    trees.forEach((t, i) => {
      for (let j = 0; j < 40; j++) t.insert(i * 1000 + j, i * 1000 + j + 5, j);
    });
    trees.forEach((t, i) => {
      expect(t.size).toBe(40);
      const hits = [...t.overlapping(i * 1000, i * 1000 + 100)].map((n) => n.value);
      expect(hits).toEqual(Array.from({ length: 40 }, (_, j) => j));
    });
  });
});
