// The page's address (web/src/model/viewAddress.ts): what it writes reads back as the same view, and
// a value it cannot use is left out with a sentence, never a throw.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatViewAddress, MAX_ZOOM, MIN_ZOOM, parseViewAddress } from "../../web/src/model/viewAddress.js";

describe("the view's address", () => {
  it("writes the trace, the step and a chosen zoom, and reads them back (seed 1203)", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.integer({ min: -5, max: 1_000_000 }),
        fc.option(fc.double({ min: MIN_ZOOM, max: MAX_ZOOM, noNaN: true })),
        (trace, step, zoom) => {
          const hash = formatViewAddress(trace, step, zoom);
          const back = parseViewAddress(hash);
          expect(back.problems).toEqual([]);
          expect(back.trace).toBe(trace);
          expect(back.step).toBe(step);
          if (zoom === null) expect(back.zoom).toBeNull();
          else expect(back.zoom).toBeCloseTo(zoom, 2);
        },
      ),
      { seed: 1203, numRuns: 500 },
    );
    expect(formatViewAddress("zaps.json", 23, null)).toBe("#trace=zaps.json&step=23");
    expect(formatViewAddress("file:my trace.json", 5, 21.3333)).toBe(
      "#trace=file%3Amy%20trace.json&step=5&zoom=21.33",
    );
    expect(parseViewAddress("#trace=zaps.json&step=23&zoom=40")).toEqual({
      trace: "zaps.json",
      step: 23,
      zoom: 40,
      problems: [],
    });
    expect(parseViewAddress("")).toEqual({ trace: null, step: null, zoom: null, problems: [] });
  });

  it("a zoom or step it cannot use: the default instead, and a sentence that says so", () => {
    for (const bad of ["abc", "", "0", "-3", "NaN", "Infinity", "1e3", "0x10", "12px", "1,5"]) {
      const a = parseViewAddress(`#trace=t.json&step=4&zoom=${encodeURIComponent(bad)}`);
      expect(a, bad).toMatchObject({ trace: "t.json", step: 4, zoom: null });
      expect(a.problems, bad).toEqual([
        `zoom "${bad}" in the address is not a number of pixels per step: the timeline opens at its default zoom`,
      ]);
    }
    expect(parseViewAddress("#trace=t.json&zoom=500")).toMatchObject({
      zoom: MAX_ZOOM,
      problems: [
        `zoom 500 in the address is outside 1–120 pixels per step: the timeline opens at ${MAX_ZOOM}`,
      ],
    });
    expect(parseViewAddress("#trace=t.json&zoom=0.25").zoom).toBe(MIN_ZOOM);
    for (const bad of ["x", "", "2.5", "1e2"]) {
      const a = parseViewAddress(`#trace=t.json&step=${bad}&zoom=30`);
      expect(a, bad).toMatchObject({ step: null, zoom: 30 });
      expect(a.problems, bad).toEqual([
        `step "${bad}" in the address is not a step number: the page opens at the first step`,
      ]);
    }
    // Anything at all reads without a throw.
    fc.assert(
      fc.property(fc.string(), (hash) => {
        const a = parseViewAddress(hash);
        expect(a.zoom === null || (a.zoom >= MIN_ZOOM && a.zoom <= MAX_ZOOM)).toBe(true);
        expect(a.step === null || Number.isInteger(a.step)).toBe(true);
      }),
      { seed: 1203, numRuns: 500 },
    );
  });
});
