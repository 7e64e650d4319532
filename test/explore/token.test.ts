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
          expect(t).toMatch(/^2[a-z][0-9]+\.[A-Za-z0-9_~-]*(![0-9]+)?\.[A-Za-z0-9_-]{4}$/);
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
    const good = encodeToken("deadlock", 3, [[0, 1]]);
    const body = good.slice(0, good.lastIndexOf("."));
    for (const bad of [
      "",
      "2d1.AA",
      "2d.AA.AAAA",
      `${body}.`,
      `${body}`,
      "2d3.A$.AAAA",
      good.replace(/^2d/, "2q"),
    ]) {
      expect(() => decodeToken(bad), bad).toThrow(expect.objectContaining({ code: "EINVAL" }));
    }
  });

  it("rejects every token with one character changed, added or removed (fast-check, seed 13)", () => {
    const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~!";
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(5), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 2 }),
        fc.nat(500),
        fc.nat(),
        fc.constantFrom(...alphabet),
        fc.constantFrom("change", "add", "remove"),
        (segments, step, at, ch, how) => {
          const t = encodeToken("lock-order", step, segments);
          const i = at % t.length;
          const bad =
            how === "change"
              ? t.slice(0, i) + ch + t.slice(i + 1)
              : how === "add"
                ? t.slice(0, i) + ch + t.slice(i)
                : t.slice(0, i) + t.slice(i + 1);
          fc.pre(bad !== t);
          expect(() => decodeToken(bad)).toThrow(expect.objectContaining({ code: "EINVAL" }));
        },
      ),
      { seed: 13, numRuns: 2000 },
    );
  });

  it("rejects a version-1 token with a message that says why", () => {
    expect(() => decodeToken("1l6.AAI")).toThrow(/version-1 replay token, which carries no check/);
  });
});
