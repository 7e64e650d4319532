// A long trace for the page's speed: a device mirroring 16 pages with the canonical retry loop while
// the process write-protects, unprotects and discards them, recorded until it passes `minSteps`.

import { Kernel } from "../../src/mm/kernel.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { createMirror, mirrorPage } from "../../src/scenarios/mm/deviceMirror.js";
import type { Trace } from "../../src/trace/schema.js";

export async function bigTrace(minSteps: number): Promise<Trace> {
  const k = new Kernel({ trace: true });
  const mm = k.createMm({ name: "app" });
  const pages = 16;
  const len = pages * k.pageSize;
  const addr = await mm.mmap({ length: len, prot: PROT_READ | PROT_WRITE });
  const m = await createMirror(k, mm, addr, len);
  let done = false;
  k.spawn("device", async () => {
    for (let i = 0; !done; i++) {
      await mirrorPage(m, addr + (i % pages) * k.pageSize, i % 3 === 0);
      await k.point("next page"); // the direct scheduler switches tasks only when one yields or waits
    }
  });
  k.spawn("cpu", async () => {
    for (let i = 0; k.step < minSteps; i++) {
      const page = addr + (i % pages) * k.pageSize;
      if (i % 4 === 0) await mm.write32(page, i);
      else if (i % 4 === 1) await mm.mprotect(addr, len, PROT_READ);
      else if (i % 4 === 2) await mm.mprotect(addr, len, PROT_READ | PROT_WRITE);
      else await mm.madvise(page, k.pageSize, "dontneed");
      await k.point("next round");
    }
    done = true;
  });
  await k.run();
  const trace = k.trace?.toJSON();
  if (trace === undefined) throw new Error("no trace");
  trace.meta.scenario = `generated: ${minSteps} steps`;
  return trace;
}
