// Follows tools/testing/selftests/mm/hmm-tests.c: the bodies that migrate (tagged MIG in
// kernel-tests.md §2), with their steps, sizes and assertions. On a device-coherent variant the CPU
// reaches device pages without faulting them back, so those bodies check what the kernel checks for
// coherent memory (an explicit MIGRATE_TO_SYS, the COHERENT snapshot bytes). The huge-page bodies run
// on small pages: the buffer is aligned as upstream aligns it and the madvise(MADV_HUGEPAGE) is left
// out (transparent huge pages are not simulated).

import { FOLL_LONGTERM, FOLL_WRITE } from "../../../hmm/gup.js";
import { EINVAL, ENOENT } from "../../../lib/errno.js";
import { PROT_NONE, PROT_READ } from "../../../mm/vma.js";
import {
  HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL,
  HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE,
  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL,
  HMM_DMIRROR_PROT_ERROR,
  HMM_DMIRROR_PROT_NONE,
  HMM_DMIRROR_PROT_READ,
  HMM_DMIRROR_PROT_WRITE,
  HMM_DMIRROR_PROT_ZERO,
  HMM_DMIRROR_READ,
  HMM_DMIRROR_RELEASE,
  HMM_DMIRROR_SNAPSHOT,
} from "../uapi.js";
import {
  GUP_BASIC_TEST,
  GUP_FAST_BENCHMARK,
  gupTestIoctl,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
} from "./gupTest.js";
import {
  anonBuffer,
  assertEq,
  assertWords,
  bufferPages,
  type HmmBuffer,
  hmmBuffer,
  hmmBufferFree,
  hmmDmirrorCmd,
  hmmMigrateDevToSys,
  hmmMigrateSysToDev,
  isCoherent,
  loadWords,
  NTIMES,
  PMD_SIZE,
  RW,
  type Self,
  storeWords,
  words,
} from "./harness.js";

/** Migrates `npages` at `buffer.ptr` with `fd` and checks 0, `cpages` = npages and the mirror. */
async function migrateAll(
  self: Self,
  buffer: HmmBuffer,
  npages: number,
  value = (i: number) => i,
): Promise<void> {
  assertEq(await hmmMigrateSysToDev(self.fd, buffer, npages), 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertWords(words(buffer.mirror).subarray(0, (npages * self.pageSize) / 4), value, "mirror");
}

/** An N-page private buffer holding pattern i, migrated to the device. */
async function migratedBuffer(self: Self): Promise<{ buffer: HmmBuffer; npages: number; size: number }> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  await migrateAll(self, buffer, npages);
  return { buffer, npages, size };
}

export async function migrate(self: Self): Promise<void> {
  const { buffer } = await migratedBuffer(self);
  await hmmBufferFree(self, buffer);
}

export async function migrateFault(self: Self): Promise<void> {
  const { buffer, npages, size } = await migratedBuffer(self);
  // Fault half the pages back to system memory and check them.
  assertWords(await loadWords(self.mm, buffer.ptr, size / 8), (i) => i, "ptr");
  // Migrate the whole range again: the second half is still on the device, mapped.
  await migrateAll(self, buffer, npages);
  await hmmBufferFree(self, buffer);
}

export async function migrateRelease(self: Self): Promise<void> {
  const { buffer, npages, size } = await migratedBuffer(self);
  // Release device memory.
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_RELEASE, buffer, npages), 0, "ret");
  // Fault pages back to system memory and check them.
  assertWords(await loadWords(self.mm, buffer.ptr, size / 8), (i) => i, "ptr");
  await hmmBufferFree(self, buffer);
}

export async function migrateShared(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const ptr = await self.mm.mmap({ length: size, prot: RW, shared: true });
  const buffer = hmmBuffer(ptr, size);
  assertEq(await hmmMigrateSysToDev(self.fd, buffer, npages), -ENOENT, "ret");
  await hmmBufferFree(self, buffer);
}

export async function migrateMixed(self: Self): Promise<void> {
  const ps = self.pageSize;
  const npages = 6;
  const size = npages * ps;
  const fd1 = self.fd1 as NonNullable<Self["fd1"]>;
  const buffer = await anonBuffer(self, size, PROT_NONE);
  const p = buffer.ptr;
  // Migrating a protected area is an error.
  assertEq(await hmmMigrateSysToDev(fd1, buffer, npages), -EINVAL, "ret (PROT_NONE)");
  // Punch a hole after the first page: an area that does not cover the range is an error too.
  await self.mm.munmap(p + ps, ps);
  assertEq(await hmmMigrateSysToDev(fd1, buffer, 3), -EINVAL, "ret (hole)");
  // Page 2 will be a read-only zero page.
  await self.mm.mprotect(p + 2 * ps, ps, PROT_READ);
  const val = (await self.mm.read32(p + 2 * ps)) + 3;
  assertEq(val, 3, "val");
  // Page 3 will be read-only.
  await self.mm.mprotect(p + 3 * ps, ps, RW);
  await self.mm.write32(p + 3 * ps, val);
  await self.mm.mprotect(p + 3 * ps, ps, PROT_READ);
  // Pages 4-5 will be read-write.
  await self.mm.mprotect(p + 4 * ps, 2 * ps, RW);
  await self.mm.write32(p + 4 * ps, val);
  await self.mm.write32(p + 5 * ps, val);
  // Now migrate pages 2-5 to device 1.
  buffer.ptr = p + 2 * ps;
  assertEq(await hmmMigrateSysToDev(fd1, buffer, 4), 0, "ret (pages 2-5)");
  assertEq(buffer.cpages, 4, "buffer->cpages");
  // Page 5 is not migrated to device 0: it is on device 1.
  buffer.ptr = p + 5 * ps;
  assertEq(await hmmMigrateSysToDev(self.fd0, buffer, 1), -ENOENT, "ret (page 5 to device 0)");
  buffer.ptr = p;
  await hmmBufferFree(self, buffer);
}

export async function migrateMultiple(self: Self): Promise<void> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  for (let c = 0; c < NTIMES; c++) {
    const buffer = await anonBuffer(self, size, RW);
    await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
    await migrateAll(self, buffer, npages);
    // Back to system memory: a coherent device's pages explicitly, private ones by the CPU faults.
    if (isCoherent(self)) {
      assertEq(await hmmMigrateDevToSys(self.fd, buffer, npages), 0, "ret (to system)");
      assertEq(buffer.cpages, npages, "buffer->cpages (to system)");
    }
    assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, `ptr (round ${c})`);
    await hmmBufferFree(self, buffer);
  }
}

export async function snapshot(self: Self): Promise<void> {
  const ps = self.pageSize;
  const npages = 7;
  const size = npages * ps;
  const fd1 = self.fd1 as NonNullable<Self["fd1"]>;
  // Upstream mallocs npages bytes for the mirror, and each MIGRATE_TO_DEV below copies a whole page
  // into it (a heap overflow the C test survives): here the mirror holds a page.
  const buffer = await anonBuffer(self, size, PROT_NONE, ps);
  const p = buffer.ptr;
  // Punch a hole after the first page.
  await self.mm.munmap(p + ps, ps);
  // Page 2 will be a read-only zero page.
  await self.mm.mprotect(p + 2 * ps, ps, PROT_READ);
  const val = (await self.mm.read32(p + 2 * ps)) + 3;
  assertEq(val, 3, "val");
  // Page 3 will be read-only.
  await self.mm.mprotect(p + 3 * ps, ps, RW);
  await self.mm.write32(p + 3 * ps, val);
  await self.mm.mprotect(p + 3 * ps, ps, PROT_READ);
  // Pages 4-6 will be read-write.
  await self.mm.mprotect(p + 4 * ps, 3 * ps, RW);
  await self.mm.write32(p + 4 * ps, val);
  // Page 5 will be migrated to device 0, page 6 to device 1.
  buffer.ptr = p + 5 * ps;
  assertEq(await hmmMigrateSysToDev(self.fd0, buffer, 1), 0, "ret (page 5)");
  assertEq(buffer.cpages, 1, "buffer->cpages");
  buffer.ptr = p + 6 * ps;
  assertEq(await hmmMigrateSysToDev(fd1, buffer, 1), 0, "ret (page 6)");
  assertEq(buffer.cpages, 1, "buffer->cpages");
  // Simulate a device snapshotting CPU page tables.
  buffer.ptr = p;
  assertEq(await hmmDmirrorCmd(self.fd0, HMM_DMIRROR_SNAPSHOT, buffer, npages), 0, "ret (snapshot)");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  const m = buffer.mirror;
  const expected = [
    HMM_DMIRROR_PROT_ERROR,
    HMM_DMIRROR_PROT_ERROR,
    HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ,
    HMM_DMIRROR_PROT_READ,
    HMM_DMIRROR_PROT_WRITE,
    isCoherent(self)
      ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE
      : HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE,
    isCoherent(self) ? HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_NONE,
  ];
  for (const [i, e] of expected.entries()) assertEq(m[i], e, `m[${i}]`);
  await hmmBufferFree(self, buffer);
}

export async function doubleMap(self: Self): Promise<void> {
  const npages = 6;
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  await self.mm.mprotect(buffer.ptr, size, PROT_READ);
  const fd1 = self.fd1 as NonNullable<Self["fd1"]>;
  const read = async (name: string, fd: typeof fd1) => {
    assertEq(await hmmDmirrorCmd(fd, HMM_DMIRROR_READ, buffer, npages), 0, `${name} ret`);
    assertEq(buffer.cpages, npages, "buffer->cpages");
    assertEq(buffer.faults, 1, "buffer->faults");
    assertWords(words(buffer.mirror), (i) => i, `${name} mirror`);
  };
  await read("fd0", self.fd0);
  await read("fd1", fd1);
  // Migrate the pages to device 1 and read them from device 0: it faults them back (private) or
  // maps device 1's coherent pages.
  assertEq(await hmmMigrateSysToDev(fd1, buffer, npages), 0, "ret (migrate)");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  await read("fd0 after the migration", self.fd0);
  await hmmBufferFree(self, buffer);
}

/**
 * hmm_gup_test: four pages on the device, then one gup_test command per page (GUP, GUP-fast, a
 * long-term pin-fast, a long-term pin; every command drops its pages at once). A GUP faults a
 * device-private page back to RAM, so the private variant finds all four in system memory; a
 * device-coherent page is reachable as it is, and only the long-term pins move theirs to RAM.
 */
export async function hmmGupTest(self: Self): Promise<void> {
  const npages = 4;
  const ps = self.pageSize;
  const size = npages * ps;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  assertEq(await hmmMigrateSysToDev(self.fd, buffer, npages), 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertWords(words(buffer.mirror), (i) => i, "mirror");
  const exec = (page: number, cmd: number, flags: number) =>
    gupTestIoctl(self.mm, cmd, {
      addr: buffer.ptr + page * ps,
      size: ps,
      nrPagesPerCall: 1,
      gupFlags: FOLL_WRITE | flags,
    });
  assertEq(await exec(0, GUP_BASIC_TEST, 0), 0, "gup_test_exec(GUP_BASIC_TEST)");
  assertEq(await exec(1, GUP_FAST_BENCHMARK, 0), 0, "gup_test_exec(GUP_FAST_BENCHMARK)");
  assertEq(await exec(2, PIN_FAST_BENCHMARK, FOLL_LONGTERM), 0, "gup_test_exec(PIN_FAST_BENCHMARK)");
  assertEq(await exec(3, PIN_LONGTERM_BENCHMARK, 0), 0, "gup_test_exec(PIN_LONGTERM_BENCHMARK)");
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages), 0, "ret (snapshot)");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  const m = buffer.mirror;
  const kept = isCoherent(self)
    ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL | HMM_DMIRROR_PROT_WRITE
    : HMM_DMIRROR_PROT_WRITE;
  assertEq(m[0], kept, "m[0]");
  assertEq(m[1], kept, "m[1]");
  assertEq(m[2], HMM_DMIRROR_PROT_WRITE, "m[2]");
  assertEq(m[3], HMM_DMIRROR_PROT_WRITE, "m[3]");
  // Check the contents again: nothing was corrupted.
  assertWords(await loadWords(self.mm, buffer.ptr, size / 4), (i) => i, "ptr");
  await hmmBufferFree(self, buffer);
}

export async function hmmCowInDevice(self: Self): Promise<void> {
  const npages = 4;
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  assertEq(await hmmMigrateSysToDev(self.fd, buffer, npages), 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  // The child waits for SIGKILL from the parent.
  const child = await self.forkChild((c) => c.waitForKill());
  // The parent writes its copy-on-write pages and gets new system pages: a device-private page
  // migrates back first, a device-coherent page is copied straight out of device memory.
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  child.kill();
  await child.waitpid();
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_SNAPSHOT, buffer, npages), 0, "ret (snapshot)");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  for (let i = 0; i < npages; i++) assertEq(buffer.mirror[i], HMM_DMIRROR_PROT_WRITE, `m[${i}]`);
  await hmmBufferFree(self, buffer);
}

/**
 * The shape of the migrate_anon_huge_* bodies: `2 * PMD_SIZE` bytes mapped with `prot`, the
 * PMD-aligned half used, a mirror of PMD_SIZE bytes of 0xFF.
 */
async function hugeBuffer(
  self: Self,
  prot: number,
): Promise<{ buffer: HmmBuffer; map: number; npages: number }> {
  const size = PMD_SIZE;
  const buffer = await anonBuffer(self, 2 * size, prot, size);
  buffer.mirror.fill(0xff);
  const map = Math.ceil(buffer.ptr / size) * size;
  return { buffer, map, npages: size / self.pageSize };
}

/** Migrates the aligned half (`buffer.ptr` = map), checks, then frees the whole mapping. */
async function withHugeBuffer(
  self: Self,
  prot: number,
  body: (buffer: HmmBuffer, map: number, npages: number) => Promise<void>,
): Promise<void> {
  const { buffer, map, npages } = await hugeBuffer(self, prot);
  const oldPtr = buffer.ptr;
  buffer.ptr = map;
  await body(buffer, map, npages);
  buffer.ptr = oldPtr;
  await hmmBufferFree(self, buffer);
}

export async function migrateAnonHugeEmpty(self: Self): Promise<void> {
  await withHugeBuffer(self, PROT_READ, async (buffer, _map, npages) => {
    // Empty PTEs migrate as zeroed device pages.
    await migrateAll(self, buffer, npages, () => 0);
  });
}

export async function migrateAnonHugeZero(self: Self): Promise<void> {
  await withHugeBuffer(self, PROT_READ, async (buffer, map, npages) => {
    // Initialise a read-only zero page.
    assertEq(await self.mm.read32(map), 0, "val");
    await migrateAll(self, buffer, npages, () => 0);
    // Fault pages back to system memory and check them.
    assertWords(await loadWords(self.mm, map, PMD_SIZE / 4), () => 0, "ptr");
  });
}

export async function migrateAnonHugeFree(self: Self): Promise<void> {
  await withHugeBuffer(self, RW, async (buffer, map, npages) => {
    await storeWords(self.mm, map, PMD_SIZE / 4, (i) => i);
    await migrateAll(self, buffer, npages);
    // Try freeing it.
    await self.mm.madvise(map, PMD_SIZE, "free");
  });
}

export async function migratePartialUnmapFault(self: Self): Promise<void> {
  const size = PMD_SIZE;
  const unmapSize = size / 2;
  const offsets = [0, size / 4, size / 2];
  for (let useThp = 0; useThp < 2; ++useThp) {
    for (const offset of offsets) {
      await withHugeBuffer(self, RW, async (buffer, map, npages) => {
        await storeWords(self.mm, map, size / 4, (i) => i);
        await migrateAll(self, buffer, npages);
        await self.mm.munmap(map + offset, unmapSize);
        // Fault pages back to system memory and check them, around the hole.
        assertWords(await loadWords(self.mm, map, offset / 4), (i) => i, `ptr before the hole at ${offset}`);
        const after = offset + unmapSize;
        const rest = await loadWords(self.mm, map + after, (size - after) / 4);
        assertWords(rest, (i) => i + after / 4, `ptr after the hole at ${offset}`);
      });
    }
  }
}

export async function migrateRemapFault(self: Self): Promise<void> {
  const size = PMD_SIZE;
  const npages = size / self.pageSize;
  const offsets = [0, size / 4, size / 2];
  for (let before = 0; before < 2; ++before) {
    for (let dontUnmap = 0; dontUnmap < 2; ++dontUnmap) {
      for (let useThp = 0; useThp < 2; ++useThp) {
        for (const offset of offsets) {
          const buffer = await anonBuffer(self, 8 * size, RW, size);
          buffer.mirror.fill(0xff);
          const map = Math.ceil(buffer.ptr / size) * size;
          const oldPtr = buffer.ptr;
          await self.mm.munmap(map + size, size * 2);
          buffer.ptr = map;
          await storeWords(self.mm, map, size / 4, (i) => i);
          const remap = () =>
            self.mm.mremap(map, size, size, {
              mayMove: true,
              newAddr: map + size + offset,
              dontUnmap: dontUnmap === 1,
            });
          let newPtr = 0;
          if (before) {
            newPtr = await remap();
            buffer.ptr = newPtr;
          }
          await migrateAll(self, buffer, npages);
          if (!before) {
            newPtr = await remap();
            buffer.ptr = newPtr;
          }
          // Fault pages back to system memory and check them.
          assertWords(await loadWords(self.mm, newPtr, size / 4), (i) => i, "ptr at the new address");
          await self.mm.munmap(newPtr, size);
          buffer.ptr = oldPtr;
          await hmmBufferFree(self, buffer);
        }
      }
    }
  }
}
