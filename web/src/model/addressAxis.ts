// The address axis of one address space: the parts of it the trace touches (areas, PTEs, device
// entries, notifier intervals), each drawn to scale, with the empty stretches between them cut
// out. Addresses in a 47-bit space would otherwise squeeze a few pages into a pixel.

/** A stretch of addresses drawn to scale, `[start, end)` at `[x, x + width)`. */
export interface AxisSegment {
  start: number;
  end: number;
  x: number;
  width: number;
}

/** A piece of a range as drawn: from `x`, `width` pixels. */
export interface AxisPiece {
  x: number;
  width: number;
}

export class AddressAxis {
  constructor(
    readonly segments: readonly AxisSegment[],
    /** The whole axis, in pixels. */
    readonly width: number,
  ) {}

  /** The x of `addr`, clamped to the nearest segment when it lies in a cut-out stretch. */
  x(addr: number): number {
    const segs = this.segments;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((segs[mid] as AxisSegment).start <= addr) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo] as AxisSegment;
    if (addr <= s.start) return s.x;
    if (addr >= s.end) return s.x + s.width;
    return s.x + ((addr - s.start) / (s.end - s.start)) * s.width;
  }

  /** `[start, end)` as drawn: one piece per segment it overlaps (none when it overlaps none). */
  pieces(start: number, end: number): AxisPiece[] {
    const out: AxisPiece[] = [];
    for (const s of this.segments) {
      if (s.end <= start || s.start >= end) continue;
      const a = this.x(Math.max(start, s.start));
      const b = this.x(Math.min(end, s.end));
      out.push({ x: a, width: Math.max(b - a, 1) });
    }
    return out;
  }
}

/** Gap between segments, in pixels (a cut-out stretch). */
export const AXIS_GAP = 22;

/**
 * The axis for `ranges` (half-open byte ranges) in `width` pixels. Ranges closer than `joinPages`
 * pages are drawn as one segment. A segment's width grows with its page count up to `capPages`
 * pages, so one large area leaves room for the small ones. Null when there is nothing to draw.
 */
export function buildAxis(
  ranges: readonly (readonly [number, number])[],
  width: number,
  pageSize = 4096,
  joinPages = 4,
  capPages = 48,
): AddressAxis | null {
  const sorted = ranges.filter(([a, b]) => b > a).sort((p, q) => p[0] - q[0]);
  if (sorted.length === 0) return null;
  const merged: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && a <= last[1] + joinPages * pageSize) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  const weights = merged.map(([a, b]) => Math.min(Math.ceil((b - a) / pageSize), capPages) + 2);
  const total = weights.reduce((x, y) => x + y, 0);
  const room = Math.max(width - AXIS_GAP * (merged.length - 1), merged.length * 8);
  const segments: AxisSegment[] = [];
  let x = 0;
  merged.forEach(([start, end], i) => {
    const w = (room * (weights[i] as number)) / total;
    segments.push({ start, end, x, width: w });
    x += w + AXIS_GAP;
  });
  return new AddressAxis(segments, x - AXIS_GAP);
}
