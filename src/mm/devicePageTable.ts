// A device's page table (a GPU's or an RDMA NIC's translations of process addresses) and the coherence
// oracle that watches it (DESIGN.md §3.4, §3.7). There is no kernel file for this: in Linux each
// driver keeps its own. Here every driver keeps its device translations in a DevicePageTable made by
// `kernel.devicePageTable(name)`, so the kernel can check, at every CPU PTE change, that no device
// still translates the address to what the CPU no longer maps.
//
// The oracle's rule. The mm changes a CPU PTE only after the invalidate callbacks of its range
// returned (that is the protocol). At that moment a device entry for the same (mm, page) is stale
// when it translates to another frame than the new PTE does (or the new PTE maps nothing), or when it
// grants write and the new PTE does not. A stale entry is a `stale-mapping` report: the device could
// now read or write memory the process no longer has at that address.
//
// Device memory adds three cases. A device-private entry translates to its device frame (the device
// that owns it maps it). A device-exclusive entry goes with atomic translations only: an atomic
// translation (`map(..., { atomic: true })`, the device's exclusive access) is stale as soon as the
// PTE is anything else, and any other translation is stale while the PTE is device-exclusive. And a
// migration moves pages under its owner's own invalidation (MIGRATE with the owner), which that
// owner's driver ignores because it updates its translations itself: the PTE changes made by a
// migration are not checked against the page tables of devices with the migration's owner
// (`options.owner`), and a device may map a page whose PTE is a migration entry (the destination,
// before the entry is replaced); both are checked at the next change of that PTE.

import { EFAULT, ENOENT, MmunError } from "../lib/errno.js";
import { ADDRESS_SPACE_END, MMU_NOTIFIER_EVENT_NAMES, MmuNotifierEvent } from "../notifier/range.js";
import type { SyncKernel } from "../sync/syncKernel.js";
import { recordEvent } from "../trace/recorder.js";
import type { PhysMem } from "./physMem.js";
import { hex } from "./vma.js";

/** One device translation. */
export interface DeviceMapping {
  /** The physical frame the device reaches. */
  frame: number;
  /** True when the device may write through it. */
  write: boolean;
  /** Present (true) for an atomic (device-exclusive) translation. */
  atomic?: boolean;
}

/** Options of `kernel.devicePageTable()`. */
export interface DevicePageTableOptions {
  /**
   * The owner cookie of the device's memory (`pgmap->owner`): PTE changes made by a migration with
   * this owner are not checked against this page table (its driver updates it itself).
   */
  owner?: unknown;
}

/**
 * The CPU's side of a page as the oracle compares it (see the header), packed in one number (no
 * allocation on the map path): -1 for nothing, else `frame * 8` plus CPU_WRITE, CPU_EXCLUSIVE (a
 * device-exclusive entry) and CPU_MIGRATING (a migration entry).
 */
export type CpuView = number;
/** CpuView bit: the PTE is writable. */
export const CPU_WRITE = 1;
/** CpuView bit: the PTE is a device-exclusive entry. */
export const CPU_EXCLUSIVE = 2;
/** CpuView bit: the PTE is a migration entry. */
export const CPU_MIGRATING = 4;

/** What the device page table needs of an address space. */
export interface DeviceMm {
  readonly name: string;
  /** Trace object id of the address space (the trace names it in device events). */
  readonly id?: number;
}

/** The CPU's translation of a page, as the oracle compares it (-1 for none). */
export type CpuTranslation = (mm: DeviceMm, vpn: number) => CpuView;

/** Options of {@link DevicePageTable.map}. */
export interface DeviceMapOptions {
  write?: boolean;
  /** An atomic translation: the device's exclusive access to a page (make_device_exclusive). */
  atomic?: boolean;
}

/**
 * A stored translation, packed in one number: `frame * 4` plus ENTRY_WRITE and ENTRY_ATOMIC (a
 * device page table holds millions of them without an object each).
 */
type Entry = number;
const ENTRY_WRITE = 1;
const ENTRY_ATOMIC = 2;
const frameOf = (e: Entry) => Math.floor(e / 4);
const isWrite = (e: Entry) => e % 4 === ENTRY_WRITE;
const isAtomic = (e: Entry) => e % 4 === ENTRY_ATOMIC;

function mapping(e: Entry): DeviceMapping {
  const frame = frameOf(e);
  return isAtomic(e) ? { frame, write: false, atomic: true } : { frame, write: isWrite(e) };
}

function describeEntry(frame: number, write: boolean, atomic: boolean): string {
  return `frame ${frame}${atomic ? " atomic" : write ? " writable" : " read-only"}`;
}

/**
 * A device's translations of process addresses, page by page, per address space. Create it with
 * `kernel.devicePageTable(name)`; the kernel's coherence oracle checks it at every CPU PTE change.
 */
export class DevicePageTable {
  /** Trace object id. */
  readonly id: number;
  /** The owner cookie of the device's memory, if it has device memory (see the header). */
  readonly owner: unknown;
  private readonly tables = new Map<DeviceMm, Map<number, Entry>>();
  private count = 0;

  /** Use `kernel.devicePageTable(name)`. */
  constructor(
    readonly kernel: SyncKernel,
    private readonly physMem: PhysMem,
    readonly name: string,
    /** The CPU's current translation (the kernel's page tables), checked when the device maps. */
    private readonly cpu: CpuTranslation = () => -1,
    options: DevicePageTableOptions = {},
  ) {
    this.id = kernel.registerObject("device_page_table", name);
    this.owner = options.owner;
  }

  /** Translations held, over every address space. */
  get size(): number {
    return this.count;
  }

  private vpn(addr: number, what: string): number {
    if (!Number.isSafeInteger(addr) || addr < 0) {
      throw new MmunError("EINVAL", `${this.name}.${what}: ${String(addr)} is not an address`);
    }
    return Math.floor(addr / this.kernel.pageSize);
  }

  /**
   * Maps the page of `addr` in `mm` to `frame`, read-only unless `{ write: true }`, or atomic with
   * `{ atomic: true }` (replacing any earlier translation of that page). Mapping a frame that is
   * free is a `use-after-free`; mapping a translation the CPU does not have at that moment (another
   * frame, write where the CPU's PTE is read-only, an atomic translation without a device-exclusive
   * entry or another one with it) is a `stale-mapping`: the driver published what an invalidation
   * already took away (it skipped `readRetry`, or checked it without its lock).
   */
  map(mm: DeviceMm, addr: number, frame: number, options: DeviceMapOptions = {}): void {
    const vpn = this.vpn(addr, "map");
    if (!Number.isSafeInteger(frame) || frame < 0) {
      throw new MmunError("EINVAL", `${this.name}.map: ${String(frame)} is not a frame`);
    }
    const atomic = options.atomic === true;
    const write = options.write === true && !atomic;
    if (!this.physMem.isLive(frame)) {
      this.kernel.report(
        "use-after-free",
        `device "${this.name}" maps ${mm.name} ${hex(addr)} to ${this.physMem.describe(frame)}`,
      );
    } else {
      const c = this.cpu(mm, vpn);
      const bits = c % 8;
      const ok =
        c >= 0 &&
        (bits & CPU_MIGRATING ||
          (Math.floor(c / 8) === frame &&
            (atomic ? bits & CPU_EXCLUSIVE : !(bits & CPU_EXCLUSIVE) && (!write || bits & CPU_WRITE))));
      if (!ok) {
        const now =
          c < 0
            ? "maps nothing the device may use"
            : bits & CPU_EXCLUSIVE
              ? `is a device-exclusive entry of frame ${Math.floor(c / 8)}`
              : `maps frame ${Math.floor(c / 8)}${bits & CPU_WRITE ? " writable" : " read-only"}`;
        this.kernel.report(
          "stale-mapping",
          `device "${this.name}" maps ${mm.name} ${hex(vpn * this.kernel.pageSize)} to ${describeEntry(frame, write, atomic)} ` +
            `while the CPU PTE ${now}: the translation is already stale`,
        );
      }
    }
    let t = this.tables.get(mm);
    if (t === undefined) {
      t = new Map();
      this.tables.set(mm, t);
    }
    const size = t.size;
    t.set(vpn, frame * 4 + (atomic ? ENTRY_ATOMIC : write ? ENTRY_WRITE : 0));
    if (t.size !== size) this.count++;
    const k = this.kernel;
    if (k.trace !== null) {
      k.event(
        "note",
        this.id,
        frame,
        `map ${mm.name} ${hex(vpn * k.pageSize)}${atomic ? " atomic" : write ? " write" : ""}`,
      );
      const detail = atomic ? "atomic" : write ? "write" : "read";
      recordEvent(k, "dev_map", this.id, { value: frame, detail, addr: vpn * k.pageSize, mm: mm.id ?? -1 });
    }
  }

  /** Drops the translation of `addr`'s page in `mm`; true when there was one. */
  unmap(mm: DeviceMm, addr: number): boolean {
    const vpn = this.vpn(addr, "unmap");
    const t = this.tables.get(mm);
    if (t === undefined || !t.delete(vpn)) return false;
    this.count--;
    const k = this.kernel;
    if (k.trace !== null) {
      k.event("note", this.id, undefined, `unmap ${mm.name} ${hex(vpn * k.pageSize)}`);
      const addr = vpn * k.pageSize;
      recordEvent(k, "dev_unmap", this.id, { addr, end: addr + k.pageSize, mm: mm.id ?? -1 });
    }
    return true;
  }

  /** Drops every translation of `[start, end)` in `mm`; returns how many there were. */
  unmapRange(mm: DeviceMm, start: number, end: number): number {
    const t = this.tables.get(mm);
    if (t === undefined) return 0;
    const ps = this.kernel.pageSize;
    const from = this.vpn(start, "unmapRange");
    const to = Math.ceil(end / ps);
    let n = 0;
    if (to - from > t.size) {
      for (const vpn of [...t.keys()]) if (vpn >= from && vpn < to && this.unmap(mm, vpn * ps)) n++;
    } else {
      for (let v = from; v < to; v++) if (t.has(v) && this.unmap(mm, v * ps)) n++;
    }
    return n;
  }

  /** Drops every translation of `mm` (a device releasing an address space). */
  unmapAll(mm: DeviceMm): number {
    const t = this.tables.get(mm);
    if (t === undefined) return 0;
    const n = t.size;
    this.count -= n;
    this.tables.delete(mm);
    const k = this.kernel;
    if (k.trace !== null)
      recordEvent(k, "dev_unmap", this.id, { addr: 0, end: ADDRESS_SPACE_END, mm: mm.id ?? -1 });
    return n;
  }

  /** The translation of `addr`'s page in `mm`, or undefined. */
  lookup(mm: DeviceMm, addr: number): DeviceMapping | undefined {
    const t = this.tables.get(mm);
    if (t === undefined) return undefined;
    const m = t.get(this.vpn(addr, "lookup"));
    return m === undefined ? undefined : mapping(m);
  }

  /** Every translation of `mm`, by page address, ascending. */
  entries(mm: DeviceMm): [number, DeviceMapping][] {
    const t = this.tables.get(mm);
    if (t === undefined) return [];
    const ps = this.kernel.pageSize;
    return [...t.entries()].sort((a, b) => a[0] - b[0]).map(([vpn, m]) => [vpn * ps, mapping(m)]);
  }

  /**
   * A device read (`write` false) or write through the translation of `addr`: 0, or -EFAULT when
   * the page is not mapped (or not writable, for a write). Reaching a freed frame is reported as
   * `use-after-free` (and returns -EFAULT).
   */
  access(mm: DeviceMm, addr: number, write: boolean): number {
    const m = this.tables.get(mm)?.get(this.vpn(addr, "access"));
    if (m === undefined || (write && !isWrite(m))) return -EFAULT;
    if (!this.physMem.isLive(frameOf(m))) {
      this.kernel.report(
        "use-after-free",
        `device "${this.name}" ${write ? "writes" : "reads"} ${mm.name} ${hex(addr)} through a translation to ${this.physMem.describe(frameOf(m))}`,
      );
      return -EFAULT;
    }
    return 0;
  }

  /**
   * The frame a device read (`write` false) or write of `addr` goes to: -ENOENT when the page is not
   * mapped (or not writable, for a write), -EFAULT (and a `use-after-free` report) when it maps a
   * freed frame. `access` without the second lookup.
   */
  translate(mm: DeviceMm, addr: number, write: boolean): number {
    const m = this.tables.get(mm)?.get(this.vpn(addr, "translate"));
    if (m === undefined || (write && !isWrite(m))) return -ENOENT;
    const f = frameOf(m);
    if (!this.physMem.isLive(f)) {
      this.kernel.report(
        "use-after-free",
        `device "${this.name}" ${write ? "writes" : "reads"} ${mm.name} ${hex(addr)} through a translation to ${this.physMem.describe(f)}`,
      );
      return -EFAULT;
    }
    return f;
  }

  /** Reads the 32-bit word at `addr` (4-aligned) through the translation; -EFAULT as `access`. */
  read32(mm: DeviceMm, addr: number): number {
    const r = this.access(mm, addr, false);
    if (r !== 0) return r;
    const m = this.tables.get(mm)?.get(Math.floor(addr / this.kernel.pageSize)) as Entry;
    return this.physMem.read32(frameOf(m), addr % this.kernel.pageSize);
  }

  /** Writes the 32-bit word at `addr` (4-aligned) through the translation: 0 or -EFAULT as `access`. */
  write32(mm: DeviceMm, addr: number, value: number): number {
    const r = this.access(mm, addr, true);
    if (r !== 0) return r;
    const m = this.tables.get(mm)?.get(Math.floor(addr / this.kernel.pageSize)) as Entry;
    this.physMem.write32(frameOf(m), addr % this.kernel.pageSize, value);
    return 0;
  }

  /**
   * The oracle, at a CPU PTE change of `mm`'s page `vpn` to `frame` (-1: nothing accessible) with
   * `write` (`exclusive`: a device-exclusive entry): reports `stale-mapping` when this device's entry
   * translates to something else or grants more (see the header). `owner` is the owner of the
   * migration that made the change (event MIGRATE), if one did. Called by the mm after the
   * invalidate callbacks of the range returned.
   */
  checkPteChange(
    mm: DeviceMm,
    vpn: number,
    frame: number,
    write: boolean,
    event: number,
    exclusive = false,
    owner?: unknown,
  ): void {
    if (this.count === 0) return;
    const m = this.tables.get(mm)?.get(vpn);
    if (m === undefined) return;
    const mFrame = frameOf(m);
    if (mFrame === frame && (isAtomic(m) ? exclusive : !exclusive && (write || !isWrite(m)))) return;
    if (owner !== undefined && owner === this.owner && event === MmuNotifierEvent.MIGRATE) return;
    const addr = hex(vpn * this.kernel.pageSize);
    const now =
      frame < 0
        ? "maps nothing the device may use"
        : exclusive
          ? `is a device-exclusive entry of frame ${frame}`
          : `maps frame ${frame}${write ? " writable" : " read-only"}`;
    this.kernel.report(
      "stale-mapping",
      `device "${this.name}" still maps ${mm.name} ${addr} to ${describeEntry(mFrame, isWrite(m), isAtomic(m))} ` +
        `after the CPU PTE changed (event ${MMU_NOTIFIER_EVENT_NAMES[event] ?? event}): the CPU PTE now ${now}`,
    );
  }
}
