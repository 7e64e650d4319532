// Follows lib/test_hmm.c (struct dmirror, dmirror_fops_unlocked_ioctl, dmirror_fops_release): one open
// dmirror file, mirroring the address space that opened it. The commands live in files of their
// own: readWrite.ts (READ, WRITE), snapshot.ts (SNAPSHOT), migrate.ts (MIGRATE_TO_DEV, MIGRATE_TO_SYS),
// exclusive.ts (EXCLUSIVE, CHECK_EXCLUSIVE); devmem.ts is the device's memory (RELEASE).
//
// A mirror owns three things, as the kernel's `struct dmirror` does:
//   notifier  one interval notifier over the whole address space [0, 2^53 - page): every
//             invalidation anywhere in the mm reaches it (fault.ts, dmirrorIntervalInvalidate);
//   mutex     the driver lock ("dmirror_mutex"): the invalidate callback takes it around setSeq and
//             the erase, the fault path around readRetry and the commit, READ/WRITE around their copy;
//   pt        the device page table (the kernel's xarray indexed by page number), here a
//             DevicePageTable made by kernel.devicePageTable() with the device as owner, so the
//             coherence oracle watches it. An entry is read-only, writable (the xarray's
//             DPT_XA_TAG_WRITE) or atomic (DPT_XA_TAG_ATOMIC, made by EXCLUSIVE); it holds no
//             reference on the frame: the notifier must erase it before the frame can go away. After
//             a migration to the device it maps the device page itself (the kernel maps the system
//             page backing it, which here is the device frame: devmem.ts).
//
// Every command starts with the ioctl's prologue (-EINVAL for an unaligned address, npages 0, or a
// range that runs past the end of the address space), then runs; on success it returns
// { ret: 0, cpages, faults } with the kernel's numbers, on error { ret: -errno, 0, 0 } (the kernel
// copies the command back only on success). Arguments of the wrong type, and any command on a closed
// mirror, are misuse: MmunError EINVAL.

import type { HmmRange } from "../../hmm/hmm.js";
import { EINVAL, MmunError } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { ADDRESS_SPACE_END, type MmuNotifierRange } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";
import type { DmirrorDevice } from "./device.js";
import { dmirrorCheckAtomic, dmirrorExclusive } from "./exclusive.js";
import { dmirrorIntervalInvalidate } from "./fault.js";
import { dmirrorMigrateToDevice, dmirrorMigrateToSystem } from "./migrate.js";
import { dmirrorCopy } from "./readWrite.js";
import { dmirrorSnapshot } from "./snapshot.js";
import {
  type DmirrorResult,
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
  type HmmDmirrorCmd,
} from "./uapi.js";

/**
 * Points where tests and scenarios may act inside a mirror's paths (kernel-tests.md §4: "concurrency
 * hooks"). None exists in the kernel; each is called at the named place and may return a promise,
 * which the mirror awaits there.
 */
export interface DmirrorHooks {
  /**
   * At the start of every callback of the mirror's whole-space notifier, with the range (before the
   * MIGRATE filter). Runs inside an invalidation: it must not sleep.
   */
  onInvalidate?(mirror: Dmirror, range: MmuNotifierRange): void;
  /**
   * H1: `hmmRangeFault` returned 0 for one chunk (of a fault or a SNAPSHOT), and the mirror has not
   * yet taken its mutex to check `readRetry`. Nothing is held.
   */
  afterRangeFault?(mirror: Dmirror, range: HmmRange<Mm>): void | Promise<void>;
  /** H2: a READ or WRITE fault round committed its pages; its copy loop is about to run again. */
  afterFaultRound?(mirror: Dmirror, command: number): void | Promise<void>;
}

/** The outputs a command accumulates (`cmd->cpages`, `cmd->faults`). */
export interface CmdOutputs {
  cpages: number;
  faults: number;
}

/** What the commands check before running (validated `HmmDmirrorCmd`). */
export interface Cmd {
  addr: number;
  npages: number;
  buf: Uint8Array | undefined;
}

/**
 * An open dmirror file (kernel `struct dmirror`): a device mirror of one address space. Make it with
 * `await device.open(mm)`; release it with `await mirror.close()`.
 */
export class Dmirror {
  /** The device this file was opened on (`mdevice`). */
  readonly device: DmirrorDevice;
  /** The mirrored address space (`notifier.mm`). */
  readonly mm: Mm;
  /** The notifier over the whole address space. */
  readonly notifier: MmuIntervalNotifier<Mm>;
  /** The driver lock. */
  readonly mutex: Mutex;
  /** The device page table (the kernel's `pt` xarray). */
  readonly pt: DevicePageTable;
  /** The kernel's `dmirror->flags`: what `HMM_DMIRROR_FLAGS` last set (fault injection for migration). */
  flagBits = 0;
  /** Test and scenario hooks (none by default). */
  hooks: DmirrorHooks = {};
  private closed = false;

  /** Use `device.open(mm)`. */
  constructor(device: DmirrorDevice, mm: Mm, index: number) {
    this.device = device;
    this.mm = mm;
    const k = device.kernel;
    this.mutex = k.mutex("dmirror_mutex");
    this.pt = k.devicePageTable(`${device.name}.${index}`, { owner: device });
    this.notifier = new MmuIntervalNotifier<Mm>();
  }

  /** @internal `dmirror_fops_open()`'s insert: the notifier over `[0, 2^53 - page)`. Pairs with close. */
  async insertNotifier(): Promise<void> {
    const ps = this.mm.kernel.pageSize;
    const p = this.notifier.insert(this.mm, 0, ADDRESS_SPACE_END - ps, {
      name: `${this.pt.name} mirror`,
      invalidate: (sub, range, curSeq) => dmirrorIntervalInvalidate(this, sub, range, curSeq),
    });
    if (p !== undefined) await p;
  }

  /**
   * `dmirror_fops_release()`: removes the notifier (waiting for an invalidation in flight), forgets
   * every device translation and evicts every page of the device's memory back to system memory
   * (every file's: the chunks stay). The kernel destroys its page table after the eviction; here it
   * goes first, since without the notifier nothing keeps it coherent while the eviction moves pages.
   * Throws EINVAL when already closed. Pairs with `device.open`.
   */
  async close(): Promise<void> {
    if (this.closed) throw new MmunError("EINVAL", `${this}: closed twice`);
    this.closed = true;
    // Pairs with the insert in insertNotifier: once it returns no callback runs for this mirror.
    const p = this.notifier.remove();
    if (p !== undefined) await p;
    this.pt.unmapAll(this.mm);
    await this.device.devmem.evictAll();
  }

  /** True once `close` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  // ---- Commands (the ioctl's cases) ----

  /** HMM_DMIRROR_READ: the device reads `npages` pages at `addr` into `buf`, faulting what it lacks. */
  read(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_READ, { addr, npages, buf });
  }

  /** HMM_DMIRROR_WRITE: the device writes `buf` to `npages` pages at `addr`, write-faulting what it lacks. */
  write(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_WRITE, { addr, npages, buf });
  }

  /** HMM_DMIRROR_SNAPSHOT: one HMM_DMIRROR_PROT_* byte per page into `buf`, faulting nothing. */
  snapshot(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_SNAPSHOT, { addr, npages, buf });
  }

  /**
   * HMM_DMIRROR_MIGRATE_TO_DEV: migrates the system pages of `npages` pages at `addr` (empty ones
   * included, in private memory) to the device's memory, then reads the range back into `buf`
   * through the device page table. 0 with `cpages` = npages; -ENOENT when some page is not on the
   * device afterwards (shared memory, another device's page, a failed allocation); -EINVAL for a
   * hole or an unreadable area.
   */
  migrateToDev(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_MIGRATE_TO_DEV, { addr, npages, buf });
  }

  /**
   * HMM_DMIRROR_MIGRATE_TO_SYS: migrates this device's pages of the range back to system memory.
   * 0 with `cpages` = pages moved; -EINVAL as MIGRATE_TO_DEV; -ENOMEM when a system page could not
   * be allocated.
   */
  migrateToSys(addr: number, npages: number): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_MIGRATE_TO_SYS, { addr, npages });
  }

  /**
   * HMM_DMIRROR_EXCLUSIVE: makes every page of the range device-exclusive (the CPU PTE becomes a
   * device-exclusive entry, the device maps it atomic), then reads the range into `buf`. 0 with
   * `cpages` = npages, or make_device_exclusive's error (-EFAULT for a page that cannot be written).
   */
  exclusive(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_EXCLUSIVE, { addr, npages, buf });
  }

  /** HMM_DMIRROR_CHECK_EXCLUSIVE: -EPERM while some page of the range is still mapped atomic, else 0. */
  checkExclusive(addr: number, npages: number): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_CHECK_EXCLUSIVE, { addr, npages });
  }

  /**
   * HMM_DMIRROR_RELEASE: evicts all of the device's memory (every file's) back to system RAM and
   * removes its chunks (new ones come with the next allocation). The prologue still applies, so it is
   * issued with address 0 and one page.
   */
  release(): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_RELEASE, { addr: 0, npages: 1 });
  }

  /**
   * HMM_DMIRROR_FLAGS: sets the fault-injection flags (HMM_DMIRROR_FLAG_FAIL_ALLOC). The kernel
   * passes them in `npages` and still runs the prologue, with address 0 here: so `flags(0)` is
   * -EINVAL, as in the kernel.
   */
  flags(f: number): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_FLAGS, { addr: 0, npages: f });
  }

  /**
   * `dmirror_fops_unlocked_ioctl()`: runs `command` (an HMM_DMIRROR_* number) on `cmd`. An unknown
   * command is -EINVAL. See the class comment for the prologue and the result.
   */
  async ioctl(command: number, cmd: HmmDmirrorCmd): Promise<DmirrorResult> {
    const c = this.checkCmd(command, cmd);
    const ps = this.mm.kernel.pageSize;
    if (c.addr % ps !== 0) return failed(-EINVAL);
    // The kernel's `addr >= addr + (npages << PAGE_SHIFT)`: npages 0, or a range that wraps; our
    // address space ends at 2^53.
    if (c.npages === 0 || c.npages >= (ADDRESS_SPACE_END - c.addr) / ps) return failed(-EINVAL);
    const out: CmdOutputs = { cpages: 0, faults: 0 };
    let ret: number;
    switch (command) {
      case HMM_DMIRROR_READ:
        ret = await dmirrorCopy(this, c, out, false);
        break;
      case HMM_DMIRROR_WRITE:
        ret = await dmirrorCopy(this, c, out, true);
        break;
      case HMM_DMIRROR_SNAPSHOT:
        ret = await dmirrorSnapshot(this, c.addr, c.npages, c.buf, out);
        break;
      case HMM_DMIRROR_MIGRATE_TO_DEV:
        ret = await dmirrorMigrateToDevice(this, c, out);
        break;
      case HMM_DMIRROR_MIGRATE_TO_SYS:
        ret = await dmirrorMigrateToSystem(this, c, out);
        break;
      case HMM_DMIRROR_EXCLUSIVE:
        ret = await dmirrorExclusive(this, c, out);
        break;
      case HMM_DMIRROR_CHECK_EXCLUSIVE:
        ret = dmirrorCheckAtomic(this, c.addr, c.npages);
        break;
      case HMM_DMIRROR_RELEASE:
        await this.device.removeChunks();
        ret = 0;
        break;
      case HMM_DMIRROR_FLAGS:
        this.flagBits = c.npages;
        ret = 0;
        break;
      default:
        return failed(-EINVAL);
    }
    return ret === 0 ? { ret, cpages: out.cpages, faults: out.faults } : failed(ret);
  }

  private checkCmd(command: number, cmd: HmmDmirrorCmd): Cmd {
    if (this.closed) throw new MmunError("EINVAL", `${this}: a command on a closed mirror`);
    if (!Number.isInteger(command)) {
      throw new MmunError("EINVAL", `${this}.ioctl: ${String(command)} is not a command number`);
    }
    if (cmd === null || typeof cmd !== "object")
      throw new MmunError("EINVAL", `${this}.ioctl needs a command`);
    const { addr, npages, buf } = cmd;
    if (!Number.isSafeInteger(addr) || addr < 0) {
      throw new MmunError("EINVAL", `${this}: ${String(addr)} is not an address`);
    }
    if (!Number.isSafeInteger(npages) || npages < 0) {
      throw new MmunError("EINVAL", `${this}: ${String(npages)} is not a page count`);
    }
    if (buf !== undefined && !(buf instanceof Uint8Array)) {
      throw new MmunError("EINVAL", `${this}: the buffer must be a Uint8Array`);
    }
    return { addr, npages, buf };
  }

  toString(): string {
    return `dmirror ${this.pt.name} of ${this.mm.name}`;
  }
}

function failed(ret: number): DmirrorResult {
  return { ret, cpages: 0, faults: 0 };
}
