// Follows lib/test_hmm.c (struct dmirror, dmirror_fops_unlocked_ioctl, dmirror_read, dmirror_write,
// dmirror_fops_release): one open dmirror file, mirroring the address space that opened it.
//
// A mirror owns three things, as the kernel's `struct dmirror` does:
//   notifier  one interval notifier over the whole address space [0, 2^53 - page): every
//             invalidation anywhere in the mm reaches it (fault.ts, dmirrorIntervalInvalidate);
//   mutex     the driver lock ("dmirror_mutex"): the invalidate callback takes it around setSeq and
//             the erase, the fault path around readRetry and the commit, READ/WRITE around their copy;
//   pt        the device page table (the kernel's xarray indexed by page number), here a
//             DevicePageTable made by kernel.devicePageTable(), so the coherence oracle watches it. An
//             entry is read-only or writable (the xarray's DPT_XA_TAG_WRITE); it holds no reference
//             on the frame: the notifier must erase it before the frame can go away.
//
// Every command starts with the ioctl's prologue (-EINVAL for an unaligned address, npages 0, or a
// range that runs past the end of the address space), then runs; on success it returns
// { ret: 0, cpages, faults } with the kernel's numbers, on error { ret: -errno, 0, 0 } (the kernel
// copies the command back only on success). Arguments of the wrong type, and any command on a closed
// mirror, are misuse: MmunError EINVAL.

import type { HmmRange } from "../../hmm/hmm.js";
import { EFAULT, EINVAL, ENOENT, EOPNOTSUPP, MmunError } from "../../lib/errno.js";
import type { DevicePageTable } from "../../mm/devicePageTable.js";
import type { Mm } from "../../mm/mm.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import { ADDRESS_SPACE_END, type MmuNotifierRange } from "../../notifier/range.js";
import type { Mutex } from "../../sync/mutex.js";
import type { DmirrorDevice } from "./device.js";
import { dmirrorFault, dmirrorIntervalInvalidate } from "./fault.js";
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

/** What the commands below check before running (validated `HmmDmirrorCmd`). */
interface Cmd {
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
    this.pt = k.devicePageTable(`${device.name}.${index}`);
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
   * `dmirror_fops_release()`: removes the notifier (waiting for an invalidation in flight), evicts
   * the device's memory and forgets every device translation. Throws EINVAL when already closed.
   * Pairs with `device.open`.
   */
  async close(): Promise<void> {
    if (this.closed) throw new MmunError("EINVAL", `${this}: closed twice`);
    this.closed = true;
    // Pairs with the insert in insertNotifier: once it returns no callback runs for this mirror.
    const p = this.notifier.remove();
    if (p !== undefined) await p;
    this.device.removeChunks();
    this.pt.unmapAll(this.mm);
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

  /** HMM_DMIRROR_MIGRATE_TO_DEV: needs device memory; -EOPNOTSUPP until migration is simulated. */
  migrateToDev(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_MIGRATE_TO_DEV, { addr, npages, buf });
  }

  /** HMM_DMIRROR_MIGRATE_TO_SYS: needs device memory; -EOPNOTSUPP until migration is simulated. */
  migrateToSys(addr: number, npages: number): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_MIGRATE_TO_SYS, { addr, npages });
  }

  /** HMM_DMIRROR_EXCLUSIVE: needs make_device_exclusive; -EOPNOTSUPP until it is simulated. */
  exclusive(addr: number, npages: number, buf: Uint8Array): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_EXCLUSIVE, { addr, npages, buf });
  }

  /** HMM_DMIRROR_CHECK_EXCLUSIVE: needs device-exclusive entries; -EOPNOTSUPP until they exist. */
  checkExclusive(addr: number, npages: number): Promise<DmirrorResult> {
    return this.ioctl(HMM_DMIRROR_CHECK_EXCLUSIVE, { addr, npages });
  }

  /**
   * HMM_DMIRROR_RELEASE: evicts all of the device's memory (every file's) back to system RAM. The
   * prologue still applies, so it is issued with address 0 and one page.
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
      case HMM_DMIRROR_MIGRATE_TO_SYS:
      case HMM_DMIRROR_EXCLUSIVE:
      case HMM_DMIRROR_CHECK_EXCLUSIVE:
        // Device memory and device-exclusive entries are not simulated yet: the kernel's answer for
        // a feature that is configured out.
        ret = -EOPNOTSUPP;
        break;
      case HMM_DMIRROR_RELEASE:
        this.device.removeChunks();
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

/**
 * `dmirror_read()` and `dmirror_write()`: copies between the device's view of the range and a bounce
 * buffer, page by page under the mutex; at the first page the device page table cannot serve (READ:
 * not mapped; WRITE: not mapped writable), runs one fault round over the rest (WRITE: asking for
 * write access, so -EPERM in an area without PROT_WRITE) and copies again. `faults` counts the
 * rounds. WRITE takes `buf` first (-EFAULT if it is too short), and pages written before an error stay
 * written; READ gives `buf` the bounce buffer only on success (-EFAULT if it cannot hold it).
 */
async function dmirrorCopy(m: Dmirror, c: Cmd, out: CmdOutputs, write: boolean): Promise<number> {
  const ps = m.mm.kernel.pageSize;
  const size = c.npages * ps;
  const end = c.addr + size;
  let bounce: Uint8Array;
  if (!write) bounce = new Uint8Array(size);
  else if (c.buf === undefined || c.buf.length < size) return -EFAULT;
  else bounce = c.buf.slice(0, size);
  let start = c.addr;
  let ret: number;
  for (;;) {
    // Pairs with the invalidate callback's erase: the copy sees whole entries.
    const p = m.mutex.lock();
    if (p !== undefined) await p;
    ret = dmirrorDoCopy(m, start, end, c.addr, bounce, out, write);
    m.mutex.unlock();
    if (ret !== -ENOENT) break;
    start = c.addr + out.cpages * ps;
    ret = await dmirrorFault(m, start, end, write);
    if (ret !== 0) break;
    out.faults++;
    const h = m.hooks.afterFaultRound?.(m, write ? HMM_DMIRROR_WRITE : HMM_DMIRROR_READ);
    if (h !== undefined) await h;
  }
  if (ret === 0 && !write) {
    if (c.buf === undefined || c.buf.length < size) return -EFAULT;
    c.buf.set(bounce);
  }
  return ret;
}

/**
 * `dmirror_do_read()` / `dmirror_do_write()`: copies pages `[start, end)` through their device
 * translations from or into `bounce` (which holds the range from `base`), counting them in `cpages`;
 * -ENOENT at the first page the device does not map (writable, for a write). The caller holds the
 * mutex.
 */
function dmirrorDoCopy(
  m: Dmirror,
  start: number,
  end: number,
  base: number,
  bounce: Uint8Array,
  out: CmdOutputs,
  write: boolean,
): number {
  const { mm, pt } = m;
  const k = mm.kernel;
  const ps = k.pageSize;
  for (let addr = start; addr < end; addr += ps) {
    const e = pt.lookup(mm, addr);
    if (e === undefined || (write && !e.write)) return -ENOENT;
    // A translation to a freed frame is reported (use-after-free) by the access.
    if (pt.access(mm, addr, write) !== 0) return -EFAULT;
    if (write) k.physMem.write(e.frame, 0, bounce, addr - base, ps);
    else k.physMem.read(e.frame, 0, bounce, addr - base, ps);
    out.cpages++;
  }
  return 0;
}
