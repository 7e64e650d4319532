// Follows lib/test_hmm.c (dmirror_read, dmirror_write, dmirror_do_read, dmirror_do_write): the
// device's reads and writes of the mirrored memory through its device page table, and the copy out
// of it that MIGRATE_TO_DEV and EXCLUSIVE end with.

import { EFAULT, ENOENT } from "../../lib/errno.js";
import { dmirrorFault } from "./fault.js";
import type { Cmd, CmdOutputs, Dmirror } from "./mirror.js";
import { HMM_DMIRROR_READ, HMM_DMIRROR_WRITE } from "./uapi.js";

/**
 * `dmirror_read()` and `dmirror_write()`: copies between the device's view of the range and a bounce
 * buffer, page by page under the mutex; at the first page the device page table cannot serve (READ:
 * not mapped; WRITE: not mapped writable), runs one fault round over the rest (WRITE: asking for
 * write access, so -EPERM in an area without PROT_WRITE) and copies again. `faults` counts the
 * rounds. WRITE takes `buf` first (-EFAULT if it is too short), and pages written before an error stay
 * written; READ gives `buf` the bounce buffer only on success (-EFAULT if it cannot hold it).
 */
export async function dmirrorCopy(m: Dmirror, c: Cmd, out: CmdOutputs, write: boolean): Promise<number> {
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
export function dmirrorDoCopy(
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
    // -ENOENT: not mapped (writable); a translation to a freed frame is reported (use-after-free).
    const f = pt.translate(mm, addr, write);
    if (f < 0) return f;
    if (write) k.physMem.write(f, 0, bounce, addr - base, ps);
    else k.physMem.read(f, 0, bounce, addr - base, ps);
    out.cpages++;
  }
  return 0;
}

/**
 * The read-back MIGRATE_TO_DEV and EXCLUSIVE end with (`dmirror_do_read` into a bounce buffer under
 * the mutex, then `copy_to_user` on success): the pages of `[c.addr, c.addr + npages pages)` as the
 * device maps them, into `c.buf`. Returns 0, -ENOENT at the first page the device does not map (`buf`
 * untouched, `cpages` counting the pages before it), or -EFAULT when `buf` cannot hold the range.
 * Under the mutex nothing changes the device page table, so the translations are looked up first and
 * the pages copied straight into `buf` only when all are there: what the bounce buffer guarantees,
 * without it.
 */
export async function dmirrorReadBack(m: Dmirror, c: Cmd, out: CmdOutputs): Promise<number> {
  const { mm, pt } = m;
  const k = mm.kernel;
  const ps = k.pageSize;
  const size = c.npages * ps;
  const frames = new Int32Array(c.npages);
  const l = m.mutex.lock();
  if (l !== undefined) await l;
  try {
    for (let i = 0; i < c.npages; i++) {
      // -ENOENT: not mapped; a translation to a freed frame is reported (use-after-free).
      const f = pt.translate(mm, c.addr + i * ps, false);
      if (f < 0) return f;
      frames[i] = f;
      out.cpages++;
    }
    if (c.buf === undefined || c.buf.length < size) return -EFAULT;
    for (let i = 0; i < c.npages; i++) k.physMem.read(frames[i] as number, 0, c.buf, i * ps, ps);
  } finally {
    m.mutex.unlock();
  }
  return 0;
}
