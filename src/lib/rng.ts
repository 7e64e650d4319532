// A small seeded PRNG (xoshiro128**, seeded through splitmix32): the only randomness below cli/.

import { MmunError } from "./errno.js";

/** The state of an {@link Rng}, as four unsigned 32-bit words. */
export type RngState = readonly [number, number, number, number];

function splitmix32(x: number): [number, number] {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [x, (z ^ (z >>> 16)) >>> 0];
}

/**
 * A deterministic pseudo-random generator: the same seed gives the same sequence on every machine.
 * Seeds are non-negative safe integers (or any integer-valued number; both 32-bit halves are mixed).
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) {
      throw new MmunError("EINVAL", `Rng seed must be a safe integer, got ${seed}`);
    }
    const lo = seed >>> 0;
    const hi = Math.floor(Math.abs(seed) / 0x100000000) >>> 0;
    let x = lo ^ Math.imul(hi, 0x27d4eb2d) ^ (seed < 0 ? 0x5bd1e995 : 0);
    let out: number;
    [x, out] = splitmix32(x);
    this.a = out;
    [x, out] = splitmix32(x);
    this.b = out;
    [x, out] = splitmix32(x);
    this.c = out;
    [x, out] = splitmix32(x);
    this.d = out;
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  /** A generator that continues from `state` (see {@link Rng.state}). */
  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    [r.a, r.b, r.c, r.d] = state.map((w) => w >>> 0) as [number, number, number, number];
    if ((r.a | r.b | r.c | r.d) === 0) throw new MmunError("EINVAL", "Rng state must not be all zero");
    return r;
  }

  /** The current state, to resume the sequence later with {@link Rng.fromState}. */
  state(): RngState {
    return [this.a, this.b, this.c, this.d];
  }

  /** The next unsigned 32-bit value. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  next(): number {
    return this.nextU32() / 0x100000000;
  }

  /** A uniform integer in [0, n) for 1 <= n <= 2^32 (unbiased, by rejection). */
  int(n: number): number {
    if (!(n >= 1 && n <= 0x100000000 && Number.isInteger(n))) {
      throw new MmunError("EINVAL", `Rng.int bound must be an integer in [1, 2^32], got ${n}`);
    }
    if (n === 1) return 0;
    // A power of two divides 2^32: the low bits are already uniform (the common 2- or 4-way choice).
    if (n <= 0x80000000 && (n & (n - 1)) === 0) return this.nextU32() & (n - 1);
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const v = this.nextU32();
      if (v < limit) return v % n;
    }
  }

  /** A uniform safe integer in [lo, hi] (inclusive); the span may exceed 2^32. */
  range(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new MmunError("EINVAL", `Rng.range needs safe integers lo <= hi, got [${lo}, ${hi}]`);
    }
    const span = hi - lo + 1;
    if (span <= 0x100000000) return lo + this.int(span);
    // High part below the next power of two above span / 2^32, then the low 32 bits; a value
    // beyond the span is redrawn (at most half of them are).
    const hiSpan = Math.ceil(span / 0x100000000);
    let hiBound = 1;
    while (hiBound < hiSpan) hiBound *= 2;
    for (;;) {
      const v = this.int(hiBound) * 0x100000000 + this.nextU32();
      if (v < span) return lo + v;
    }
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new MmunError("EINVAL", "Rng.pick from an empty array");
    return items[this.int(items.length)] as T;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i] as T;
      items[i] = items[j] as T;
      items[j] = t;
    }
    return items;
  }

  /** An independent generator derived from this one's next output (for sub-streams). */
  fork(): Rng {
    return new Rng(this.nextU32() * 0x200000 + (this.nextU32() >>> 11));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
