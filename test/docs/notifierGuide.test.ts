// The example of docs/notifier.md, run as written (so the guide cannot drift from the code).

import { describe, expect, it } from "vitest";
import { Kernel, MmuIntervalNotifier, MmuNotifierEvent, mmuNotifierRangeInit } from "../../src/index.js";

describe("docs/notifier.md", () => {
  it("the driver example mirrors a range, is invalidated, and removes its notifier", async () => {
    const kernel = new Kernel();
    const mm = kernel.createMm();
    const ptLock = kernel.mutex("driver_pt_lock");
    const device = new Map<number, number>();
    const cpu = new Map<number, number>([
      [0x10000, 7],
      [0x11000, 8],
    ]);
    const lookUpCpuPages = () => [...cpu];

    const sub = await MmuIntervalNotifier.insert(mm, 0x10000, 0x4000, {
      name: "mydev",
      async invalidate(sub, range, curSeq) {
        if (!range.blockable) return false;
        await ptLock.lock();
        sub.setSeq(curSeq);
        for (const va of device.keys()) if (va >= range.start && va < range.end) device.delete(va);
        ptLock.unlock();
        return true;
      },
    });

    for (;;) {
      const seq = await sub.readBegin();
      const pages = lookUpCpuPages();
      await ptLock.lock();
      if (sub.readRetry(seq)) {
        ptLock.unlock();
        continue;
      }
      for (const [va, pfn] of pages) device.set(va, pfn);
      ptLock.unlock();
      break;
    }
    expect([...device]).toEqual([
      [0x10000, 7],
      [0x11000, 8],
    ]);

    const range = mmuNotifierRangeInit(MmuNotifierEvent.UNMAP, mm, 0x10000, 0x12000);
    await mm.notifiers.invalidateRangeStart(range);
    expect(device.size).toBe(0);
    await mm.notifiers.invalidateRangeEnd(range);
    expect(mm.notifiers.state().invalidateSeq).toBe(4);

    await sub.remove();
    expect(mm.notifiers.state().tree).toEqual([]);
    expect(kernel.reports).toEqual([]);
  });
});
