// The portable conformance suite of kernel-tests.md §4, groups A-D: argument handling (A), device
// reads and writes through hmmRangeFault (B), invalidation and the notifier protocol (C), SNAPSHOT
// (D); groups E-G (device memory) are in conformanceDevice.ts. Cases that need what the simulation
// does not have (D6 mmap of the device file, D7 huge pages) are listed with the reason. N = 1024 pages of 4 KiB; "pattern i" is word k
// holding k. Counters (cpages, faults) are checked only on success, and nothing depends on whether
// the page just past an invalidated range was dropped too.
//
// H1 and H2 are the mirror's hooks (mirror.ts, DmirrorHooks): H1 after hmmRangeFault returned for a
// chunk, before the mutex and readRetry; H2 after a fault round committed, before READ copies again.

import { EAGAIN, EFAULT, EINVAL, EPERM, MmunError } from "../../../lib/errno.js";
import type { Mm } from "../../../mm/mm.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../../mm/vma.js";
import { MmuIntervalNotifier } from "../../../notifier/intervalNotifier.js";
import { ADDRESS_SPACE_END, MmuNotifierEvent, mmuNotifierRangeInit } from "../../../notifier/range.js";
import type { Dmirror } from "../mirror.js";
import {
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_SNAPSHOT,
  HMM_DMIRROR_WRITE,
} from "../uapi.js";
import {
  assertEq,
  assertWords,
  fillWords,
  type HmmBuffer,
  hmmBuffer,
  hmmDmirrorCmd,
  loadWords,
  type Self,
  type SelftestCase,
  type SelftestInstance,
  storeWords,
  type Variant,
  words,
} from "./harness.js";

/** Pages of a "full" buffer (kernel-tests.md §4 conventions). */
export const N = 1024;
const RW = PROT_READ | PROT_WRITE;

/** The variants conformance cases run on: one device-private device, or two. */
export const ONE: Variant = { fixture: "hmm", name: "conformance", devices: [0] };
export const TWO: Variant = { fixture: "hmm2", name: "conformance", devices: [0, 1] };

/** An anonymous mapping of `pages` pages (pattern i when `pattern`), with a mirror as large. */
export async function anon(self: Self, pages: number, pattern = true, prot = RW): Promise<HmmBuffer> {
  const size = pages * self.pageSize;
  const ptr = await self.mm.mmap({ length: size, prot: RW });
  if (pattern) await storeWords(self.mm, ptr, size / 4, (i) => i);
  if (prot !== RW) await self.mm.mprotect(ptr, size, prot);
  return hmmBuffer(ptr, size);
}

/** Runs `cmd` and checks `ret`, and on success `cpages` and `faults`. */
export async function expectCmd(
  fd: Dmirror,
  cmd: number,
  b: HmmBuffer,
  npages: number,
  ret: number,
  cpages?: number,
  faults?: number,
): Promise<void> {
  assertEq(await hmmDmirrorCmd(fd, cmd, b, npages), ret, "ret");
  if (ret !== 0) return;
  if (cpages !== undefined) assertEq(b.cpages, cpages, "cpages");
  if (faults !== undefined) assertEq(b.faults, faults, "faults");
}

/** Runs `fn` once, at the first call of a hook, then never again. */
function once<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> | undefined {
  let done = false;
  return (...args) => {
    if (done) return undefined;
    done = true;
    return fn(...args);
  };
}

/** An interval notifier on `mm` over `[start, start + length)` that records its callbacks. */
async function recorder(
  mm: Mm,
  start: number,
  length: number,
): Promise<{ sub: MmuIntervalNotifier<Mm>; seqs: number[] }> {
  const seqs: number[] = [];
  const sub = await MmuIntervalNotifier.insert(mm, start, length, {
    name: "recorder",
    invalidate(s, _range, cur) {
      seqs.push(cur);
      s.setSeq(cur);
      return true;
    },
  });
  return { sub, seqs };
}

/** invalidateRangeStart then End over `[start, end)` of `mm` (an mm change that moved no PTE). */
async function invalidate(mm: Mm, start: number, end: number): Promise<void> {
  const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, mm, start, end);
  await mm.notifiers.invalidateRangeStart(range);
  await mm.notifiers.invalidateRangeEnd(range);
}

/** Yields `n` scheduling points (lets other tasks run under any schedule). */
async function settle(self: Self, n = 16): Promise<void> {
  for (let i = 0; i < n; i++) await self.kernel.point("settle");
}

/** A SNAPSHOT of `pages` pages at `ptr`: the bytes. */
export async function snapshot(fd: Dmirror, ptr: number, pages: number): Promise<number[]> {
  const b = hmmBuffer(ptr, 0, pages);
  await expectCmd(fd, HMM_DMIRROR_SNAPSHOT, b, pages, 0, pages);
  return [...b.mirror];
}

/** One conformance case: its id in kernel-tests.md §4, a name, its variant, and a body or why not. */
export interface ConformanceCase {
  id: string;
  name: string;
  variant: Variant;
  body?: (self: Self) => Promise<void>;
  skip?: string;
}

export const c = (
  id: string,
  name: string,
  variant: Variant,
  body: (self: Self) => Promise<void>,
): ConformanceCase => ({ id, name, variant, body });

const cases = [
  // ---- A. Argument handling ----
  c("A1", "open_close_leaves_no_callback", ONE, async (self) => {
    const m = await self.open(1);
    let calls = 0;
    m.hooks.onInvalidate = () => {
      calls++;
    };
    const b = await anon(self, 4);
    await self.mm.munmap(b.ptr, b.size);
    assertEq(calls > 0, true, "callbacks while open");
    await m.close();
    calls = 0;
    const b2 = await anon(self, 4);
    await self.mm.munmap(b2.ptr, b2.size);
    assertEq(calls, 0, "callbacks after close");
  }),
  c("A2", "read_npages_zero_or_wrapping", ONE, async (self) => {
    const b = await anon(self, 4);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, 0, -EINVAL);
    const top = hmmBuffer(ADDRESS_SPACE_END - 2 * self.pageSize, 0, 0);
    await expectCmd(self.fd, HMM_DMIRROR_READ, top, 2, -EINVAL);
  }),
  c("A3", "read_unaligned", ONE, async (self) => {
    const b = await anon(self, 4);
    await expectCmd(self.fd, HMM_DMIRROR_READ, { ...b, ptr: b.ptr + 8 }, 1, -EINVAL);
  }),
  c("A4", "unknown_command", ONE, async (self) => {
    const b = await anon(self, 4);
    await expectCmd(self.fd, 0x42, b, 4, -EINVAL);
  }),

  // ---- B. Device read/write through hmmRangeFault ----
  c("B1", "read_empty_zero_and_present", ONE, async (self) => {
    const ps = self.pageSize;
    const b = await anon(self, N, false);
    await storeWords(self.mm, b.ptr + 2 * ps, (b.size - 2 * ps) / 4, (i) => i + (2 * ps) / 4);
    await self.mm.mprotect(b.ptr, b.size, PROT_READ);
    assertEq(await self.mm.read32(b.ptr + ps), 0, "page 1");
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), (i) => (i < (2 * ps) / 4 ? 0 : i), "mirror");
  }),
  c("B2", "read_prot_none_is_efault", ONE, async (self) => {
    const b = await anon(self, N);
    fillWords(b.mirror, (i) => -i);
    await self.mm.mprotect(b.ptr, b.size, PROT_NONE);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, -EFAULT);
    await self.mm.mprotect(b.ptr, b.size, PROT_READ);
    assertWords(words(b.mirror), (i) => -i, "mirror untouched");
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => i, "memory");
  }),
  c("B3", "write_untouched", ONE, async (self) => {
    const b = await anon(self, N, false);
    fillWords(b.mirror, (i) => i);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, 0, N, 1);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => i, "memory");
  }),
  c("B4", "write_read_only_is_eperm", ONE, async (self) => {
    const b = await anon(self, N, false, PROT_READ);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, 1, 0, 1, 1);
    fillWords(b.mirror, (i) => i);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, -EPERM);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), () => 0, "memory");
    await self.mm.mprotect(b.ptr, b.size, RW);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, 0, N, 1);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => i, "memory");
  }),
  c("B5", "read_fresh_mappings", ONE, async (self) => {
    for (let round = 0; round < 10; round++) {
      const size = N * self.pageSize;
      const b = hmmBuffer(await self.mm.mmap({ length: size, prot: RW }), size);
      await storeWords(self.mm, b.ptr, size / 4, (i) => i + round);
      await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
      assertWords(words(b.mirror), (i) => i + round, `round ${round}`);
      await self.mm.munmap(b.ptr, size);
    }
  }),
  c("B6", "read_again_needs_no_fault_until_invalidated", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 0);
    await self.mm.mprotect(b.ptr, b.size, PROT_READ);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), (i) => i, "mirror");
  }),
  c("B7", "read_sees_cpu_store_to_the_same_page", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await self.mm.write32(b.ptr, 777);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, 1, 0, 1, 0);
    assertEq(words(b.mirror)[0], 777, "word 0");
  }),
  c("B8", "read_after_munmap_is_efault", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await self.mm.munmap(b.ptr, b.size);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, -EFAULT);
  }),
  c("B9", "read_after_mmap_fixed_sees_zeroes", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await self.mm.mmap({ addr: b.ptr, length: b.size, prot: RW, fixed: true });
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), () => 0, "mirror");
  }),
  c("B10", "read_over_a_hole_is_efault", ONE, async (self) => {
    const b = await anon(self, 2 * N);
    await self.mm.munmap(b.ptr + b.size / 2, b.size / 2);
    b.mirror.fill(0x5a);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, 2 * N, -EFAULT);
    assertEq(
      b.mirror.every((x) => x === 0x5a),
      true,
      "mirror untouched",
    );
  }),
  c("B11", "write_after_read_needs_no_fault", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    fillWords(b.mirror, (i) => -i);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, 0, N, 0);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => -i, "memory");
  }),
  c("B12", "write_after_zero_page_read_is_one_fault_round", ONE, async (self) => {
    const b = await anon(self, N, false);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), () => 0, "mirror");
    fillWords(b.mirror, (i) => i);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, 0, N, 1);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => i, "memory");
  }),
  c("B13", "read_after_dontneed_sees_zeroes", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await self.mm.madvise(b.ptr, b.size, "dontneed");
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), () => 0, "mirror");
  }),

  // ---- C. Invalidation, concurrency, the notifier protocol ----
  c("C1", "teardown_interleavings", ONE, async (self) => {
    const half = (b: HmmBuffer) => self.mm.munmap(b.ptr + b.size / 2, b.size / 2);
    // (a) the unmap before the READ.
    let b = await anon(self, N);
    await half(b);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, -EFAULT);
    // (b) after it: the READ saw everything.
    b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, 0, N, 1);
    assertWords(words(b.mirror), (i) => i, "(b) mirror");
    await half(b);
    // (c) at H1 of the first chunk of the first fault round.
    b = await anon(self, N);
    const bc = b;
    self.fd.hooks = { afterRangeFault: once(() => half(bc)) };
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, -EFAULT);
    // (d) at H2, after the first fault round committed every page.
    b = await anon(self, N);
    const bd = b;
    self.fd.hooks = { afterFaultRound: once(() => half(bd)) };
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, N, -EFAULT);
    self.fd.hooks = {};
  }),
  c("C2", "mprotect_read_during_a_write_fault_is_eperm", ONE, async (self) => {
    const b = await anon(self, N, false);
    fillWords(b.mirror, (i) => i + 1);
    self.fd.hooks = { afterRangeFault: once(() => self.mm.mprotect(b.ptr, b.size, PROT_READ)) };
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, -EPERM);
    self.fd.hooks = {};
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), () => 0, "memory unchanged");
  }),
  c("C3", "two_devices_both_drop_an_unmapped_range", TWO, async (self) => {
    const fd1 = self.fd1 as Dmirror;
    const b = await anon(self, N);
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, N, 0, N, 1);
    await expectCmd(fd1, HMM_DMIRROR_READ, b, N, 0, N, 1);
    const unmaps = [0, 0];
    [self.fd0, fd1].forEach((fd, i) => {
      fd.hooks.onInvalidate = (_m, r) => {
        if (r.event === MmuNotifierEvent.UNMAP && r.start < b.ptr + b.size && r.end > b.ptr)
          unmaps[i] = (unmaps[i] as number) + 1;
      };
    });
    await self.mm.munmap(b.ptr, b.size);
    assertEq((unmaps[0] as number) >= 1 && (unmaps[1] as number) >= 1, true, `UNMAP callbacks ${unmaps}`);
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, N, -EFAULT);
    await expectCmd(fd1, HMM_DMIRROR_READ, b, N, -EFAULT);
  }),
  c("C4", "read_retry_sees_exactly_the_overlapping_invalidations", ONE, async (self) => {
    const A = 0x10000000;
    const L = 0x4000;
    const { sub, seqs } = await recorder(self.mm, A, L);
    let s = await sub.readBegin();
    assertEq(sub.readRetry(s), false, "(i) no invalidation");
    await invalidate(self.mm, A + L - 1, A + L);
    assertEq(seqs.length === 1 && (seqs[0] as number) % 2 === 1, true, `(ii) one odd curSeq, got ${seqs}`);
    assertEq(sub.readRetry(s), true, "(ii) readRetry");
    s = await sub.readBegin();
    await invalidate(self.mm, A + L, A + 2 * L);
    await invalidate(self.mm, A - L, A);
    assertEq(seqs.length, 1, "(iii), (iv) callbacks");
    assertEq(sub.readRetry(s), false, "(iii), (iv) readRetry");
    await sub.remove();
  }),
  c("C5", "insert_during_an_invalidation_is_deferred", ONE, async (self) => {
    const A = 0x20000000;
    const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, self.mm, A, A + 0x1000);
    await self.mm.notifiers.invalidateRangeStart(range);
    const { sub, seqs } = await recorder(self.mm, A, 0x1000);
    let begun = false;
    const join = self.thread("reader", async () => {
      await sub.readBegin();
      begun = true;
    });
    await settle(self);
    assertEq(begun, false, "readBegin returned before the invalidation ended");
    await self.mm.notifiers.invalidateRangeEnd(range);
    await join();
    assertEq(begun, true, "readBegin after the end");
    await invalidate(self.mm, A, A + 0x1000);
    assertEq(seqs.length, 1, "later invalidations reach it");
    await sub.remove();
  }),
  c("C6", "remove_during_an_invalidation_waits_for_its_end", ONE, async (self) => {
    const A = 0x30000000;
    const { sub, seqs } = await recorder(self.mm, A, 0x1000);
    const range = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, self.mm, A, A + 0x1000);
    await self.mm.notifiers.invalidateRangeStart(range);
    assertEq(seqs.length, 1, "the callback ran");
    let removed = false;
    const join = self.thread("remover", async () => {
      await sub.remove();
      removed = true;
    });
    await settle(self);
    assertEq(removed, false, "remove returned before the invalidation ended");
    await self.mm.notifiers.invalidateRangeEnd(range);
    await join();
    await invalidate(self.mm, A, A + 0x1000);
    assertEq(seqs.length, 1, "no callback after remove returned");
  }),
  c("C7", "nested_invalidations_keep_the_sequence_odd", ONE, async (self) => {
    const r1 = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, self.mm, 0x40000000, 0x40002000);
    const r2 = mmuNotifierRangeInit(MmuNotifierEvent.CLEAR, self.mm, 0x40001000, 0x40003000);
    const st = () => self.mm.notifiers.state();
    await self.mm.notifiers.invalidateRangeStart(r1);
    await self.mm.notifiers.invalidateRangeStart(r2);
    await self.mm.notifiers.invalidateRangeEnd(r1);
    assertEq(st().invalidateSeq % 2, 1, "seq after the first end");
    let begun = false;
    const join = self.thread("reader", async () => {
      await self.fd.notifier.readBegin();
      begun = true;
    });
    await settle(self);
    assertEq(begun, false, "readBegin returned while an invalidation runs");
    await self.mm.notifiers.invalidateRangeEnd(r2);
    assertEq(st().invalidateSeq % 2, 0, "seq after the second end");
    await join();
  }),
  c("C8", "nonblocking_invalidation_while_the_driver_holds_its_lock", ONE, async (self) => {
    const k = self.kernel;
    const held = k.completion("held");
    const release = k.completion("release");
    const join = self.thread("driver", async () => {
      await self.fd.mutex.lock();
      held.complete();
      await release.wait();
      self.fd.mutex.unlock();
    });
    await held.wait();
    let calls = 0;
    self.fd.hooks.onInvalidate = () => {
      calls++;
    };
    const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, self.mm, 0x50000000, 0x50001000);
    assertEq(await self.mm.notifiers.invalidateRangeStartNonblock(range), -EAGAIN, "start_nonblock");
    assertEq(calls, 1, "the callback ran (and answered false)");
    release.complete();
    await join();
    const st = self.mm.notifiers.state();
    assertEq(st.activeInvalidateRanges, 0, "active ranges after -EAGAIN");
    assertEq(st.invalidateSeq % 2, 0, "seq after -EAGAIN");
  }),
  c("C9", "exit_releases_every_mirror_once", TWO, async (self) => {
    const mm = self.kernel.createMm({ name: "exiting" });
    const mirrors = [await self.devices[0]?.open(mm), await self.devices[1]?.open(mm)] as Dmirror[];
    const releases: string[][] = [[], []];
    const size = N * self.pageSize;
    const ptr = await mm.mmap({ length: size, prot: RW });
    await storeWords(mm, ptr, size / 4, (i) => i);
    for (const [i, m] of mirrors.entries()) {
      await expectCmd(m, HMM_DMIRROR_READ, hmmBuffer(ptr, size), N, 0, N, 1);
      m.hooks.onInvalidate = (_m, r) => {
        if (r.event === MmuNotifierEvent.RELEASE) releases[i]?.push(`${r.start}-${r.end} ${r.blockable}`);
      };
    }
    await mm.exit();
    for (const [i, m] of mirrors.entries()) {
      assertEq(releases[i]?.join(), `0-${ADDRESS_SPACE_END} true`, `mirror ${i} RELEASE callbacks`);
      assertEq(m.pt.size, 0, `mirror ${i} device page table`);
      await m.close();
    }
  }),
  c("C10", "insert_empty_or_overflowing_is_eoverflow", ONE, async (self) => {
    const ops = { invalidate: () => true };
    for (const [start, length] of [
      [0x1000, 0],
      [ADDRESS_SPACE_END - 0x1000, 0x2000],
    ] as const) {
      let code: string | undefined;
      try {
        await MmuIntervalNotifier.insert(self.mm, start, length, ops);
      } catch (e) {
        code = e instanceof MmunError ? e.code : String(e);
      }
      assertEq(code, "EOVERFLOW", `insert(${start}, ${length})`);
    }
  }),

  // ---- D. SNAPSHOT ----
  c("D1", "snapshot_faults_nothing", ONE, async (self) => {
    const b = await anon(self, 4, false);
    assertEq((await snapshot(self.fd, b.ptr, 4)).join(), "0,0,0,0", "untouched");
    await expectCmd(self.fd, HMM_DMIRROR_READ, b, 4, 0, 4, 1);
    const zr = HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ;
    assertEq((await snapshot(self.fd, b.ptr, 4)).join(), [zr, zr, zr, zr].join(), "after READ");
  }),
  c("D2", "snapshot_write_and_read_only_pages", ONE, async (self) => {
    const b = await anon(self, 2);
    await self.mm.mprotect(b.ptr + self.pageSize, self.pageSize, PROT_READ);
    const bytes = await snapshot(self.fd, b.ptr, 2);
    assertEq(bytes.join(), [HMM_DMIRROR_PROT_WRITE, HMM_DMIRROR_PROT_READ].join(), "bytes");
  }),
  c("D3", "snapshot_prot_none_hole_and_empty", ONE, async (self) => {
    const ps = self.pageSize;
    const p = await self.mm.mmap({ length: 3 * ps, prot: PROT_NONE });
    await self.mm.munmap(p + ps, ps);
    await self.mm.mprotect(p + 2 * ps, ps, PROT_READ);
    const bytes = await snapshot(self.fd, p, 3);
    assertEq(
      bytes.join(),
      [HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_ERROR, HMM_DMIRROR_PROT_NONE].join(),
      "bytes",
    );
  }),
  c("D4", "snapshot_seven_page_layout", TWO, async (self) => {
    const ps = self.pageSize;
    const p = await self.mm.mmap({ length: 7 * ps, prot: PROT_NONE });
    await self.mm.munmap(p + ps, ps);
    await self.mm.mprotect(p + 2 * ps, ps, PROT_READ);
    assertEq(await self.mm.read32(p + 2 * ps), 0, "page 2");
    await self.mm.mprotect(p + 3 * ps, ps, RW);
    await self.mm.write32(p + 3 * ps, 3);
    await self.mm.mprotect(p + 3 * ps, ps, PROT_READ);
    await self.mm.mprotect(p + 4 * ps, 3 * ps, RW);
    await self.mm.write32(p + 4 * ps, 3);
    await expectCmd(self.fd0, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p + 5 * ps, ps), 1, 0, 1);
    await expectCmd(self.fd1 as Dmirror, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p + 6 * ps, ps), 1, 0, 1);
    const bytes = await snapshot(self.fd0, p, 7);
    assertEq(bytes.map((x) => x.toString(16)).join(), "ff,ff,11,1,2,22,0", "bytes");
  }),
  c("D5", "snapshot_retries_after_an_invalidation", ONE, async (self) => {
    const b = await anon(self, 1);
    let before = -1;
    self.fd.hooks = {
      afterRangeFault: once(async (_m, range) => {
        before = range.flags[0] as number;
        await self.mm.mprotect(b.ptr, b.size, PROT_READ);
      }),
    };
    const bytes = await snapshot(self.fd, b.ptr, 1);
    self.fd.hooks = {};
    assertEq(before !== -1, true, "H1 ran");
    assertEq(bytes.join(), String(HMM_DMIRROR_PROT_READ), "the byte after mprotect(READ)");
  }),
];

/** The cases of groups A-D that need what the simulation does not have. */
const skipped: ConformanceCase[] = [
  {
    id: "D6",
    name: "snapshot_mixedmap",
    variant: ONE,
    skip: "needs mmap of the device file (a VM_MIXEDMAP of driver pages): not simulated",
  },
  {
    id: "D7",
    name: "snapshot_huge_pages",
    variant: ONE,
    skip: "needs hugetlbfs or transparent huge pages: not simulated",
  },
];

/** Conformance cases A-D, in order, as instances (`conformance.B7.read_sees_cpu_store_to_the_same_page`). */
export function conformanceInstances(): SelftestInstance[] {
  return conformanceInstancesOf([...cases, ...skipped]);
}

/** Conformance cases as instances, ordered by id. */
export function conformanceInstancesOf(all: readonly ConformanceCase[]): SelftestInstance[] {
  const order = (id: string) => id.charCodeAt(0) * 100 + Number(id.slice(1));
  return [...all]
    .sort((x, y) => order(x.id) - order(y.id))
    .map((x) => {
      const testCase: SelftestCase = {
        fixture: x.variant.fixture,
        name: `${x.id}.${x.name}`,
        tags: ["CONFORMANCE"],
        ...(x.body === undefined ? {} : { body: x.body }),
        ...(x.skip === undefined ? {} : { skip: x.skip }),
      };
      return { id: `conformance.${x.id}.${x.name}`, testCase, variant: x.variant };
    });
}
