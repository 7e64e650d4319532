// The world of a pattern scenario and the scenario factories: a process (workloads.ts), a driver of
// one of the three patterns (or a broken variant of it) mirroring its buffer, the device's own
// task(s), and one workload racing them. Each pattern's file names its scenarios; drivers/broken/'s
// variants reuse the same factories with their driver class.

import type { CmdqMirror } from "../../drivers/patterns/cmdq.js";
import {
  type AccessResult,
  type FaultingMirror,
  MirrorDevice,
  type MirrorRangeSpec,
} from "../../drivers/patterns/device.js";
import type { FenceDriver, GpuJob, UserptrBo } from "../../drivers/patterns/fence.js";
import { defineScenario, type ExpectedOutcome, type Scenario } from "../../explore/scenario.js";
import type { Kernel } from "../../mm/kernel.js";
import type { Mm } from "../../mm/mm.js";
import {
  createProcess,
  DEVICE_VALUE,
  deviceAccesses,
  legalOutcome,
  type ProcessWorld,
  type Workload,
} from "./workloads.js";

/** How a scenario is to be judged and explored (`defineScenario`'s fields). */
export interface Judged {
  expect: ExpectedOutcome;
  /** DFS preemption bound for `mmun demo` (default 2). */
  preemptionBound?: number;
  /** The module that exports the scenario (`import.meta.url`). */
  module: string;
}

/** How to open a driver of a pattern class (the class itself: `PtlockMirror`, a broken subclass…). */
type Opener<D, O> = { open(kernel: Kernel, mm: Mm, options: O): Promise<D> };

// ---- ptlock (and every driver whose device faults through it) ----

/** A driver whose device faults through it, and which lets go of the address space on `close`. */
export interface FaultingDriver extends FaultingMirror {
  close(): Promise<void>;
}

/** A process, a mirror of its buffer, and the device faulting through it. */
export interface PtlockWorld<D extends FaultingDriver = FaultingDriver> extends ProcessWorld {
  driver: D;
  device: MirrorDevice;
}

/** The buffer as one range, or as one range per page (several notifiers under one lock). */
function ranges(p: ProcessWorld, k: Kernel, perPage: boolean): MirrorRangeSpec[] {
  if (!perPage) return [{ start: p.addr, length: p.size }];
  const out: MirrorRangeSpec[] = [];
  for (let a = p.addr; a < p.addr + p.size; a += k.pageSize) out.push({ start: a, length: k.pageSize });
  return out;
}

/**
 * `<prefix>/vs-<workload>`: the device (task "gpu": its accesses, then the driver's close) racing
 * `wl` (task named after it).
 */
export function ptlockScenario<D extends FaultingDriver>(
  name: string,
  description: string,
  Driver: Opener<D, { ranges: MirrorRangeSpec[] }>,
  wl: Workload,
  judged: Judged,
  options: { perPage?: boolean; setup?: (w: PtlockWorld<D>, k: Kernel) => void } = {},
): Scenario<PtlockWorld<D>, Kernel> {
  return defineScenario<PtlockWorld<D>, Kernel>({
    name,
    description,
    async setup(k) {
      const p = await createProcess(k);
      const driver = await Driver.open(k, p.mm, { ranges: ranges(p, k, options.perPage === true) });
      // Spelled out, not `{ ...p, driver, device }`: V8 gave every world made by that spread a hidden
      // class of its own, so each property load on a world went megamorphic and the explorer ran
      // ptlock/vs-munmap at about two thirds of this speed ("Object spread" in docs/performance.md).
      const w = { mm: p.mm, addr: p.addr, size: p.size, driver, device: new MirrorDevice(driver) };
      options.setup?.(w, k);
      return w;
    },
    tasks: {
      async gpu(w, k) {
        await w.device.run(deviceAccesses(w, k));
        await w.driver.close();
      },
      [wl.name]: (w: PtlockWorld<D>, k: Kernel) => wl.run(w, k),
    },
    check: legalOutcome(wl, (w: PtlockWorld<D>) => w.device.results),
    preemptionBound: 2,
    ...judged,
  });
}

// ---- cmdq ----

/** A process, an ODP mirror of its buffer, and the NIC's data path faulting through it. */
export interface CmdqWorld<D extends CmdqMirror = CmdqMirror> extends ProcessWorld {
  driver: D;
  device: MirrorDevice;
}

/**
 * `<prefix>/vs-<workload>`: the NIC's data path (task "rdma": its accesses, then the region's
 * deregistration), its command processor (task "hca") and `wl`.
 */
export function cmdqScenario<D extends CmdqMirror>(
  name: string,
  description: string,
  Driver: Opener<D, { regions: MirrorRangeSpec[] }>,
  wl: Workload,
  judged: Judged,
): Scenario<CmdqWorld<D>, Kernel> {
  return defineScenario<CmdqWorld<D>, Kernel>({
    name,
    description,
    async setup(k) {
      const p = await createProcess(k);
      const driver = await Driver.open(k, p.mm, { regions: [{ start: p.addr, length: p.size }] });
      return { mm: p.mm, addr: p.addr, size: p.size, driver, device: new MirrorDevice(driver) };
    },
    tasks: {
      async rdma(w, k) {
        await w.device.run(deviceAccesses(w, k));
        await w.driver.close();
      },
      hca: (w: CmdqWorld<D>) => w.driver.queue.serve(),
      [wl.name]: (w: CmdqWorld<D>, k: Kernel) => wl.run(w, k),
    },
    check: legalOutcome(wl, (w: CmdqWorld<D>) => w.device.results),
    preemptionBound: 2,
    ...judged,
  });
}

// ---- fence ----

/** A process, a GPU with one user-pointer buffer over each of its pages, and the job's outcome. */
export interface FenceWorld<D extends FenceDriver = FenceDriver> extends ProcessWorld {
  driver: D;
  /** What `exec` returned for the write job, then the read job. */
  jobs: (GpuJob | number)[];
}

/**
 * The jobs' outcome as the device accesses of `legalOutcome`: the write job (DEVICE_VALUE to the
 * first buffer), then the read job of the second buffer.
 */
function jobResults(w: FenceWorld): AccessResult[] {
  return w.jobs.map((j, i) =>
    typeof j === "number"
      ? { ret: j, value: undefined }
      : { ret: 0, value: i === 0 ? undefined : (j.reads[0] as number) },
  );
}

/**
 * `<prefix>/vs-<workload>`: the process submitting two GPU jobs (task "app": a write job over the
 * first buffer, a read job over the second, each waited for, then the driver's close), the GPU
 * scheduler (task "sched") and `wl`.
 */
export function fenceScenario<D extends FenceDriver>(
  name: string,
  description: string,
  Driver: Opener<D, { bos: MirrorRangeSpec[] }>,
  wl: Workload,
  judged: Judged,
): Scenario<FenceWorld<D>, Kernel> {
  return defineScenario<FenceWorld<D>, Kernel>({
    name,
    description,
    async setup(k) {
      const p = await createProcess(k);
      const driver = await Driver.open(k, p.mm, { bos: ranges(p, k, true) });
      return { mm: p.mm, addr: p.addr, size: p.size, driver, jobs: [] };
    },
    tasks: {
      async app(w) {
        const [first, second] = w.driver.bos as [UserptrBo, UserptrBo];
        w.jobs.push(await w.driver.exec([first], true, DEVICE_VALUE));
        w.jobs.push(await w.driver.exec([second], false));
        await w.driver.close();
      },
      sched: (w: FenceWorld<D>) => w.driver.scheduler.run(),
      [wl.name]: (w: FenceWorld<D>, k: Kernel) => wl.run(w, k),
    },
    check: legalOutcome(wl, jobResults),
    preemptionBound: 2,
    ...judged,
  });
}
