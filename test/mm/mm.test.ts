// The address space as far as the notifier needs it: users and structural references, teardown.

import { describe, expect, it } from "vitest";
import * as root from "../../src/index.js";
import { MmunError } from "../../src/lib/errno.js";
import { Kernel } from "../../src/mm/kernel.js";
import { MmuNotifier } from "../../src/notifier/classicNotifier.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { SyncKernel } from "../../src/sync/syncKernel.js";

describe("Mm", () => {
  it("createMm gives an mm with one user, one structural reference, an mmap_lock and no subscriptions", () => {
    const k = new Kernel();
    const mm = k.createMm();
    const named = k.createMm({ name: "firefox" });
    expect(mm.users).toBe(1);
    expect(mm.count).toBe(1);
    expect(mm.kernel).toBe(k);
    expect(mm.mmapLock.name).toBe("mmap_lock");
    expect(mm.notifiers.mm).toBe(mm);
    expect(mm.notifiers.state()).toMatchObject({ present: false, invalidateSeq: 2 });
    expect(named.name).toBe("firefox");
    expect(mm.name).not.toBe(named.name);
  });

  it("the last mmput tears the mm down once: notifiers get their release and the users' reference is dropped", async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const events: string[] = [];
    await mm.notifiers.register(new MmuNotifier({ release: () => void events.push("release") }));
    const sub = await MmuIntervalNotifier.insert(mm, 0, 0x1000, {
      invalidate(s, r, cur) {
        events.push(`invalidate ${r.event}`);
        s.setSeq(cur);
        return true;
      },
    });
    expect(mm.count).toBe(3);
    mm.mmget();
    expect(mm.mmput()).toBeUndefined();
    expect(events).toEqual([]);
    await mm.mmput();
    expect(mm.users).toBe(0);
    expect(events).toEqual(["invalidate 5", "release"]);
    expect(mm.count).toBe(2);
    await sub.remove();
    expect(mm.count).toBe(1);
  });

  it("mmgetNotZero fails on a dead mm; mmget, an extra mmput or mmdrop on it are misuse", async () => {
    const k = new Kernel();
    const mm = k.createMm();
    expect(mm.mmgetNotZero()).toBe(true);
    await mm.mmput();
    await mm.mmput();
    expect(mm.mmgetNotZero()).toBe(false);
    expect(() => mm.mmget()).toThrow(MmunError);
    await expect(mm.mmput()).rejects.toThrow(MmunError);
    expect(mm.count).toBe(0);
    expect(() => mm.mmdrop()).toThrow(MmunError);
    expect(() => mm.mmgrab()).toThrow(MmunError);
  });

  it("freeing an mm with a classic notifier still linked is warned (the kernel's BUG_ON)", () => {
    const k = new Kernel();
    const mm = k.createMm();
    // Simulate a leaked registration: a linked notifier without its reference.
    mm.notifiers.classic = [new MmuNotifier({})];
    mm.mmdrop();
    expect(k.reports.map((r) => r.kind)).toEqual(["warn"]);
  });

  it("the package root exports the mm-layer Kernel, which extends SyncKernel", () => {
    expect(root.Kernel).toBe(Kernel);
    const k = new root.Kernel();
    expect(k).toBeInstanceOf(SyncKernel);
    expect(typeof k.createMm).toBe("function");
    expect(root.MmuIntervalNotifier).toBe(MmuIntervalNotifier);
    expect(root.MmuNotifierEvent.EXCLUSIVE).toBe(7);
  });
});
