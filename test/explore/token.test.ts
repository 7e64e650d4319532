import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeChoices, decodeToken, encodeChoices, encodeToken } from "../../src/explore/token.js";

describe("replay tokens", () => {
  it("choice lists survive encode/decode (fast-check, seed 11)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(3), fc.nat(200), fc.nat(2 ** 31)), { maxLength: 400 }), (xs) => {
        expect(decodeChoices(encodeChoices(xs))).toEqual(xs);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it("tokens carry kind, step, segments and a non-default step bound (fast-check, seed 12)", () => {
    const kinds = [
      "stale-mapping",
      "use-after-free",
      "deadlock",
      "sleep-in-atomic",
      "lock-order",
      "warn",
      "check",
      "error",
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.nat(10 ** 9),
        fc.array(fc.array(fc.nat(9), { maxLength: 50 }), { minLength: 1, maxLength: 3 }),
        fc.option(fc.integer({ min: 1, max: 10 ** 7 }), { nil: undefined }),
        (kind, step, segments, maxSteps) => {
          const t = encodeToken(kind, step, segments, maxSteps);
          expect(t).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_~-]*(![0-9]+)?$/);
          expect(decodeToken(t)).toEqual({ kind, step, segments, maxSteps });
        },
      ),
      { seed: 12, numRuns: 300 },
    );
  });

  it("runs of the same choice compress: 10000 repeats of one task fit in a few characters", () => {
    expect(encodeChoices(new Array(10000).fill(1)).length).toBeLessThan(8);
  });

  it("rejects garbage with EINVAL", () => {
    for (const bad of ["", "2d1.AA", "1d.AA", "1q3.AA", "1d3.A$", "1d3.gA"]) {
      expect(() => decodeToken(bad), bad).toThrow(expect.objectContaining({ code: "EINVAL" }));
    }
  });
});
