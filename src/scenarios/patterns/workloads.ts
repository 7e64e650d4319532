// What the pattern scenarios race a mirroring driver with: a process of two pages (the first
// written, the second never touched), a device that writes the first and reads the second through
// its driver, and one of the mm operations that raise invalidations where Linux does. The
// coherence oracle watches the device's page table at every CPU PTE change, lockdep and the deadlock
// detector watch every schedule, and `legalOutcome` accepts only what Linux allows the device to see.
//
// "migrate": another device (a dmirror with device-private memory) migrates the buffer to its memory
// (MIGRATE, owned by that device: the pattern's driver must zap) and closes, which migrates it back.

import { DmirrorDevice } from "../../drivers/dmirror/device.js";
import type { AccessResult, DeviceAccess } from "../../drivers/patterns/device.js";
import { EBUSY, EFAULT, EPERM } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PTE_PRESENT } from "../../mm/pageTable.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";
import { accountingClean } from "../mm/checks.js";

/** What the process wrote to its first page before the device came. */
export const CPU_VALUE = 0x11;
/** What the device writes to the first page. */
export const DEVICE_VALUE = 0x22;
/** Pages of the process's buffer. */
export const PAGES = 2;

/** The process: its address space and the buffer the device mirrors. */
export interface ProcessWorld {
  mm: Mm;
  /** The buffer: `PAGES` pages from `addr`. */
  addr: number;
  size: number;
}

/** An mm operation racing the device. */
export interface Workload {
  /** The scenario name's suffix: `<pattern>/vs-<name>`. */
  name: string;
  /** What it does, for the scenario's description. */
  what: string;
  run(w: ProcessWorld, k: Kernel): Promise<void>;
  /** The buffer may go away: the device's accesses may fail with -EFAULT. */
  unmaps?: boolean;
  /** The buffer becomes read-only: the device's write may fail with -EPERM. */
  readOnly?: boolean;
  /** The buffer's contents may be discarded: the first page may read as 0 afterwards. */
  discards?: boolean;
  /** The address space is torn down: every frame must come back. */
  exits?: boolean;
  /** Invalidations may keep colliding with a fault until it gives up: -EBUSY is legal. */
  busy?: boolean;
}

/** The workloads, by name. */
export const WORKLOADS = {
  munmap: {
    name: "munmap",
    what: "munmap of the buffer (UNMAP)",
    run: (w) => w.mm.munmap(w.addr, w.size),
    unmaps: true,
  },
  mprotect: {
    name: "mprotect",
    what: "mprotect(PROT_READ) of the buffer (PROTECTION_VMA: the device must lose write access)",
    run: (w) => w.mm.mprotect(w.addr, w.size, PROT_READ),
    readOnly: true,
  },
  dontneed: {
    name: "dontneed",
    what: "madvise(MADV_DONTNEED) of the buffer (CLEAR: the pages are dropped)",
    run: (w) => w.mm.madvise(w.addr, w.size, "dontneed"),
    discards: true,
  },
  fork: {
    name: "fork",
    what: "fork() and the child's exit (PROTECTION_PAGE: the parent's pages become copy-on-write)",
    async run(w) {
      const child = await w.mm.fork({ name: "child" });
      await child.exit();
    },
  },
  reclaim: {
    name: "reclaim",
    what: "reclaim swapping the buffer out (CLEAR per page, without the mmap lock)",
    async run(w) {
      await w.mm.reclaim(w.addr, w.size);
    },
  },
  "oom-reap": {
    name: "oom-reap",
    what:
      "the OOM reaper (a non-blocking UNMAP: a driver that would sleep must decline, and the reaper " +
      "skips the area)",
    async run(w) {
      await w.mm.oomReap();
    },
    discards: true,
  },
  migrate: {
    name: "migrate",
    what:
      "another device migrating the buffer to its private memory and back (MIGRATE: the CPU PTEs " +
      "become device-private entries, then system pages again)",
    async run(w, k) {
      const m = await new DmirrorDevice(k, { memory: "private", chunkPages: 8 }).open(w.mm);
      await m.migrateToDev(w.addr, PAGES, new Uint8Array(w.size));
      await m.close();
    },
  },
  exit: {
    name: "exit",
    what: "the process's exit (RELEASE, then UNMAP of everything once the last user is gone)",
    async run(w) {
      await w.mm.exit();
    },
    unmaps: true,
    exits: true,
  },
} satisfies Record<string, Workload>;

export type WorkloadName = keyof typeof WORKLOADS;

/** The workloads every pattern is raced with, in display order. */
export const WORKLOAD_NAMES: readonly WorkloadName[] = [
  "munmap",
  "mprotect",
  "dontneed",
  "fork",
  "reclaim",
  "oom-reap",
  "migrate",
  "exit",
];

/** A process of `PAGES` pages, the first holding CPU_VALUE, the second never touched. */
export async function createProcess(k: Kernel): Promise<ProcessWorld> {
  const mm = k.createMm({ name: "proc" });
  const size = PAGES * k.pageSize;
  const addr = await mm.mmap({ length: size, prot: PROT_READ | PROT_WRITE });
  await mm.write32(addr, CPU_VALUE);
  return { mm, addr, size };
}

/** The device's accesses: it writes DEVICE_VALUE to the first page, then reads the second. */
export function deviceAccesses(w: ProcessWorld, k: Kernel): DeviceAccess[] {
  return [
    { addr: w.addr, write: true, value: DEVICE_VALUE },
    { addr: w.addr + k.pageSize, write: false },
  ];
}

/** The word at `addr` as the CPU's page table maps it now, or undefined when no page is present. */
function cpuWord(mm: Mm, addr: number): number | undefined {
  const k = mm.kernel;
  const vpn = Math.floor(addr / k.pageSize);
  if ((mm.pageTable.flagsAt(vpn) & PTE_PRESENT) === 0) return undefined;
  return k.physMem.read32(mm.pageTable.valAt(vpn), addr % k.pageSize);
}

/**
 * The check of a scenario: the device's two accesses ended as Linux allows under `wl` (the write: 0,
 * -EFAULT when the buffer may go, -EPERM when it may turn read-only; the read of the untouched page:
 * 0 and zero, or -EFAULT), the first page holds what was last written to it (or zero, if discarded)
 * wherever it is still present, and, when the process exited, every frame came back.
 */
export function legalOutcome<W extends ProcessWorld>(
  wl: Workload,
  results: (w: W) => readonly AccessResult[],
) {
  return (w: W, k: Kernel): boolean => {
    const [wr, rd] = results(w);
    if (wr === undefined || rd === undefined) throw new Error("the device did not finish its accesses");
    const writeOk = [
      0,
      ...(wl.unmaps ? [-EFAULT] : []),
      ...(wl.readOnly ? [-EPERM] : []),
      ...(wl.busy ? [-EBUSY] : []),
    ];
    if (!writeOk.includes(wr.ret))
      throw new Error(`the device's write ended with ${wr.ret}, not ${writeOk.join(" or ")}`);
    if (rd.ret !== 0 && !(wl.unmaps && rd.ret === -EFAULT)) {
      throw new Error(`the device's read of the untouched page ended with ${rd.ret}`);
    }
    if (rd.ret === 0 && rd.value !== 0) throw new Error(`the untouched page read as ${rd.value}, not 0`);
    if (wl.exits) return accountingClean(k, [w.mm]);
    const now = cpuWord(w.mm, w.addr);
    const last = wr.ret === 0 ? DEVICE_VALUE : CPU_VALUE;
    if (now !== undefined && now !== last && !(wl.discards && now === 0)) {
      throw new Error(`the first page holds ${now}, not ${last}${wl.discards ? " or 0" : ""}`);
    }
    return true;
  };
}
