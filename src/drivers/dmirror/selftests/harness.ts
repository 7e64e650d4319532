// The harness the ported HMM self-tests run on: what tools/testing/selftests/kselftest_harness.h and
// the helpers at the top of tools/testing/selftests/mm/hmm-tests.c give the kernel's tests (fixtures
// with variants, ASSERT_*, struct hmm_buffer, hmm_dmirror_cmd), over the simulated machine.
//
// Each case runs on a fresh machine: a Kernel under the controlled scheduler with a seeded random
// chooser (so a case that starts threads, anon_teardown, interleaves them at every scheduling point,
// and the same seed gives the same run), four dmirror devices as the kernel module makes them
// (hmm_dmirror0 and 1 device-private, 2 and 3 device-coherent), and one address space: the test
// process. The body runs in a task ("main"); the fixture opens the devices before it and closes
// them after it, the process then exits. A case passes when its body returns, nothing was reported
// (no warning, stale mapping, lock-order problem…), and no frame, system or device, is left in use.
//
// Used by test/selftests/hmm.test.ts (each case an `it`) and by `mmun selftest` (TAP).

import { MmunError } from "../../../lib/errno.js";
import { Rng } from "../../../lib/rng.js";
import { Kernel } from "../../../mm/kernel.js";
import type { Mm } from "../../../mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../../mm/vma.js";
import type { Chooser } from "../../../sync/controlledScheduler.js";
import type { Task } from "../../../sync/task.js";
import { DmirrorDevice } from "../device.js";
import type { Dmirror } from "../mirror.js";
import { HMM_DMIRROR_MIGRATE_TO_DEV, HMM_DMIRROR_MIGRATE_TO_SYS } from "../uapi.js";

/** The kernel test's fixtures: `hmm` opens one device, `hmm2` two. */
export type FixtureName = "hmm" | "hmm2";

/** A fixture variant (FIXTURE_VARIANT_ADD): which device numbers it opens. */
export interface Variant {
  fixture: FixtureName;
  name: string;
  /** `/dev/hmm_dmirror<N>` opened as fd (hmm) or fd0, fd1 (hmm2). */
  devices: readonly number[];
}

/** The kernel's variants, in its order. */
export const VARIANTS: readonly Variant[] = [
  { fixture: "hmm", name: "hmm_device_private", devices: [0] },
  { fixture: "hmm", name: "hmm_device_coherent", devices: [2] },
  { fixture: "hmm2", name: "hmm2_device_private", devices: [0, 1] },
  { fixture: "hmm2", name: "hmm2_device_coherent", devices: [2, 3] },
];

/** One test body (TEST_F) and its status here. */
export interface SelftestCase {
  fixture: FixtureName;
  /** The kernel's name (TEST_F's second argument), or a conformance case's. */
  name: string;
  /** kernel-tests.md §2 tags (CORE, FORK, MIG, THP…). */
  tags: readonly string[];
  /** The ported body, run once per variant. */
  body?: (self: Self) => Promise<void>;
  /** Why the body is not ported: the feature it needs and why that is not simulated. */
  skip?: string;
  /** What part of the body is not run, and why (the rest is ported and must pass). */
  partial?: string;
}

/** A case under one variant: one TAP line. */
export interface SelftestInstance {
  /** `hmm.hmm_device_private.anon_read`, as kselftest names it. */
  id: string;
  testCase: SelftestCase;
  variant: Variant;
}

/** The result of one instance. */
export interface SelftestOutcome {
  status: "pass" | "fail" | "skip";
  /** The skip reason, or why it failed. */
  reason?: string;
  /** Lines the case logged (kselftest's TH_LOG), printed as TAP diagnostics. */
  diagnostics: string[];
}

/** The kernel's FIXTURE(hmm) / FIXTURE(hmm2) state, and what its helpers need. */
export interface Self {
  kernel: Kernel;
  /** The test process's address space (`current->mm`). */
  mm: Mm;
  pageSize: number;
  pageShift: number;
  variant: Variant;
  /** The open device of fixture `hmm` (fixture `hmm2`: the same as fd0). */
  fd: Dmirror;
  fd0: Dmirror;
  /** The second device of fixture `hmm2` (undefined for `hmm`). */
  fd1: Dmirror | undefined;
  /** The machine's four devices: 0 and 1 device-private, 2 and 3 device-coherent. */
  devices: readonly DmirrorDevice[];
  /** `hmm_open(unit)`: opens `/dev/hmm_dmirror<unit>` on this process's address space. */
  open(unit: number): Promise<Dmirror>;
  /**
   * `fork()` then `waitpid()`: runs `child` as the child process (its own task, on the copied
   * address space, which exits when it returns) and returns once it exited. Throws if it failed.
   */
  fork(child: (self: Self) => Promise<void>): Promise<void>;
  /**
   * `fork()` alone: the child runs as its own task while the parent goes on; the returned process
   * is waited for with `waitpid()` (which throws if the child failed) and killed with `kill()`.
   */
  forkChild(child: (self: Self) => Promise<void>): Promise<ChildProcess>;
  /** In a child: sleeps until the parent kills it (the kernel tests' `while (1) {}` child). */
  waitForKill(): Promise<void>;
  /** `pthread_create`: starts `fn` in a task; the returned function joins it (and rethrows). */
  thread(name: string, fn: () => Promise<void>): () => Promise<void>;
  /** A seeded random number source for the case (the kernel test's `hmm_random`). */
  random: Rng;
  /** Logs a diagnostic line (printed as `# ...`). */
  log(message: string): void;
}

/** A child process started by `self.forkChild`. */
export interface ChildProcess {
  /** Its address space. */
  mm: Mm;
  /** `waitpid()`: returns once the child exited; throws if it failed. */
  waitpid(): Promise<void>;
  /** `kill(pid, SIGKILL)`: ends a child that waits for it (`waitForKill`). */
  kill(): void;
}

/** An assertion failed (kselftest's ASSERT_*). */
export class SelftestError extends Error {
  override readonly name = "SelftestError";
}

/** `ASSERT_EQ(actual, expected)`. */
export function assertEq(actual: unknown, expected: unknown, what: string): void {
  if (!Object.is(actual, expected) && actual !== expected) {
    throw new SelftestError(`${what}: expected ${String(expected)}, got ${String(actual)}`);
  }
}

/** ASSERT_EQ over every 32-bit word: word i of `words` must be `expected(i)`. */
export function assertWords(words: Int32Array, expected: (i: number) => number, what: string): void {
  for (let i = 0; i < words.length; i++) {
    const e = expected(i) | 0;
    if (words[i] !== e) throw new SelftestError(`${what}: word ${i} is ${words[i]}, expected ${e}`);
  }
}

/** `HMM_BUFFER_SIZE`: 4 MiB. */
export const HMM_BUFFER_SIZE = 1024 << 12;
/** `NTIMES`: rounds of the *_multiple and teardown tests. */
export const NTIMES = 10;
/** `read_pmd_pagesize()` on x86-64. */
export const PMD_SIZE = 2 * 1024 * 1024;
/** PROT_READ | PROT_WRITE. */
export const RW = PROT_READ | PROT_WRITE;

/** `ALIGN(HMM_BUFFER_SIZE, page_size) >> page_shift`. */
export function bufferPages(self: Self): number {
  const npages = Math.ceil(HMM_BUFFER_SIZE / self.pageSize);
  assertEq(npages !== 0, true, "npages != 0");
  return npages;
}

/** `hmm_is_coherent_type()`: the fixture's (first) device is a device-coherent one. */
export function isCoherent(self: Self): boolean {
  return (self.variant.devices[0] as number) >= 2;
}

/** The kernel test's `struct hmm_buffer`: a mapping, the "mirror" buffer, and the last cmd's outputs. */
export interface HmmBuffer {
  /** The mapping's address (`ptr`). */
  ptr: number;
  /** The user buffer the commands copy to or from (`mirror`). */
  mirror: Uint8Array;
  size: number;
  cpages: number;
  faults: number;
}

/** A buffer of `size` bytes at `ptr` with a mirror of `mirrorSize` bytes (default `size`). */
export function hmmBuffer(ptr: number, size: number, mirrorSize = size): HmmBuffer {
  return { ptr, mirror: new Uint8Array(mirrorSize), size, cpages: 0, faults: 0 };
}

/** `mirror` as 32-bit words. */
export function words(bytes: Uint8Array): Int32Array {
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
}

/**
 * `hmm_dmirror_cmd()`: runs `request` over `npages` pages at `buffer.ptr` with `buffer.mirror`;
 * returns 0 or the negative errno, and updates `cpages` / `faults` only on success.
 */
export async function hmmDmirrorCmd(
  fd: Dmirror,
  request: number,
  buffer: HmmBuffer,
  npages: number,
): Promise<number> {
  const r = await fd.ioctl(request, { addr: buffer.ptr, npages, buf: buffer.mirror });
  if (r.ret !== 0) return r.ret;
  buffer.cpages = r.cpages;
  buffer.faults = r.faults;
  return 0;
}

/** `mmap(NULL, size, prot, MAP_PRIVATE | MAP_ANONYMOUS)` and a mirror of `mirrorSize` bytes. */
export async function anonBuffer(
  self: Self,
  size: number,
  prot: number,
  mirrorSize = size,
): Promise<HmmBuffer> {
  const ptr = await self.mm.mmap({ length: size, prot });
  return hmmBuffer(ptr, size, mirrorSize);
}

/** `hmm_buffer_free()`. */
export async function hmmBufferFree(self: Self, buffer: HmmBuffer): Promise<void> {
  await self.mm.munmap(buffer.ptr, buffer.size);
}

/** `hmm_migrate_sys_to_dev()`. */
export function hmmMigrateSysToDev(fd: Dmirror, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, buffer, npages);
}

/** `hmm_migrate_dev_to_sys()`. */
export function hmmMigrateDevToSys(fd: Dmirror, buffer: HmmBuffer, npages: number): Promise<number> {
  return hmmDmirrorCmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, buffer, npages);
}

/** Writes `count` words `value(i)` at `addr` of `mm` (a CPU store loop, one `mm.write`). */
export async function storeWords(
  mm: Mm,
  addr: number,
  count: number,
  value: (i: number) => number,
): Promise<void> {
  const w = new Int32Array(count);
  for (let i = 0; i < count; i++) w[i] = value(i);
  await mm.write(addr, new Uint8Array(w.buffer));
}

/** Reads `count` words at `addr` of `mm` (a CPU load loop, one `mm.read`). */
export async function loadWords(mm: Mm, addr: number, count: number): Promise<Int32Array> {
  const b = await mm.read(addr, count * 4);
  return new Int32Array(b.buffer, b.byteOffset, count);
}

/** Fills `bytes` with words `value(i)`. */
export function fillWords(bytes: Uint8Array, value: (i: number) => number): void {
  const w = words(bytes);
  for (let i = 0; i < w.length; i++) w[i] = value(i);
}

/** Picks uniformly among the runnable tasks (the machine's "hardware" nondeterminism, seeded). */
class SeededChooser implements Chooser {
  constructor(private readonly rng: Rng) {}

  choose(enabled: readonly Task[]): number {
    return this.rng.int(enabled.length);
  }
}

/** Every case under every variant of its fixture, in kselftest's order (fixture, variant, test). */
export function instancesOf(cases: readonly SelftestCase[], variants = VARIANTS): SelftestInstance[] {
  const out: SelftestInstance[] = [];
  for (const fixture of ["hmm", "hmm2"] as const) {
    for (const variant of variants) {
      if (variant.fixture !== fixture) continue;
      for (const testCase of cases) {
        if (testCase.fixture === fixture) {
          out.push({ id: `${fixture}.${variant.name}.${testCase.name}`, testCase, variant });
        }
      }
    }
  }
  return out;
}

/** Options of {@link runSelftest}. */
export interface RunOptions {
  /** Seed of the scheduler's choices and of `self.random` (default 1). */
  seed?: number;
}

/** Runs one instance on a fresh machine (see the header). Never throws: failures are outcomes. */
export async function runSelftest(
  inst: SelftestInstance,
  options: RunOptions = {},
): Promise<SelftestOutcome> {
  const { testCase, variant } = inst;
  const diagnostics: string[] = [];
  if (testCase.body === undefined) {
    return { status: "skip", reason: testCase.skip ?? "not ported", diagnostics };
  }
  const body = testCase.body;
  const seed = options.seed ?? 1;
  const rng = new Rng(seed);
  const kernel = new Kernel({ runtime: "controlled", chooser: new SeededChooser(rng.fork()) });
  const devices = [0, 1, 2, 3].map(
    (n) => new DmirrorDevice(kernel, { name: `hmm_dmirror${n}`, memory: n < 2 ? "private" : "coherent" }),
  );
  const mm = kernel.createMm({ name: "hmm-tests" });
  let failure: unknown;
  kernel.spawn("main", async () => {
    const self = await fixtureSetup(kernel, mm, variant, devices, rng, diagnostics);
    try {
      await body(self);
    } catch (e) {
      failure = e;
    }
    // FIXTURE_TEARDOWN: close() must succeed.
    try {
      await self.fd0.close();
      await self.fd1?.close();
      await mm.exit();
    } catch (e) {
      failure ??= e;
    }
  });
  try {
    await kernel.run();
  } catch (e) {
    // run() rejects with the reports it found; they are listed below.
    if (kernel.reports.length === 0) failure ??= e;
  }
  const reasons: string[] = [];
  if (failure !== undefined) reasons.push(failure instanceof Error ? failure.message : String(failure));
  if (kernel.reports.length > 0) reasons.push(describeReports(kernel));
  if (reasons.length === 0) {
    const { inUse, deviceInUse } = kernel.physMem.stats();
    if (inUse !== 0) reasons.push(`${inUse} frame(s) still in use after the process exited`);
    if (deviceInUse !== 0) reasons.push(`${deviceInUse} device page(s) still in use after the files closed`);
  }
  if (reasons.length > 0) return { status: "fail", reason: reasons.join("\n"), diagnostics };
  if (testCase.partial !== undefined) diagnostics.push(`not run: ${testCase.partial}`);
  return { status: "pass", diagnostics };
}

/** The kernel's reports, the first few in full. */
function describeReports(kernel: Kernel): string {
  const rs = kernel.reports;
  const shown = rs.slice(0, 3).map((r) => `[${r.kind}] ${r.message}`);
  if (rs.length > shown.length) shown.push(`... and ${rs.length - shown.length} more report(s)`);
  return shown.join("\n");
}

/** FIXTURE_SETUP: opens the variant's devices on `mm`. */
async function fixtureSetup(
  kernel: Kernel,
  mm: Mm,
  variant: Variant,
  devices: readonly DmirrorDevice[],
  rng: Rng,
  diagnostics: string[],
): Promise<Self> {
  const ps = kernel.pageSize;
  const make = (procMm: Mm, fd0: Dmirror, fd1: Dmirror | undefined): Self => {
    const self: Self = {
      kernel,
      mm: procMm,
      pageSize: ps,
      pageShift: Math.log2(ps),
      variant,
      fd: fd0,
      fd0,
      fd1,
      devices,
      random: rng,
      open: (unit) => {
        const d = devices[unit];
        if (d === undefined) throw new MmunError("EINVAL", `hmm_open: no /dev/hmm_dmirror${unit}`);
        return d.open(procMm);
      },
      fork: async (child) => (await forkChild(self, child)).waitpid(),
      forkChild: (child) => forkChild(self, child),
      waitForKill: () => Promise.reject(new SelftestError("waitForKill outside a child process")),
      thread: (name, fn) => startThread(kernel, name, fn),
      log: (message) => diagnostics.push(message),
    };
    return self;
  };
  const [d0, d1] = variant.devices;
  const fd0 = await (devices[d0 as number] as DmirrorDevice).open(mm);
  const fd1 = d1 === undefined ? undefined : await (devices[d1] as DmirrorDevice).open(mm);
  return make(mm, fd0, fd1);
}

/** `fork()` (see Self.forkChild). The child inherits the parent's files, as after fork. */
async function forkChild(parent: Self, child: (self: Self) => Promise<void>): Promise<ChildProcess> {
  const k = parent.kernel;
  const childMm = await parent.mm.fork({ name: "hmm-tests-child" });
  const killed = k.completion("sigkill");
  const childSelf: Self = {
    ...parent,
    mm: childMm,
    open: (unit) => {
      const d = parent.devices[unit];
      if (d === undefined) throw new MmunError("EINVAL", `hmm_open: no /dev/hmm_dmirror${unit}`);
      return d.open(childMm);
    },
    waitForKill: async () => {
      const w = killed.wait();
      if (w !== undefined) await w;
    },
  };
  const join = startThread(k, "child", async () => {
    try {
      await child(childSelf);
    } finally {
      // _exit(), or the kill: the child's address space goes.
      await childMm.exit();
    }
  });
  return {
    mm: childMm,
    kill: () => killed.completeAll(),
    waitpid: async () => {
      try {
        await join();
      } catch (e) {
        throw new SelftestError(`the child process failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
  };
}

/** Starts `fn` as a task; the returned join waits for it and rethrows what it threw. */
function startThread(k: Kernel, name: string, fn: () => Promise<void>): () => Promise<void> {
  const done = k.completion(`${name}_exit`);
  let error: unknown;
  let failed = false;
  k.spawn(name, async () => {
    try {
      await fn();
    } catch (e) {
      failed = true;
      error = e;
    } finally {
      done.completeAll();
    }
  });
  return async () => {
    const w = done.wait();
    if (w !== undefined) await w;
    if (failed) throw error;
  };
}
