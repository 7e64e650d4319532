// Follows tools/testing/selftests/mm/hmm-tests.c: the bodies that give the device exclusive access
// (tagged EXCL in kernel-tests.md §2). The kernel's CPU loops read and increment every word; here a
// page at a time: the first access to a page faults (the device-exclusive entry is restored, the
// device's atomic mapping revoked), the rest of the page follows without one, as it does there.

import { EPERM } from "../../../lib/errno.js";
import type { Mm } from "../../../mm/mm.js";
import { PROT_READ } from "../../../mm/vma.js";
import { HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_DMIRROR_EXCLUSIVE, HMM_DMIRROR_WRITE } from "../uapi.js";
import {
  anonBuffer,
  assertEq,
  assertWords,
  bufferPages,
  type HmmBuffer,
  hmmBufferFree,
  hmmDmirrorCmd,
  loadWords,
  RW,
  type Self,
  storeWords,
  words,
} from "./harness.js";

/** An N-page buffer with pattern i, made device-exclusive (0, cpages N, the mirror holding i). */
async function exclusiveBuffer(self: Self): Promise<{ buffer: HmmBuffer; npages: number; size: number }> {
  const npages = bufferPages(self);
  const size = npages * self.pageSize;
  const buffer = await anonBuffer(self, size, RW);
  await storeWords(self.mm, buffer.ptr, size / 4, (i) => i);
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_EXCLUSIVE, buffer, npages), 0, "ret");
  assertEq(buffer.cpages, npages, "buffer->cpages");
  assertWords(words(buffer.mirror), (i) => i, "mirror");
  return { buffer, npages, size };
}

/** `ASSERT_EQ(ptr[i]++, i)` over `size` bytes at `ptr` of `mm`, then every word is i + 1. */
async function incrementAll(mm: Mm, ptr: number, size: number, ps: number, who: string): Promise<void> {
  const per = ps / 4;
  for (let off = 0; off < size; off += ps) {
    const base = off / 4;
    assertWords(await loadWords(mm, ptr + off, per), (i) => base + i, `${who} ptr`);
    await storeWords(mm, ptr + off, per, (i) => base + i + 1);
  }
  assertWords(await loadWords(mm, ptr, size / 4), (i) => i + 1, `${who} ptr after the increments`);
}

export async function exclusive(self: Self): Promise<void> {
  const { buffer, npages, size } = await exclusiveBuffer(self);
  // Fault pages back to system memory and check them.
  await incrementAll(self.mm, buffer.ptr, size, self.pageSize, "");
  // Check atomic access revoked.
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_CHECK_EXCLUSIVE, buffer, npages), 0, "ret (check)");
  await hmmBufferFree(self, buffer);
}

export async function exclusiveMprotect(self: Self): Promise<void> {
  const { buffer, npages, size } = await exclusiveBuffer(self);
  await self.mm.mprotect(buffer.ptr, size, PROT_READ);
  // A device write of a read-only area.
  assertEq(await hmmDmirrorCmd(self.fd, HMM_DMIRROR_WRITE, buffer, npages), -EPERM, "ret (write)");
  await hmmBufferFree(self, buffer);
}

export async function exclusiveCow(self: Self): Promise<void> {
  const { buffer, size } = await exclusiveBuffer(self);
  const ps = self.pageSize;
  // The child verifies copy on write on its own, while the parent does the same.
  const child = await self.forkChild((c) => incrementAll(c.mm, buffer.ptr, size, ps, "child"));
  await incrementAll(self.mm, buffer.ptr, size, ps, "parent");
  await child.waitpid();
  await hmmBufferFree(self, buffer);
}
