// Searches over sorted runs of a Float64Array, and the prefix maxima that make "first child ending at
// or after x" one of them: the interval tree's inner nodes (intervalTreeNodes.ts) keep, per child,
// the least start and the greatest last (the kernel's subtree-last) and the prefix maximum of those.
//
// Each search steps in quarters: it loads three keys that do not depend on each other and adds up
// the comparisons, so V8 emits no data-dependent branch, and a search over 64 children waits on 3
// loads in a row instead of 6. At most 3 keys remain for a short scan. The halving search measured
// slower; figures in docs/performance.md ("Searching in quarters").

/** @internal First index i in [base, base + n) with a[i] >= x, or base + n. */
export function lowerBound(a: Float64Array, base: number, n: number, x: number): number {
  while (n > 3) {
    const q = n >>> 2;
    base += q * (+(a[base + q - 1]! < x) + +(a[base + 2 * q - 1]! < x) + +(a[base + 3 * q - 1]! < x));
    n -= 3 * q;
  }
  while (n > 0 && a[base]! < x) {
    base++;
    n--;
  }
  return base;
}

/** @internal First index i in [base, base + n) with a[i] > x, or base + n. */
export function upperBound(a: Float64Array, base: number, n: number, x: number): number {
  while (n > 3) {
    const q = n >>> 2;
    base += q * (+(a[base + q - 1]! <= x) + +(a[base + 2 * q - 1]! <= x) + +(a[base + 3 * q - 1]! <= x));
    n -= 3 * q;
  }
  while (n > 0 && a[base]! <= x) {
    base++;
    n--;
  }
  return base;
}

/** @internal pm[j] = max(v[base..j]) for j in [from, end), given pm[base..from) is already right. */
export function prefixMax(v: Float64Array, pm: Float64Array, base: number, from: number, end: number): void {
  let m = from > base ? pm[from - 1]! : -1;
  for (let j = from; j < end; j++) {
    const x = v[j]!;
    if (x > m) m = x;
    pm[j] = m;
  }
}
