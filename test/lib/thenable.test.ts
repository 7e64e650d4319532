import { describe, expect, it } from "vitest";
import { forEachMaybeAsync, isThenable, withFinally } from "../../src/lib/thenable.js";

describe("values that may come as promises", () => {
  it("isThenable is true for promises and objects with a then method, false for anything else", () => {
    expect(isThenable(Promise.resolve(1))).toBe(true);
    // A promise-like that is not a Promise (drivers may return one from a callback).
    const then = "then";
    expect(isThenable({ [then]: () => undefined })).toBe(true);
    for (const v of [undefined, null, 0, "then", {}, { [then]: 1 }, () => undefined]) {
      expect(isThenable(v), String(v)).toBe(false);
    }
  });

  it("withFinally runs its cleanup once: at once for a value or a throw, on settlement for a promise", async () => {
    const log: string[] = [];
    const after = () => log.push("after");
    expect(withFinally(() => 7, after)).toBe(7);
    expect(log).toEqual(["after"]);
    expect(() =>
      withFinally(() => {
        throw new Error("sync");
      }, after),
    ).toThrow("sync");
    expect(log).toEqual(["after", "after"]);
    let resolve!: (v: number) => void;
    const p = withFinally(() => new Promise<number>((r) => (resolve = r)), after);
    expect(p).toBeInstanceOf(Promise);
    expect(log).toHaveLength(2);
    resolve(8);
    expect(await p).toBe(8);
    expect(log).toHaveLength(3);
    await expect(withFinally(() => Promise.reject(new Error("async")), after)).rejects.toThrow("async");
    expect(log).toHaveLength(4);
  });

  it("forEachMaybeAsync stays synchronous until a call returns a promise, then keeps the order", async () => {
    const seen: number[] = [];
    expect(forEachMaybeAsync(3, (i) => void seen.push(i))).toBeUndefined();
    expect(seen).toEqual([0, 1, 2]);
    seen.length = 0;
    const p = forEachMaybeAsync(4, (i) => {
      seen.push(i);
      return i === 1 ? Promise.resolve() : undefined;
    });
    expect(seen).toEqual([0, 1]);
    await p;
    expect(seen).toEqual([0, 1, 2, 3]);
  });
});
