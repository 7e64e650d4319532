import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeChoices, decodeToken, encodeChoices, encodeToken } from "../../src/explore/token.js";

/** `body` with the check the encoder gives it (24 bits of FNV-1a in base64url), to forge hand-made tokens. */
function signed(body: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) h = Math.imul(h ^ body.charCodeAt(i), 0x01000193);
  h ^= h >>> 24;
  const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const n = h & 0xffffff;
  return `${body}.${b64[(n >> 18) & 63]}${b64[(n >> 12) & 63]}${b64[(n >> 6) & 63]}${b64[n & 63]}`;
}

describe("replay tokens", () => {
  it("choice lists survive encode/decode (fast-check, seed 11)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.nat(3), fc.nat(200), fc.nat(2 ** 31)), { maxLength: 400 }), (xs) => {
        expect(decodeChoices(encodeChoices(xs))).toEqual(xs);
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  it("tokens carry kind, step, segments, a non-default step bound and the options turned off (fast-check, seed 12)", () => {
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
        fc.boolean(),
        fc.boolean(),
        (kind, step, segments, maxSteps, lockdep, fair) => {
          const t = encodeToken(kind, step, segments, maxSteps, { lockdep, fair });
          expect(t).toMatch(/^2[a-z][0-9]+\.[A-Za-z0-9_~-]*(![0-9]+)?(\+l?u?)?\.[A-Za-z0-9_-]{4}$/);
          expect(decodeToken(t)).toEqual({ kind, step, segments, maxSteps, lockdep, fair });
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
    const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~!+";
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(5), { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 2 }),
        fc.nat(500),
        fc.nat(),
        fc.constantFrom(...alphabet),
        fc.constantFrom("change", "add", "remove"),
        fc.boolean(),
        (segments, step, at, ch, how, lockdep) => {
          const t = encodeToken("lock-order", step, segments, undefined, { lockdep, fair: true });
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

  it("a token made before the options field decodes to the defaults (lockdep and fair scheduling on)", () => {
    // The abba token of docs/explorer.md, made before tokens recorded options.
    expect(decodeToken("2l6.AAI.mMe6")).toEqual({
      kind: "lock-order",
      step: 6,
      segments: [[0, 0, 0]],
      maxSteps: undefined,
      lockdep: true,
      fair: true,
    });
    expect(encodeToken("lock-order", 6, [[0, 0, 0]])).toBe("2l6.AAI.mMe6");
  });

  it("options off are letters after '+', covered by the check; unknown, repeated or unordered letters are refused", () => {
    expect(encodeToken("deadlock", 4, [[0, 1]], undefined, { lockdep: false })).toMatch(/^2d4\.AAABAA\+l\./);
    expect(encodeToken("deadlock", 4, [[0, 1]], 50, { lockdep: false, fair: false })).toMatch(/!50\+lu\./);
    const t = encodeToken("deadlock", 4, [[0, 1]], undefined, { lockdep: false });
    expect(() => decodeToken(t.replace("+l", ""))).toThrow(/fails its check/);
    expect(signed("2l6.AAI")).toBe("2l6.AAI.mMe6");
    for (const [letters, why] of [
      ["x", /unknown option letter "x"/],
      ["ll", /out of order or repeated/],
      ["ul", /out of order or repeated/],
    ] as const) {
      expect(() => decodeToken(signed(`2d4.AAABAA+${letters}`)), letters).toThrow(why);
    }
  });

  it("rejects a version-1 token with a message that says why", () => {
    expect(() => decodeToken("1l6.AAI")).toThrow(/version-1 replay token, which carries no check/);
  });
});
