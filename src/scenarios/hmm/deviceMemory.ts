// Device memory racing the rest of the system (mm/migrate_device.c, the CPU fault-back through the
// pagemap's migrate_to_ram, make_device_exclusive), driven by the dmirror device (lib/test_hmm.c):
//
//   hmm/migrate-vs-write-and-read  MIGRATE_TO_DEV on device 0 while the CPU writes a page and device
//                                  1 READs the range (faulting device 0's pages back to RAM);
//   hmm/fault-back-vs-munmap       a CPU read faulting a device-private page back while the range is
//                                  unmapped;
//   hmm/exclusive-vs-fork          EXCLUSIVE on device 0 while the process forks (fork restores the
//                                  parent's device-exclusive entries) and the child writes.
//
// Oracles: the coherence oracle watches both devices' page tables at every CPU PTE change
// (stale-mapping, atomic translations included) and at every device map; use-after-free at every
// device access; the deadlock detector and lockdep. Each check accepts only Linux's legal outcomes
// (listed in each description) and, once the files are closed and the process is gone, no frame and
// no device page may be left in use. The last task to finish closes the files and ends the process
// (the check itself runs outside any task).

import { DmirrorDevice } from "../../drivers/dmirror/device.js";
import type { Dmirror } from "../../drivers/dmirror/mirror.js";
import type { DmirrorResult } from "../../drivers/dmirror/uapi.js";
import { defineScenario } from "../../explore/scenario.js";
import { ENOENT, EPERM, MmunError } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";

const PAGES = 2;
/** Device pages per chunk: enough for the range (a 256 MiB chunk would cost 65,536 frame numbers). */
const CHUNK_PAGES = 8;
/** The CPU's write: word 1 of page 0. */
const WRITTEN = 0xc0ffee;
const module = import.meta.url;

/** A process with PAGES pages of pattern i (word k = k), mirrored by two device-private devices. */
export interface DeviceMemoryWorld {
  mm: Mm;
  m0: Dmirror;
  m1: Dmirror;
  addr: number;
  size: number;
  /** Tasks still running; the last one tears down. */
  running: number;
  /** Results and observations, by name. */
  results: Record<string, DmirrorResult | undefined>;
  bufs: Record<string, Uint8Array>;
  /** What the CPU read, or the errno name of its fault. */
  cpu: Record<string, number | string>;
  /** Every word of the range as the CPU read it at the end (before teardown). */
  final: Int32Array | undefined;
  /** CHECK_EXCLUSIVE at the end. */
  exclusiveLeft: number | undefined;
}

function setupWorld(tasks: number, migrated: boolean) {
  return async (k: Kernel): Promise<DeviceMemoryWorld> => {
    const mm = k.createMm({ name: "proc" });
    const m0 = await new DmirrorDevice(k, { memory: "private", chunkPages: CHUNK_PAGES }).open(mm);
    const m1 = await new DmirrorDevice(k, { memory: "private", chunkPages: CHUNK_PAGES }).open(mm);
    const ps = k.pageSize;
    const size = PAGES * ps;
    const addr = await mm.mmap({ length: size, prot: PROT_READ | PROT_WRITE });
    const w = new Int32Array(size / 4).map((_, i) => i);
    await mm.write(addr, new Uint8Array(w.buffer));
    if (migrated) {
      const r = await m0.migrateToDev(addr, PAGES, new Uint8Array(size));
      if (r.ret !== 0) throw new Error(`setup: MIGRATE_TO_DEV returned ${r.ret}`);
    }
    return {
      mm,
      m0,
      m1,
      addr,
      size,
      running: tasks,
      results: {},
      bufs: {},
      cpu: {},
      final: undefined,
      exclusiveLeft: undefined,
    };
  };
}

/** The end of a task: the last one reads the range back (if mapped), closes the files and exits. */
async function finish(w: DeviceMemoryWorld): Promise<void> {
  if (--w.running !== 0) return;
  if (w.mm.vmas.find(w.addr) !== undefined) {
    w.exclusiveLeft = (await w.m0.checkExclusive(w.addr, PAGES)).ret;
    const b = await w.mm.read(w.addr, w.size);
    w.final = new Int32Array(b.buffer, b.byteOffset, w.size / 4);
  }
  await w.m0.close();
  await w.m1.close();
  await w.mm.exit();
}

/** A CPU access: its value, or the errno name when it faults (SIGSEGV). */
async function cpu(fn: () => Promise<number>): Promise<number | string> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof MmunError) return e.code;
    throw e;
  }
}

/** Throws unless `buf` holds pattern i, word 1 of page 0 being one of `word1`. */
function expectData(buf: Int32Array, word1: readonly number[], what: string): void {
  for (let i = 0; i < buf.length; i++) {
    const ok = i === 1 ? word1.includes(buf[i] as number) : buf[i] === i;
    if (!ok) throw new Error(`${what}: word ${i} is 0x${(buf[i] as number).toString(16)}`);
  }
}

/** Throws unless nothing is left in use: every frame and device page came back. */
function expectClean(k: Kernel, w: DeviceMemoryWorld): true {
  if (!w.mm.dead) throw new Error("the process is still alive");
  const s = k.physMem.stats();
  if (s.inUse !== 0 || s.deviceInUse !== 0 || s.swapSlots !== 0) {
    throw new Error(`${s.inUse} frame(s) and ${s.deviceInUse} device page(s) left in use`);
  }
  return true;
}

const words = (b: Uint8Array) => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);

export const migrateVsWriteAndRead = defineScenario({
  name: "hmm/migrate-vs-write-and-read",
  description:
    "Device 0 migrates 2 pages to its private memory (MIGRATE_TO_DEV) while the CPU writes word 1 of page 0 and " +
    "device 1 READs both pages. Legal: the migration returns 0 with the data, or -ENOENT when a page was " +
    "faulted back to RAM before its final read-back; device 1's READ returns 0 with the data (word 1 old or " +
    "new); the CPU's write is never lost; every frame and device page comes back at the end.",
  setup: setupWorld(3, false),
  tasks: {
    async migrate(w: DeviceMemoryWorld) {
      w.bufs.migrate = new Uint8Array(w.size);
      w.results.migrate = await w.m0.migrateToDev(w.addr, PAGES, w.bufs.migrate);
      await finish(w);
    },
    async write(w: DeviceMemoryWorld) {
      w.cpu.write = await cpu(async () => {
        await w.mm.write32(w.addr + 4, WRITTEN);
        return WRITTEN;
      });
      await finish(w);
    },
    async read(w: DeviceMemoryWorld) {
      w.bufs.read = new Uint8Array(w.size);
      w.results.read = await w.m1.read(w.addr, PAGES, w.bufs.read);
      await finish(w);
    },
  },
  check(w: DeviceMemoryWorld, k: Kernel) {
    const mig = w.results.migrate;
    if (mig === undefined || (mig.ret !== 0 && mig.ret !== -ENOENT)) {
      throw new Error(`MIGRATE_TO_DEV returned ${mig?.ret}, not 0 or -ENOENT`);
    }
    if (mig.ret === 0) {
      if (mig.cpages !== PAGES) throw new Error(`MIGRATE_TO_DEV: cpages ${mig.cpages}`);
      expectData(words(w.bufs.migrate as Uint8Array), [1, WRITTEN], "the migration's read-back");
    }
    const rd = w.results.read;
    if (rd === undefined || rd.ret !== 0 || rd.cpages !== PAGES || rd.faults < 1) {
      throw new Error(`device 1's READ returned ${JSON.stringify(rd)}`);
    }
    expectData(words(w.bufs.read as Uint8Array), [1, WRITTEN], "device 1's READ");
    if (w.cpu.write !== WRITTEN) throw new Error(`the CPU write faulted: ${w.cpu.write}`);
    expectData(w.final as Int32Array, [WRITTEN], "memory at the end");
    return expectClean(k, w);
  },
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const faultBackVsMunmap = defineScenario({
  name: "hmm/fault-back-vs-munmap",
  description:
    "2 pages live in device 0's private memory; the CPU reads page 0 (faulting it back through migrate_to_ram) " +
    "while the range is unmapped. Legal: the read returns the data, or faults (SIGSEGV) when the unmap came " +
    "first; no device keeps a translation of an unmapped or freed page, and every device page is freed by " +
    "the unmap or by the fault-back.",
  setup: setupWorld(2, true),
  tasks: {
    async read(w: DeviceMemoryWorld) {
      w.cpu.read = await cpu(async () => w.mm.read32(w.addr + 8));
      await finish(w);
    },
    async munmap(w: DeviceMemoryWorld) {
      await w.mm.munmap(w.addr, w.size);
      await finish(w);
    },
  },
  check(w: DeviceMemoryWorld, k: Kernel) {
    if (w.cpu.read !== 2 && w.cpu.read !== "EFAULT") {
      throw new Error(`the CPU read ${String(w.cpu.read)}, not 2 or a fault`);
    }
    return expectClean(k, w);
  },
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const exclusiveVsFork = defineScenario({
  name: "hmm/exclusive-vs-fork",
  description:
    "Device 0 takes exclusive access to 2 pages (EXCLUSIVE) while the process forks and the child reads page 0 " +
    "and writes page 1. Legal: EXCLUSIVE returns 0 with the data, or -ENOENT when the fork's invalidation " +
    "erased the atomic translations before EXCLUSIVE read them back; the child sees the data and its write stays " +
    "its own; fork restores the parent's device-exclusive entries, so the device keeps no atomic translation " +
    "of a page the CPU can reach (CHECK_EXCLUSIVE at the end is 0 when fork came last, -EPERM when it came " +
    "first); every frame comes back.",
  setup: setupWorld(2, false),
  tasks: {
    async exclusive(w: DeviceMemoryWorld) {
      w.bufs.exclusive = new Uint8Array(w.size);
      w.results.exclusive = await w.m0.exclusive(w.addr, PAGES, w.bufs.exclusive);
      await finish(w);
    },
    async fork(w: DeviceMemoryWorld, k: Kernel) {
      const child = await w.mm.fork({ name: "child" });
      w.cpu.child = await cpu(async () => child.read32(w.addr + 4));
      await child.write32(w.addr + k.pageSize, WRITTEN);
      w.cpu.childWrote = await child.read32(w.addr + k.pageSize);
      await child.exit();
      await finish(w);
    },
  },
  check(w: DeviceMemoryWorld, k: Kernel) {
    const ex = w.results.exclusive;
    if (ex === undefined || (ex.ret !== -ENOENT && (ex.ret !== 0 || ex.cpages !== PAGES))) {
      throw new Error(`EXCLUSIVE returned ${JSON.stringify(ex)}`);
    }
    if (ex.ret === 0) expectData(words(w.bufs.exclusive as Uint8Array), [1], "EXCLUSIVE's read-back");
    if (w.cpu.child !== 1 || w.cpu.childWrote !== WRITTEN) {
      throw new Error(`the child read ${String(w.cpu.child)} and ${String(w.cpu.childWrote)}`);
    }
    expectData(w.final as Int32Array, [1], "the parent's memory at the end");
    if (w.exclusiveLeft !== 0 && w.exclusiveLeft !== -EPERM) {
      throw new Error(`CHECK_EXCLUSIVE returned ${w.exclusiveLeft}`);
    }
    return expectClean(k, w);
  },
  expect: "pass",
  preemptionBound: 2,
  module,
});
