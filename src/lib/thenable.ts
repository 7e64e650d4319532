// Values that may come as promises. An operation that completes at once returns its value (or
// undefined), and a promise only when it must wait (DESIGN.md §3.2): these helpers keep that shape
// through cleanups and loops, so a synchronous path stays synchronous.

/** True for a promise or any object with a `then` method (what `await` would wait for). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

/**
 * Runs `body`, then `after` exactly once when what it returned has settled: at once for a value or
 * a throw, on settlement for a promise-like (a promise of the same value is then returned). An
 * error from `body` (thrown or rejected) propagates after `after` ran: a `try { … } finally` for a
 * body that may or may not be asynchronous.
 */
export function withFinally<T>(body: () => T | PromiseLike<T>, after: () => void): T | Promise<T> {
  let r: T | PromiseLike<T>;
  try {
    r = body();
  } catch (e) {
    after();
    throw e;
  }
  if (!isThenable(r)) {
    after();
    return r as T;
  }
  return Promise.resolve(r as PromiseLike<T>).then(
    (v) => {
      after();
      return v;
    },
    (e: unknown) => {
      after();
      throw e;
    },
  );
}

/**
 * Calls `each(i)` for i in [from, n) in order; once a call returns a promise-like, the rest runs
 * after it settled. Returns undefined when every call completed at once, else a promise of the end.
 */
export function forEachMaybeAsync(
  n: number,
  each: (i: number) => PromiseLike<unknown> | undefined,
  from = 0,
): Promise<void> | undefined {
  for (let i = from; i < n; i++) {
    const p = each(i);
    if (p !== undefined) return Promise.resolve(p).then(() => forEachMaybeAsync(n, each, i + 1));
  }
  return undefined;
}
