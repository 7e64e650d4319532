// The portable conformance suite of kernel-tests.md §4, groups E-G: migration to device-private
// memory (E), two devices (F) and device-exclusive access (G), on device-private devices 0 and 1.
// N = 1024 pages of 4 KiB; "pattern i" is word k holding k; counters are checked only on success.

import { EINVAL, ENOENT, EPERM } from "../../../lib/errno.js";
import { PROT_NONE, PROT_READ, PROT_WRITE } from "../../../mm/vma.js";
import type { Dmirror } from "../mirror.js";
import {
  HMM_DMIRROR_CHECK_EXCLUSIVE,
  HMM_DMIRROR_EXCLUSIVE,
  HMM_DMIRROR_FLAG_FAIL_ALLOC,
  HMM_DMIRROR_FLAGS,
  HMM_DMIRROR_MIGRATE_TO_DEV,
  HMM_DMIRROR_MIGRATE_TO_SYS,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_WRITE,
} from "../uapi.js";
import {
  anon,
  type ConformanceCase,
  c,
  conformanceInstancesOf,
  expectCmd,
  N,
  ONE,
  snapshot,
  TWO,
} from "./conformance.js";
import {
  assertEq,
  assertWords,
  type HmmBuffer,
  hmmBuffer,
  loadWords,
  type Self,
  type SelftestInstance,
  storeWords,
  words,
} from "./harness.js";

const RW = PROT_READ | PROT_WRITE;
const LOCAL_W = HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE;

/** `n` copies of byte `b`, joined (what `snapshot(...).join()` gives). */
const bytes = (n: number, b: number) => Array(n).fill(b).join();

/** E1's start: N pages with pattern i, migrated to `fd` (0, N, the data read back). */
async function migrated(self: Self, fd: Dmirror = self.fd, pages = N): Promise<HmmBuffer> {
  const b = await anon(self, pages);
  await expectCmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, pages, 0, pages);
  assertWords(words(b.mirror), (i) => i, "mirror after the migration");
  return b;
}

/** `ptr`'s `pages` pages read by the CPU hold pattern i. */
async function cpuSees(self: Self, ptr: number, pages: number, from = 0): Promise<void> {
  const per = self.pageSize / 4;
  assertWords(await loadWords(self.mm, ptr, pages * per), (i) => i + from * per, "memory");
}

/** The 6-page layout of migrate_mixed (kernel-tests.md §2 test 17) migrated to device 1. */
async function mixedLayout(self: Self): Promise<number> {
  const ps = self.pageSize;
  const fd1 = self.fd1 as Dmirror;
  const p = await self.mm.mmap({ length: 6 * ps, prot: PROT_NONE });
  await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p, 6 * ps), 6, -EINVAL);
  await self.mm.munmap(p + ps, ps);
  await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p, 3 * ps), 3, -EINVAL);
  await self.mm.mprotect(p + 2 * ps, ps, PROT_READ);
  assertEq(await self.mm.read32(p + 2 * ps), 0, "page 2");
  await self.mm.mprotect(p + 3 * ps, ps, RW);
  await self.mm.write32(p + 3 * ps, 3);
  await self.mm.mprotect(p + 3 * ps, ps, PROT_READ);
  await self.mm.mprotect(p + 4 * ps, 2 * ps, RW);
  await self.mm.write32(p + 4 * ps, 3);
  await self.mm.write32(p + 5 * ps, 3);
  await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p + 2 * ps, 4 * ps), 4, 0, 4);
  return p;
}

const cases: ConformanceCase[] = [
  // ---- E. Migration to device-private memory ----
  c("E1", "migrate_then_snapshot_local", ONE, async (self) => {
    const b = await migrated(self);
    assertEq((await snapshot(self.fd, b.ptr, N)).join(), bytes(N, LOCAL_W), "bytes");
  }),
  c("E2", "cpu_faults_half_back_then_migrate_again", ONE, async (self) => {
    const b = await migrated(self);
    await cpuSees(self, b.ptr, N / 2);
    const half = `${bytes(N / 2, HMM_DMIRROR_PROT_WRITE)},${bytes(N / 2, LOCAL_W)}`;
    assertEq((await snapshot(self.fd, b.ptr, N)).join(), half, "bytes between the migrations");
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, N, 0, N);
    assertWords(words(b.mirror), (i) => i, "mirror");
  }),
  c("E3", "release_evicts_to_ram", ONE, async (self) => {
    const b = await migrated(self);
    await expectCmd(self.fd, HMM_DMIRROR_RELEASE, b, N, 0);
    await cpuSees(self, b.ptr, N);
    assertEq((await snapshot(self.fd, b.ptr, N)).join(), bytes(N, HMM_DMIRROR_PROT_WRITE), "bytes");
  }),
  c("E4", "shared_anonymous_is_enoent", ONE, async (self) => {
    const size = N * self.pageSize;
    const p = await self.mm.mmap({ length: size, prot: RW, shared: true });
    await storeWords(self.mm, p, size / 4, (i) => i);
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p, size), N, -ENOENT);
    await cpuSees(self, p, N);
  }),
  c("E5", "migrate_mixed_sequence", TWO, async (self) => {
    const p = await mixedLayout(self);
    const ps = self.pageSize;
    await expectCmd(self.fd0, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(p + 5 * ps, ps), 1, -ENOENT);
  }),
  c("E6", "ten_rounds_and_cpu_read_back", ONE, async (self) => {
    for (let round = 0; round < 10; round++) {
      const b = await migrated(self);
      await cpuSees(self, b.ptr, N);
      await self.mm.munmap(b.ptr, b.size);
    }
  }),
  c("E7", "untouched_pages_migrate_as_zeroes", ONE, async (self) => {
    const b = await anon(self, N, false);
    b.mirror.fill(0xff);
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, N, 0, N);
    assertWords(words(b.mirror), () => 0, "mirror");
  }),
  c("E8", "munmap_the_middle_then_fault_the_rest", ONE, async (self) => {
    const ps = self.pageSize;
    const b = await migrated(self);
    await self.mm.munmap(b.ptr + (N / 4) * ps, (N / 2) * ps);
    await cpuSees(self, b.ptr, N / 4);
    await cpuSees(self, b.ptr + ((3 * N) / 4) * ps, N / 4, (3 * N) / 4);
  }),
  c("E9", "migrate_to_sys", ONE, async (self) => {
    const b = await migrated(self);
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_SYS, b, N, 0, N);
    assertEq((await snapshot(self.fd, b.ptr, N)).join(), bytes(N, HMM_DMIRROR_PROT_WRITE), "bytes");
    await cpuSees(self, b.ptr, N);
  }),
  c("E10", "another_devices_page_stays_there", TWO, async (self) => {
    const ps = self.pageSize;
    const b = await anon(self, 6);
    const fd1 = self.fd1 as Dmirror;
    await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(b.ptr + 5 * ps, ps), 1, 0, 1);
    await expectCmd(self.fd0, HMM_DMIRROR_MIGRATE_TO_DEV, hmmBuffer(b.ptr + 5 * ps, ps), 1, -ENOENT);
    assertEq((await snapshot(fd1, b.ptr + 5 * ps, 1)).join(), String(LOCAL_W), "device 1's byte");
    assertEq(
      (await snapshot(self.fd0, b.ptr + 5 * ps, 1)).join(),
      String(HMM_DMIRROR_PROT_NONE),
      "device 0's byte",
    );
  }),
  c("E11", "fork_then_parent_writes_device_pages", ONE, async (self) => {
    const b = await migrated(self, self.fd, 4);
    const child = await self.forkChild((c) => c.waitForKill());
    await storeWords(self.mm, b.ptr, b.size / 4, (i) => i);
    child.kill();
    await child.waitpid();
    assertEq((await snapshot(self.fd, b.ptr, 4)).join(), bytes(4, HMM_DMIRROR_PROT_WRITE), "bytes");
  }),
  c("E12", "fail_alloc_is_one_shot", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_FLAGS, b, HMM_DMIRROR_FLAG_FAIL_ALLOC, 0);
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, N, -ENOENT);
    const after = `${HMM_DMIRROR_PROT_WRITE},${bytes(N - 1, LOCAL_W)}`;
    assertEq((await snapshot(self.fd, b.ptr, N)).join(), after, "bytes");
    await expectCmd(self.fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, N, 0, N);
    assertWords(words(b.mirror), (i) => i, "mirror");
  }),

  // ---- F. Two devices ----
  c("F1", "double_map_then_snapshot", TWO, async (self) => {
    const b = await anon(self, 6, true, PROT_READ);
    const fd1 = self.fd1 as Dmirror;
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, 6, 0, 6, 1);
    await expectCmd(fd1, HMM_DMIRROR_READ, b, 6, 0, 6, 1);
    await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, b, 6, 0, 6);
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, 6, 0, 6, 1);
    assertWords(words(b.mirror), (i) => i, "mirror");
    assertEq((await snapshot(self.fd0, b.ptr, 6)).join(), bytes(6, HMM_DMIRROR_PROT_READ), "bytes");
  }),
  c("F2", "migration_drops_the_other_devices_entries_only", TWO, async (self) => {
    const b = await anon(self, 8);
    const fd1 = self.fd1 as Dmirror;
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, 8, 0, 8, 1);
    await expectCmd(fd1, HMM_DMIRROR_READ, b, 8, 0, 8, 1);
    await expectCmd(fd1, HMM_DMIRROR_MIGRATE_TO_DEV, b, 8, 0, 8);
    assertEq(self.fd0.pt.size, 0, "device 0's page table after device 1's migration");
    await expectCmd(fd1, HMM_DMIRROR_READ, b, 8, 0, 8, 0);
    await expectCmd(self.fd0, HMM_DMIRROR_READ, b, 8, 0, 8, 1);
  }),

  // ---- G. Device-exclusive access ----
  c("G1", "exclusive_then_cpu_revokes", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, b, N, 0, N);
    assertWords(words(b.mirror), (i) => i, "mirror");
    await expectCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, N, -EPERM);
    const w = await loadWords(self.mm, b.ptr, b.size / 4);
    assertWords(w, (i) => i, "memory");
    await storeWords(self.mm, b.ptr, b.size / 4, (i) => (w[i] as number) + 1);
    assertWords(await loadWords(self.mm, b.ptr, b.size / 4), (i) => i + 1, "memory after the increments");
    await expectCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, N, 0);
  }),
  c("G2", "a_cpu_touch_revokes_only_its_page", ONE, async (self) => {
    const ps = self.pageSize;
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, b, N, 0, N);
    assertEq(await self.mm.read32(b.ptr), 0, "word 0");
    await expectCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, b, 1, 0);
    await expectCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, { ...b, ptr: b.ptr + (N - 1) * ps }, 1, -EPERM);
  }),
  c("G3", "exclusive_then_mprotect_then_write", ONE, async (self) => {
    const b = await anon(self, N);
    await expectCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, b, N, 0, N);
    await self.mm.mprotect(b.ptr, b.size, PROT_READ);
    await expectCmd(self.fd, HMM_DMIRROR_WRITE, b, N, -EPERM);
  }),
];

/** Conformance cases E-G, in order, as instances (`conformance.E1.migrate_then_snapshot_local`). */
export function deviceConformanceInstances(): SelftestInstance[] {
  return conformanceInstancesOf(cases);
}
