// Follows lib/test_hmm.c (dmirror_snapshot, dmirror_range_snapshot, dmirror_snapshot_invalidate,
// dmirror_mkentry): HMM_DMIRROR_SNAPSHOT reports, one byte per page, what hmmRangeFault sees of the
// CPU page table without faulting anything; the device page table is neither read nor changed.
//
// Each chunk of 32 pages gets its own short-lived interval notifier over exactly that chunk (the
// kernel's `struct dmirror_interval`), so the snapshot detects an invalidation of the chunk even
// though the mirror's own notifier, covering everything, sees every invalidation anyway. Its
// callback only takes the mutex around setSeq: any invalidation of the chunk makes the whole
// chunk's snapshot stale, and the loop takes it again.

import {
  HMM_PFN_ERROR,
  HMM_PFN_VALID,
  HMM_PFN_WRITE,
  type HmmRange,
  hmmPfnToMapOrder,
} from "../../hmm/hmm.js";
import { EFAULT, EINVAL } from "../../lib/errno.js";
import type { Mm } from "../../mm/mm.js";
import { PTRS_PER_TABLE } from "../../mm/pageTable.js";
import { ZERO_FRAME } from "../../mm/physMem.js";
import { MmuIntervalNotifier } from "../../notifier/intervalNotifier.js";
import type { MmuNotifierRange } from "../../notifier/range.js";
import { DMIRROR_CHUNK_PAGES, dmirrorRangeRetry } from "./fault.js";
import type { CmdOutputs, Dmirror } from "./mirror.js";
import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_PMD,
  HMM_DMIRROR_PROT_PUD,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
} from "./uapi.js";

/** The map order of a PMD mapping (2 MiB with 4 KiB pages) and of a PUD mapping. */
const PMD_ORDER = Math.log2(PTRS_PER_TABLE);
const PUD_ORDER = 2 * PMD_ORDER;

/**
 * `dmirror_snapshot()`: one HMM_DMIRROR_PROT_* byte per page of `[addr, addr + npages pages)` into
 * `buf`, a chunk of 32 pages at a time; `cpages` counts the bytes written. -EINVAL when the address
 * space is gone, -EFAULT when `buf` is too short, or a chunk's error.
 */
export async function dmirrorSnapshot(
  m: Dmirror,
  addr: number,
  npages: number,
  buf: Uint8Array | undefined,
  out: CmdOutputs,
): Promise<number> {
  const mm = m.mm;
  const ps = mm.kernel.pageSize;
  const end = addr + npages * ps;
  // Pairs with the mmput below.
  if (!mm.mmgetNotZero()) return -EINVAL;
  const perm = new Uint8Array(DMIRROR_CHUNK_PAGES);
  const range: HmmRange<Mm> = {
    notifier: m.notifier,
    notifierSeq: 0,
    start: addr,
    end: addr,
    pfns: new Uint32Array(DMIRROR_CHUNK_PAGES),
    flags: new Uint16Array(DMIRROR_CHUNK_PAGES),
    // No request bits at all: a pure snapshot, which never faults.
    defaultFlags: 0,
    pfnFlagsMask: 0,
    devPrivateOwner: m.device,
  };
  let ret = 0;
  try {
    for (let a = addr; a < end; a = range.end) {
      range.start = a;
      range.end = Math.min(a + DMIRROR_CHUNK_PAGES * ps, end);
      ret = await dmirrorRangeSnapshot(m, range, perm);
      if (ret !== 0) break;
      const n = (range.end - a) / ps;
      if (buf === undefined || buf.length < out.cpages + n) {
        ret = -EFAULT;
        break;
      }
      buf.set(perm.subarray(0, n), out.cpages);
      out.cpages += n;
    }
  } finally {
    const p = mm.mmput();
    if (p !== undefined) await p;
  }
  return ret;
}

/**
 * `dmirror_range_snapshot()`: the chunk's own notifier, the collision-retry loop without faulting
 * (on that notifier), then one byte per page under the mutex.
 */
async function dmirrorRangeSnapshot(m: Dmirror, range: HmmRange<Mm>, perm: Uint8Array): Promise<number> {
  const mm = m.mm;
  const k = mm.kernel;
  const notifier = new MmuIntervalNotifier<Mm>();
  // Pairs with the remove in the finally clause.
  const ins = notifier.insert(mm, range.start, range.end - range.start, {
    name: `${m.pt.name} snapshot`,
    invalidate: (sub, r, curSeq) => dmirrorSnapshotInvalidate(m, sub, r, curSeq),
  });
  if (ins !== undefined) await ins;
  range.notifier = notifier;
  try {
    const ret = await dmirrorRangeRetry(m, range);
    if (ret !== 0) return ret;
    const n = (range.end - range.start) / k.pageSize;
    for (let i = 0; i < n; i++)
      perm[i] = dmirrorMkentry(m, range.flags[i] as number, range.pfns[i] as number);
    m.mutex.unlock();
    return 0;
  } finally {
    const r = notifier.remove();
    if (r !== undefined) await r;
  }
}

/**
 * `dmirror_snapshot_invalidate()`: the chunk notifier's callback: setSeq under the mutex (trylock
 * when the range may not block), nothing else.
 */
function dmirrorSnapshotInvalidate(
  m: Dmirror,
  sub: MmuIntervalNotifier<Mm>,
  range: MmuNotifierRange,
  curSeq: number,
): boolean | Promise<boolean> {
  if (range.blockable) {
    const p = m.mutex.lock();
    if (p !== undefined) return p.then(() => setSeqLocked(m, sub, curSeq));
  } else if (!m.mutex.trylock()) {
    return false;
  }
  return setSeqLocked(m, sub, curSeq);
}

function setSeqLocked(m: Dmirror, sub: MmuIntervalNotifier<Mm>, curSeq: number): true {
  // Pairs with readRetry in dmirrorRangeRetry (on this notifier), under the same mutex.
  sub.setSeq(curSeq);
  m.mutex.unlock();
  return true;
}

/**
 * `dmirror_mkentry()`: the HMM_DMIRROR_PROT_* byte of one HMM result: ERROR, NONE (not valid), or
 * a base by page kind (this device's or another device's private or coherent page, the zero page, an
 * ordinary page) plus WRITE or READ, plus PMD or PUD for a huge mapping.
 */
export function dmirrorMkentry(m: Dmirror, flags: number, pfn: number): number {
  if (flags & HMM_PFN_ERROR) return HMM_DMIRROR_PROT_ERROR;
  if (!(flags & HMM_PFN_VALID)) return HMM_DMIRROR_PROT_NONE;
  let perm: number;
  const pagemap = m.mm.kernel.pagemapOf(pfn);
  if (pagemap !== undefined) {
    const local = pagemap.owner === m.device;
    if (pagemap.isPrivate)
      perm = local ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL : HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
    else perm = local ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL : HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
  } else if (pfn === ZERO_FRAME) {
    perm = HMM_DMIRROR_PROT_ZERO;
  } else {
    perm = HMM_DMIRROR_PROT_NONE;
  }
  perm |= flags & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
  const order = hmmPfnToMapOrder(flags);
  if (order === PMD_ORDER) perm |= HMM_DMIRROR_PROT_PMD;
  else if (order === PUD_ORDER) perm |= HMM_DMIRROR_PROT_PUD;
  return perm;
}
