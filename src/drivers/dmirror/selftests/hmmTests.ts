// Follows tools/testing/selftests/mm/hmm-tests.c: the kernel's HMM self-test, case by case, in its
// order and with its names (kernel-tests.md §2). Each ported body keeps the kernel test's steps and
// assertions; a body that needs what the simulation does not have is listed with the reason (printed
// by `mmun selftest` as `# SKIP <reason>`). The bodies that migrate are in migrateTests.ts, those
// that take exclusive access in exclusiveTests.ts. Status, case by case (tags as in
// kernel-tests.md §2):
//
//   #   test                          tags                status
//   1   open_close                    CORE                ported
//   2   anon_read                     CORE                ported
//   3   anon_read_prot                CORE                ported
//   4   anon_write                    CORE                ported
//   5   anon_write_prot               CORE                ported
//   6   anon_write_child              FORK THP MIG        ported (thp=1 on small pages)
//   7   anon_write_child_shared       FORK FILE(shmem)    ported (shared anonymous memory is simulated)
//   8   anon_write_huge               THP                 skip: no transparent huge pages
//   9   anon_write_hugetlbfs          HTLB                skip: no hugetlbfs
//   10  file_read                     FILE                skip: no file-backed mappings
//   11  file_write                    FILE                skip: no file-backed mappings
//   12  migrate                       MIG                 ported
//   13  migrate_file_private          MIG FILE            skip: no file-backed mappings
//   14  migrate_fault                 MIG                 ported
//   15  migrate_release               MIG                 ported
//   16  migrate_shared                MIG FILE(shmem)     ported (shared anonymous memory is simulated)
//   17  migrate_mixed (hmm2)          MIG                 ported
//   18  migrate_multiple              MIG                 ported
//   19  anon_read_multiple            CORE                ported
//   20  anon_teardown                 CORE                ported (threads interleaved by a seeded scheduler)
//   21  mixedmap                      DEVMMAP             skip: no mmap of the device file
//   22  snapshot (hmm2)               CORE MIG            ported
//   23  compound                      HTLB                skip: no hugetlbfs
//   24  double_map (hmm2)             CORE MIG            ported
//   25  exclusive                     EXCL                ported
//   26  exclusive_mprotect            EXCL                ported
//   27  exclusive_cow                 EXCL FORK           ported
//   28  hmm_gup_test                  GUP MIG COH         ported (gupTest.ts: the gup_test module over hmm/gup.ts)
//   29  hmm_cow_in_device             FORK MIG            ported
//   30  migrate_anon_huge_empty       THP MIG             ported (on small pages)
//   31  migrate_anon_huge_zero        THP MIG             ported (on small pages)
//   32  migrate_anon_huge_free        THP MIG             ported (on small pages)
//   33  migrate_anon_huge_fault       THP MIG PAGEMAP     skip: every byte is checked for the PMD bit, and /proc/self/pagemap
//   34  migrate_partial_unmap_fault   MIG THP             ported (thp=1 on small pages)
//   35  migrate_remap_fault           MREMAP MIG THP      ported (thp=1 on small pages)
//   36  migrate_anon_huge_err         THP MIG FI          skip: the allocation failure must hit a huge page
//   37  migrate_anon_huge_zero_err    THP MIG FI          skip: the allocation failure must hit a huge page
//   38  benchmark_thp_migration       perf THP MIG        skip: a wall-clock timing table
//
// Both variants of each fixture run the same bodies; the memory kind (device-private on devices 0
// and 1, device-coherent on 2 and 3) decides what migration does, and the bodies check what the
// kernel's check for each. Transparent huge pages are not simulated: a body that asks for them
// (MADV_HUGEPAGE) runs on small pages, which upstream also does where THP is unavailable.

import { EFAULT, EPERM } from "../../../lib/errno.js";
import { PROT_NONE, PROT_READ } from "../../../mm/vma.js";
import { HMM_DMIRROR_READ, HMM_DMIRROR_WRITE } from "../uapi.js";
import { exclusive, exclusiveCow, exclusiveMprotect } from "./exclusiveTests.js";
import {
  anonBuffer,
  assertEq,
  assertWords,
  bufferPages,
  fillWords,
  HMM_BUFFER_SIZE,
  type HmmBuffer,
  hmmBuffer,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmMigrateSysToDev,
  loadWords,
  NTIMES,
  PMD_SIZE,
  RW,
  type Self,
  type SelftestCase,
  storeWords,
  words,
} from "./harness.js";
import {
  doubleMap,
  hmmCowInDevice,
  hmmGupTest,
  migrate,
  migrateAnonHugeEmpty,
  migrateAnonHugeFree,
  migrateAnonHugeZero,
  migrateFault,
  migrateMixed,
  migrateMultiple,
  migratePartialUnmapFault,
  migrateRelease,
  migrateRemapFault,
  migrateShared,
  snapshot,
} from "./migrateTests.js";

/** Why the tests needing each missing feature are skipped. */
const NEEDS = {
  THP: "needs transparent huge pages: not simulated",
  HTLB: "needs hugetlbfs: not simulated (upstream skips it too without free huge pages)",
  FILE: "needs file-backed mappings (page cache, pread/pwrite): not simulated",
  DEVMMAP: "needs mmap of the device file (a VM_MIXEDMAP of driver pages): not simulated",
  THP_FAULT:
    "needs transparent huge pages (MADV_COLLAPSE; every SNAPSHOT byte is checked for the PMD bit) and /proc/self/pagemap: not simulated",
  THP_ERR:
    "needs transparent huge pages: the injected allocation failure must hit a huge page, which falls back to small pages; on small pages the same steps give -ENOENT (conformance E12 checks that)",
  PERF: "needs a wall clock: it prints a THP migration timing table (no wall clock below the CLI; `npm run bench -- hmm` measures migration)",
} as const;

// ---- The ported bodies ----

async function anonRead(self: Self): Promise<void> {
  const ps = self.pageSize;
  const npages = bufferPages(self);
  const size = npages * ps;
  const buffer = await anonBuffer(self, size, RW);
  // Initialise the buffer but leave the first two pages zero (an empty PTE and the zero page).
  const first = (2 * ps) / 4;
  await storeWords(self.mm, buffer.ptr + 2 * ps, size / 4 - first, (i) => first + i);
  await self.mm.mprotect(buffer.ptr, size, PROT_READ);
  // Populate the CPU page table with the zero page.
  assertEq(await self.mm.read32(buffer.ptr + ps), 0, "val");
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
  assertEq(ret, 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertEq(buffer.faults, 1, "buffer->faults");
  assertWords(words(buffer.mirror), (i) => (i < first ? 0 : i), "mirror");
  await hmmBufferFree(self, buffer);
}

async function anonReadProt(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  // The mirror gets -i, so that a write to it would show.
  fillWords(buffer.mirror, (i) => -i);
  await self.mm.mprotect(buffer.ptr, size, PROT_NONE);
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, npages), -EFAULT, "ret");
  await self.mm.mprotect(buffer.ptr, size, PROT_READ);
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, "ptr");
  assertWords(words(buffer.mirror), (i) => -i, "mirror");
  await hmmBufferFree(self, buffer);
}

async function anonWrite(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  fillWords(buffer.mirror, (i) => i);
  const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  assertEq(ret, 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertEq(buffer.faults, 1, "buffer->faults");
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, "ptr");
  await hmmBufferFree(self, buffer);
}

async function anonWriteProt(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, PROT_READ);
  // A device read of one page maps the zero page.
  let ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, 1);
  assertEq(ret, 0, "ret");
  assertEq(buffer.cpages, 1, "buffer->cpages");
  assertEq(buffer.faults, 1, "buffer->faults");
  fillWords(buffer.mirror, (i) => i);
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  assertEq(ret, -EPERM, "ret");
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), () => 0, "ptr");
  // Allow writes: the zero page is replaced.
  await self.mm.mprotect(buffer.ptr, size, RW);
  ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages);
  assertEq(ret, 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertEq(buffer.faults, 1, "buffer->faults");
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, "ptr");
  await hmmBufferFree(self, buffer);
}

/**
 * The child's part of anon_write_child and anon_write_child_shared: it sees the parent's values (a
 * page on a device-private device faults back) and, unless the pages were migrated (which filled the
 * mirror), its own copy of the mirror (-i); it opens its own mirror of its own mm, and the device
 * writes the mirror there.
 */
async function childWrite(child: Self, buffer: HmmBuffer, npages: number, migrated = false): Promise<void> {
  const mine: HmmBuffer = { ...buffer, mirror: buffer.mirror.slice() };
  const count = (buffer.mirror.length / 4) | 0;
  assertWords(await loadWords(child.mm, mine.ptr, count), (i) => i, "child ptr");
  if (!migrated) assertWords(words(mine.mirror), (i) => -i, "child mirror");
  const childFd = await child.open(0);
  const ret = await hmmDmirrorCmd(childFd, HMM_DMIRROR_WRITE, mine, npages);
  assertEq(ret, 0, "ret");
  assertEq(mine.cpages, npages, "buffer->cpages");
  assertEq(mine.faults, 1, "buffer->faults");
  if (!migrated) {
    assertWords(await loadWords(child.mm, mine.ptr, count), (i) => -i, "child ptr after the device write");
  }
  await childFd.close();
}

async function anonWriteChild(self: Self): Promise<void> {
  const ps = self.pageSize;
  for (let migrate = 0; migrate < 2; ++migrate) {
    for (let useThp = 0; useThp < 2; ++useThp) {
      const npages = Math.ceil((useThp ? PMD_SIZE : HMM_BUFFER_SIZE) / ps);
      assertEq(npages !== 0, true, "npages != 0");
      const size = npages * ps;
      const buffer = await anonBuffer(self, size * 2, RW, size);
      const oldPtr = buffer.ptr;
      if (useThp) {
        // The kernel aligns to the huge page size and asks for THP; without THP the aligned range
        // stays small pages (the madvise is left out).
        buffer.ptr = Math.ceil(buffer.ptr / size) * size;
      }
      await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
      fillWords(buffer.mirror, (i) => -i);
      if (migrate) {
        assertEq(await hmmMigrateSysToDev(self.fd, buffer, npages), 0, "ret");
        assertEq(buffer.cpages, npages, "buffer->cpages");
      }
      await self.fork((child) => childWrite(child, buffer, npages, migrate === 1));
      // The parent's buffer did not change (copy on write).
      assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, "parent ptr");
      buffer.ptr = oldPtr;
      await hmmBufferFree(self, buffer);
    }
  }
}

async function anonWriteChildShared(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const ptr = await self.mm.mmap({ length: size, prot: RW, shared: true });
  const buffer = hmmBuffer(ptr, size);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  fillWords(buffer.mirror, (i) => -i);
  await self.fork((child) => childWrite(child, buffer, npages));
  // The parent sees the child's device write: the mapping is shared.
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => -i, "parent ptr");
  await hmmBufferFree(self, buffer);
}

async function anonReadMultiple(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  for (let c = 0; c < NTIMES; c++) {
    const buffer = await anonBuffer(self, size, RW);
    await storeWords(self.mm, buffer.ptr, size / 4, (i) => i + c);
    const ret = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
    assertEq(ret, 0, "ret");
    assertEq(buffer.cpages, npages, "buffer->cpages");
    assertEq(buffer.faults, 1, "buffer->faults");
    assertWords(words(buffer.mirror), (i) => i + c, `mirror (round ${c})`);
    await hmmBufferFree(self, buffer);
  }
}

async function anonTeardown(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const seen = { ok: 0, efault: 0 };
  for (let c = 0; c < NTIMES; ++c) {
    const buffer = await anonBuffer(self, size, RW);
    await storeWords(self.mm, buffer.ptr, size / 4, (i) => i + c);
    // unmap_buffer(): wait a little (a random number of scheduling points, for the kernel's random
    // 0-32 µs), then unmap the second half while the device reads.
    const delay = self.random.int(128);
    const join = self.thread("unmap_buffer", async () => {
      for (let n = 0; n < delay; n++) await self.kernel.point("hmm_nanosleep");
      await self.mm.munmap(buffer.ptr + size / 2, size / 2);
    });
    const rc = await hmmDmirrorCmd(self.fd, HMM_DMIRROR_READ, buffer, npages);
    if (rc === 0) {
      seen.ok++;
      assertEq(buffer.cpages, npages, "buffer->cpages");
      assertEq(buffer.faults, 1, "buffer->faults");
      assertWords(words(buffer.mirror), (i) => i + c, `mirror (round ${c})`);
    } else {
      // Upstream asserts nothing on failure; the only failure an unmap can cause is -EFAULT.
      assertEq(rc, -EFAULT, "rc");
      seen.efault++;
    }
    await join();
    // unmap_buffer() cleared buffer->ptr, so hmm_buffer_free() unmaps nothing: the first half stays
    // mapped until the process exits, as upstream.
  }
  self.log(`anon_teardown: ${seen.ok} READ(s) returned 0, ${seen.efault} returned -EFAULT`);
}

// ---- The suite, in the kernel file's order ----

const hmm = (name: string, tags: string[], rest: Partial<SelftestCase>): SelftestCase => ({
  fixture: "hmm",
  name,
  tags,
  ...rest,
});
const hmm2 = (name: string, tags: string[], rest: Partial<SelftestCase>): SelftestCase => ({
  fixture: "hmm2",
  name,
  tags,
  ...rest,
});

/** The 38 TEST_F bodies of hmm-tests.c. */
export const hmmTests: readonly SelftestCase[] = [
  hmm("open_close", ["CORE"], { body: async () => {} }),
  hmm("anon_read", ["CORE"], { body: anonRead }),
  hmm("anon_read_prot", ["CORE"], { body: anonReadProt }),
  hmm("anon_write", ["CORE"], { body: anonWrite }),
  hmm("anon_write_prot", ["CORE"], { body: anonWriteProt }),
  hmm("anon_write_child", ["FORK", "THP", "MIG"], { body: anonWriteChild }),
  hmm("anon_write_child_shared", ["FORK", "FILE"], { body: anonWriteChildShared }),
  hmm("anon_write_huge", ["THP"], { skip: NEEDS.THP }),
  hmm("anon_write_hugetlbfs", ["HTLB"], { skip: NEEDS.HTLB }),
  hmm("file_read", ["FILE"], { skip: NEEDS.FILE }),
  hmm("file_write", ["FILE"], { skip: NEEDS.FILE }),
  hmm("migrate", ["MIG"], { body: migrate }),
  hmm("migrate_file_private", ["MIG", "FILE"], { skip: NEEDS.FILE }),
  hmm("migrate_fault", ["MIG"], { body: migrateFault }),
  hmm("migrate_release", ["MIG"], { body: migrateRelease }),
  hmm("migrate_shared", ["MIG", "FILE"], { body: migrateShared }),
  hmm2("migrate_mixed", ["MIG"], { body: migrateMixed }),
  hmm("migrate_multiple", ["MIG"], { body: migrateMultiple }),
  hmm("anon_read_multiple", ["CORE"], { body: anonReadMultiple }),
  hmm("anon_teardown", ["CORE"], { body: anonTeardown }),
  hmm("mixedmap", ["DEVMMAP"], { skip: NEEDS.DEVMMAP }),
  hmm2("snapshot", ["CORE", "MIG"], { body: snapshot }),
  hmm("compound", ["HTLB"], { skip: NEEDS.HTLB }),
  hmm2("double_map", ["CORE", "MIG"], { body: doubleMap }),
  hmm("exclusive", ["EXCL"], { body: exclusive }),
  hmm("exclusive_mprotect", ["EXCL"], { body: exclusiveMprotect }),
  hmm("exclusive_cow", ["EXCL", "FORK"], { body: exclusiveCow }),
  hmm("hmm_gup_test", ["GUP", "MIG", "COH"], { body: hmmGupTest }),
  hmm("hmm_cow_in_device", ["FORK", "MIG"], { body: hmmCowInDevice }),
  hmm("migrate_anon_huge_empty", ["THP", "MIG"], { body: migrateAnonHugeEmpty }),
  hmm("migrate_anon_huge_zero", ["THP", "MIG"], { body: migrateAnonHugeZero }),
  hmm("migrate_anon_huge_free", ["THP", "MIG"], { body: migrateAnonHugeFree }),
  hmm("migrate_anon_huge_fault", ["THP", "MIG", "PAGEMAP"], { skip: NEEDS.THP_FAULT }),
  hmm("migrate_partial_unmap_fault", ["MIG", "THP"], { body: migratePartialUnmapFault }),
  hmm("migrate_remap_fault", ["MREMAP", "MIG", "THP"], { body: migrateRemapFault }),
  hmm("migrate_anon_huge_err", ["THP", "MIG", "FI"], { skip: NEEDS.THP_ERR }),
  hmm("migrate_anon_huge_zero_err", ["THP", "MIG", "FI"], { skip: NEEDS.THP_ERR }),
  hmm("benchmark_thp_migration", ["perf", "THP", "MIG"], { skip: NEEDS.PERF }),
];
