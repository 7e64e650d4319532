// The dmirror device's READ (lib/test_hmm.c: the copy loop, fault rounds through hmmRangeFault, the
// collision-retry under the driver mutex) racing what the mm does to the same range: munmap,
// mprotect, fork, reclaim and MADV_DONTNEED, and the kernel's own anon_teardown (hmm-tests.c: READ of
// a buffer while another thread unmaps its second half).
//
// Oracles: the coherence oracle watches the mirror's device page table at every CPU PTE change
// (stale-mapping: the device still maps the old frame, or writes where the CPU may not), the
// deadlock detector and lockdep run on every schedule, and each scenario's `check` accepts only the
// outcomes Linux allows: success with the right data and the kernel's counters, or the error the
// race may legitimately cause (-EFAULT when the range went away), nothing else.

import { DmirrorDevice } from "../../drivers/dmirror/device.js";
import type { Dmirror } from "../../drivers/dmirror/mirror.js";
import type { DmirrorResult } from "../../drivers/dmirror/uapi.js";
import { defineScenario } from "../../explore/scenario.js";
import { EFAULT } from "../../lib/errno.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../mm/vma.js";

/**
 * A process with `pages` pages, the first `written` holding pattern i (word k = k) and the rest never
 * touched (they read as zeroes: a device READ faults them in), mirrored by one dmirror device.
 */
export interface DmirrorReadWorld {
  mm: Mm;
  mirror: Dmirror;
  addr: number;
  pages: number;
  written: number;
  size: number;
  /** The READ's user buffer. */
  buf: Uint8Array;
  /** What the READ returned (undefined until it did). */
  result: DmirrorResult | undefined;
}

/** The setup of a DmirrorReadWorld of `pages` pages, `written` of them written. */
export function dmirrorReadWorld(
  pages: number,
  written: number,
): (kernel: Kernel) => Promise<DmirrorReadWorld> {
  return async (kernel) => {
    const mm = kernel.createMm({ name: "proc" });
    const mirror = await new DmirrorDevice(kernel, { memory: "private" }).open(mm);
    const ps = kernel.pageSize;
    const size = pages * ps;
    const addr = await mm.mmap({ length: size, prot: PROT_READ | PROT_WRITE });
    const w = new Int32Array((written * ps) / 4);
    for (let i = 0; i < w.length; i++) w[i] = i;
    await mm.write(addr, new Uint8Array(w.buffer));
    return { mm, mirror, addr, pages, written, size, buf: new Uint8Array(size), result: undefined };
  };
}

/** The device task: one READ of the whole range. */
export async function read(w: DmirrorReadWorld): Promise<void> {
  w.result = await w.mirror.read(w.addr, w.pages, w.buf);
}

/**
 * Throws unless page `p` of the READ's buffer holds what the page held: pattern i for a written page
 * (or zeroes, when `zeroOk`: it was zapped), zeroes for an untouched one.
 */
function checkPage(w: DmirrorReadWorld, p: number, zeroOk: boolean): void {
  const words = new Int32Array(w.buf.buffer);
  const per = w.size / w.pages / 4;
  let pattern = true;
  let zero = true;
  for (let k = p * per; k < (p + 1) * per; k++) {
    if (words[k] !== k) pattern = false;
    if (words[k] !== 0) zero = false;
  }
  if (p >= w.written) {
    if (!zero) throw new Error(`READ returned 0 but page ${p}, never written, does not read as zeroes`);
  } else if (!pattern && !(zeroOk && zero)) {
    throw new Error(`READ returned 0 but page ${p} holds neither the pattern${zeroOk ? " nor zeroes" : ""}`);
  }
}

/**
 * The legal outcomes: `{ ret: 0, cpages: pages }` with a number of fault rounds in `faults` and the
 * data `checkPage` accepts, or one of `errors`.
 */
export function legal(faults: readonly number[], errors: readonly number[], zeroOk = false) {
  return (w: DmirrorReadWorld): boolean => {
    const r = w.result;
    if (r === undefined) throw new Error("the READ did not return");
    if (r.ret !== 0) {
      if (!errors.includes(r.ret))
        throw new Error(`READ returned ${r.ret}, not one of 0, ${errors.join(", ")}`);
      return true;
    }
    if (r.cpages !== w.pages) throw new Error(`READ returned 0 with cpages ${r.cpages}, not ${w.pages}`);
    if (!faults.includes(r.faults)) {
      throw new Error(`READ returned 0 after ${r.faults} fault round(s), not ${faults.join(" or ")}`);
    }
    for (let p = 0; p < w.pages; p++) checkPage(w, p, zeroOk);
    return true;
  };
}

/** The read-vs-X scenarios: 4 pages (one chunk of the fault path), 2 written and 2 faulted by the READ. */
const PAGES = 4;
const WRITTEN = 2;
const module = import.meta.url;

export const readVsMunmap = defineScenario({
  name: "hmm/read-vs-munmap",
  description:
    "A dmirror READ of 4 pages races munmap of the same 4 pages: the READ returns 0 with the data after one " +
    "fault round, or -EFAULT; the device never keeps a translation of an unmapped page.",
  setup: dmirrorReadWorld(PAGES, WRITTEN),
  tasks: {
    read,
    munmap: async (w: DmirrorReadWorld) => {
      await w.mm.munmap(w.addr, w.size);
    },
  },
  check: legal([1], [-EFAULT]),
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const readVsMprotect = defineScenario({
  name: "hmm/read-vs-mprotect",
  description:
    "A dmirror READ of 4 writable pages (HMM reports them writable, so the device maps them writable) races " +
    "mprotect(PROT_READ): the READ always returns 0 with the data (a second fault round when the mprotect " +
    "erased the mirror after the first), and no writable device translation outlives the write protection.",
  setup: dmirrorReadWorld(PAGES, WRITTEN),
  tasks: {
    read,
    mprotect: async (w: DmirrorReadWorld) => {
      await w.mm.mprotect(w.addr, w.size, PROT_READ);
    },
  },
  check: legal([1, 2], []),
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const readVsFork = defineScenario({
  name: "hmm/read-vs-fork",
  description:
    "A dmirror READ of 4 pages races fork() (which write-protects the parent's pages for copy on write) and " +
    "the child's exit: the READ returns 0 with the data, and the device keeps no writable translation of a " +
    "page the parent's PTE maps read-only.",
  setup: dmirrorReadWorld(PAGES, WRITTEN),
  tasks: {
    read,
    fork: async (w: DmirrorReadWorld) => {
      const child = await w.mm.fork({ name: "child" });
      await child.exit();
    },
  },
  check: legal([1, 2], []),
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const readVsReclaim = defineScenario({
  name: "hmm/read-vs-reclaim",
  description:
    "A dmirror READ of 4 pages races reclaim swapping the same pages out (a CLEAR invalidation per page, no " +
    "mmap lock): the READ returns 0 with the data, faulting pages back from swap when it must (each " +
    "invalidation landing after a fault round costs another round: up to 5).",
  setup: dmirrorReadWorld(PAGES, WRITTEN),
  tasks: {
    read,
    reclaim: async (w: DmirrorReadWorld) => {
      await w.mm.reclaim(w.addr, w.size);
    },
  },
  check: legal([1, 2, 3, 4, 5], []),
  expect: "pass",
  preemptionBound: 2,
  module,
});

export const readVsDontneed = defineScenario({
  name: "hmm/read-vs-dontneed",
  description:
    "A dmirror READ of 4 pages races madvise(MADV_DONTNEED) of them: the READ returns 0, each page holding " +
    "either the data (read before the zap) or zeroes (faulted after it); never a freed page's contents.",
  setup: dmirrorReadWorld(PAGES, WRITTEN),
  tasks: {
    read,
    dontneed: async (w: DmirrorReadWorld) => {
      await w.mm.madvise(w.addr, w.size, "dontneed");
    },
  },
  check: legal([1, 2], [], true),
  expect: "pass",
  preemptionBound: 2,
  module,
});

/** Pages of anon_teardown: two chunks of the fault path, so the unmap can land between them. */
const TEARDOWN_PAGES = 64;

export const anonTeardown = defineScenario({
  name: "hmm/anon-teardown",
  description:
    "hmm-tests.c anon_teardown: a dmirror READ of a 64-page buffer (two fault chunks) while another thread " +
    "unmaps its second half. The READ returns 0 with cpages 64, one fault round and all the data, or -EFAULT; " +
    "nothing else, and no stale device translation.",
  setup: dmirrorReadWorld(TEARDOWN_PAGES, TEARDOWN_PAGES),
  tasks: {
    read,
    unmap_buffer: async (w: DmirrorReadWorld) => {
      await w.mm.munmap(w.addr + w.size / 2, w.size / 2);
    },
  },
  check: legal([1], [-EFAULT]),
  expect: "pass",
  preemptionBound: 2,
  module,
});
