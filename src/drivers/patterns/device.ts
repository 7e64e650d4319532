// A device model for the mirror patterns: a device (a GPU running a kernel, an RDMA NIC serving a
// work request) that reads and writes process memory through its own page table, and asks its
// driver to fault a translation in when it misses one, then replays the access, as GPUs with
// recoverable page faults (nouveau's replayable faults) and RDMA ODP do. No kernel file: in Linux the
// device is hardware.

import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import type { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";

/** One range to mirror: `[start, start + length)`, page-aligned. */
export interface MirrorRangeSpec {
  start: number;
  length: number;
}

/** A driver class of a pattern (or a broken subclass of one), as its static `open` makes it. */
export type MirrorClass<T> = new (kernel: Kernel, mm: Mm, name: string) => T;

/**
 * The notifiers of a mirror's `open` (every pattern's, the kernel's per-range
 * `mmu_interval_notifier_insert` in nouveau, mlx5 and amdgpu): for each of `specs` in order, a
 * notifier from `make(spec)` inserted over it in `mm`, named `name`, its invalidations going to
 * `invalidate`, and pushed onto `into` once inserted. If an insert fails (EINVAL for a range that is
 * not page-aligned…), the notifiers this call inserted are removed again and the error rethrown:
 * a failed open leaves nothing behind. The caller must not hold `mm.mmapLock`.
 */
export async function insertMirrorRanges<S extends MmuIntervalNotifier<Mm>>(
  mm: Mm,
  specs: readonly MirrorRangeSpec[],
  name: string,
  make: (spec: MirrorRangeSpec) => S,
  invalidate: (sub: S, range: MmuNotifierRange, curSeq: number) => boolean | Promise<boolean>,
  into: S[],
): Promise<void> {
  // Method shorthand, not an arrow property: tsx (keepNames) would name an arrow per open.
  const ops = {
    name,
    invalidate(sub: MmuIntervalNotifier<Mm>, range: MmuNotifierRange, curSeq: number) {
      return invalidate(sub as S, range, curSeq);
    },
  };
  const first = into.length;
  try {
    for (const r of specs) {
      const sub = make(r);
      const p = sub.insert(mm, r.start, r.length, ops);
      if (p !== undefined) await p;
      into.push(sub);
    }
  } catch (e) {
    await removeMirrorRanges(into.splice(first));
    throw e;
  }
}

/** Removes `subs` in order (a mirror's close, pairing with its open): then no callback of theirs runs. */
export async function removeMirrorRanges(subs: readonly MmuIntervalNotifier<Mm>[]): Promise<void> {
  for (const sub of subs) {
    const p = sub.remove();
    if (p !== undefined) await p;
  }
}

/** One access of the device: a 32-bit read, or a write of `value`, at `addr` (4-aligned). */
export interface DeviceAccess {
  addr: number;
  write: boolean;
  value?: number;
}

/** What the device sees of one access: `ret` 0 and the word read (reads), or the fault's errno. */
export interface AccessResult {
  ret: number;
  value: number | undefined;
}

/** What the device needs of its driver: the page table it translates through, and a fault handler. */
export interface FaultingMirror {
  readonly mm: Mm;
  readonly pt: DevicePageTable;
  /**
   * Makes the device map `addr` (writable when `write`); 0, or a negative errno the access then
   * fails with. Called from the device's task, holding nothing.
   */
  fault(addr: number, write: boolean): Promise<number>;
}

/**
 * The device: runs its accesses in order, each through its page table, faulting and replaying a
 * missed one until it hits or the fault fails. Run it as the device's own task:
 * `kernel.spawn("gpu", () => device.run(accesses))`.
 */
export class MirrorDevice {
  /** One result per access run so far. */
  readonly results: AccessResult[] = [];
  /** Faults raised (misses), for tests. */
  faults = 0;

  constructor(readonly mirror: FaultingMirror) {}

  /** Runs `accesses` in order; returns their results. */
  async run(accesses: readonly DeviceAccess[]): Promise<AccessResult[]> {
    const { mm, pt } = this.mirror;
    for (const a of accesses) {
      let ret = 0;
      // A hit completes at once; a miss faults, and the access is replayed (another invalidation
      // may have zapped the translation again in between: then it faults again).
      while (pt.access(mm, a.addr, a.write) !== 0) {
        this.faults++;
        ret = await this.mirror.fault(a.addr, a.write);
        if (ret !== 0) break;
      }
      if (ret !== 0) this.results.push({ ret, value: undefined });
      else if (a.write) this.results.push({ ret: pt.write32(mm, a.addr, a.value ?? 0), value: undefined });
      else this.results.push({ ret: 0, value: pt.read32(mm, a.addr) });
    }
    return this.results;
  }
}
