// Follows mm/gup_test.c (gup_test_ioctl, __gup_test_ioctl, put_back_pages, verify_dma_pinned): the
// debugfs file /sys/kernel/debug/gup_test that hmm-tests.c's hmm_gup_test drives. Each command takes
// references on (GUP) or pins the pages of a range, `nrPagesPerCall` at a time, through one of the
// GUP entry points (hmm/gup.ts), checks what it pinned, and drops them all again. What remains is the
// side effect the test looks at: the pages the walk faulted back to RAM, or migrated there for a
// long-term pin, stay there.

import {
  FOLL_LONGTERM,
  getUserPages,
  getUserPagesFast,
  longtermPinnable,
  pinUserPages,
} from "../../../hmm/gup.js";
import { EINVAL } from "../../../lib/errno.js";
import type { Mm } from "../../../mm/mm.js";

/** `GUP_FAST_BENCHMARK`: get_user_pages_fast. */
export const GUP_FAST_BENCHMARK = 1;
/** `PIN_FAST_BENCHMARK`: pin_user_pages_fast. */
export const PIN_FAST_BENCHMARK = 2;
/** `PIN_LONGTERM_BENCHMARK`: pin_user_pages with FOLL_LONGTERM, under the mmap lock. */
export const PIN_LONGTERM_BENCHMARK = 3;
/** `GUP_BASIC_TEST`: get_user_pages, under the mmap lock. */
export const GUP_BASIC_TEST = 4;
/** `PIN_BASIC_TEST`: pin_user_pages, under the mmap lock. */
export const PIN_BASIC_TEST = 5;

/** `struct gup_test` (the fields the commands above use). */
export interface GupTest {
  addr: number;
  /** Bytes; on return, the bytes the walk covered. */
  size: number;
  nrPagesPerCall: number;
  gupFlags: number;
}

/**
 * `ioctl(gup_fd, cmd, &gup)` from the process of `mm`: 0, or -EINVAL for an unknown command or a
 * zero `nrPagesPerCall`. As the module, a GUP failure only ends the walk early (`gup.size` says how
 * far it went), and a pin that is not what it must be is a kernel warning.
 */
export async function gupTestIoctl(mm: Mm, cmd: number, gup: GupTest): Promise<number> {
  const k = mm.kernel;
  const ps = k.pageSize;
  if (cmd < GUP_FAST_BENCHMARK || cmd > PIN_BASIC_TEST || !(gup.nrPagesPerCall > 0)) return -EINVAL;
  const fast = cmd === GUP_FAST_BENCHMARK || cmd === PIN_FAST_BENCHMARK;
  if (!fast) {
    const l = mm.mmapLock.downRead();
    if (l !== undefined) await l;
  }
  const all: number[] = [];
  const end = gup.addr + gup.size;
  let addr = gup.addr;
  try {
    let nr = gup.nrPagesPerCall;
    while (addr < end && nr === gup.nrPagesPerCall) {
      let next = addr + nr * ps;
      if (next > end) {
        next = end;
        nr = Math.floor((next - addr) / ps);
      }
      const pages: number[] = [];
      switch (cmd) {
        case GUP_FAST_BENCHMARK:
          nr = await getUserPagesFast(mm, addr, nr, gup.gupFlags, pages);
          break;
        case PIN_FAST_BENCHMARK:
          nr = await getUserPagesFast(mm, addr, nr, gup.gupFlags, pages, true);
          break;
        case PIN_LONGTERM_BENCHMARK:
          nr = await pinUserPages(mm, addr, nr, gup.gupFlags | FOLL_LONGTERM, pages);
          break;
        case GUP_BASIC_TEST:
          nr = await getUserPages(mm, addr, nr, gup.gupFlags, pages);
          break;
        default:
          nr = await pinUserPages(mm, addr, nr, gup.gupFlags, pages);
      }
      all.push(...pages);
      if (nr <= 0) break;
      addr = next;
    }
    gup.size = addr - gup.addr;
    // verify_dma_pinned: a long-term pin must hold only long-term pinnable pages.
    if (cmd === PIN_LONGTERM_BENCHMARK || gup.gupFlags & FOLL_LONGTERM) {
      for (const [i, p] of all.entries()) {
        if (!longtermPinnable(k, p)) {
          k.warn(`gup_test: pages[${i}] (${k.physMem.describe(p)}) is NOT pinnable but pinned`);
        }
      }
    }
  } finally {
    // put_back_pages: put_page or unpin_user_pages (a pin is a reference here).
    for (const p of all) k.physMem.put(p);
    if (!fast) mm.mmapLock.upRead();
  }
  return 0;
}
