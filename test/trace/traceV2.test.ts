import { describe, expect, it } from "vitest";
import { Kernel } from "../../src/mm/kernel.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { readTrace } from "../../src/trace/read.js";
import { TRACE_VERSION, type TraceEvent } from "../../src/trace/schema.js";
import { counterexample } from "../web/traces.js";

describe("trace format version 2", () => {
  it("a counterexample's trace records the address space, the device and the notifier protocol as data", async () => {
    const f = await counterexample("mm/mirror-zaps-only-unmap");
    const t = readTrace(JSON.parse(JSON.stringify(f.trace)));
    expect(t.version).toBe(TRACE_VERSION);
    const of = (kind: TraceEvent["kind"]) => t.events.filter((e) => e.kind === kind);
    const mm = t.objects.find((o) => o.type === "mm")?.id;
    expect(of("vmas").map((e) => e.areas?.map((a) => a.prot))).toEqual([["rw-p"], ["r--p"]]);
    expect(of("pte").map((e) => e.detail)).toEqual(["present write dirty young", "present dirty young"]);
    expect(of("interval")).toEqual([expect.objectContaining({ detail: "in-tree", mm })]);
    expect(of("read_begin").map((e) => e.value)).toEqual([1]);
    expect(of("read_retry").map((e) => [e.value, e.detail])).toEqual([[1, "ok"]]);
    expect(of("dev_map")).toEqual([expect.objectContaining({ value: 1, detail: "write", mm })]);
    const [start] = of("inv_start");
    expect(start).toMatchObject({
      detail: "PROTECTION_VMA",
      mm,
      task: t.tasks.find((x) => x.name === "mprotect")?.id,
    });
    expect(of("callback")).toEqual([
      expect.objectContaining({ value: 3, addr: start?.addr, end: start?.end }),
    ]);
    expect(of("inv_end")).toHaveLength(1);
  });

  it("a zap records every cleared PTE, and the zero page and read-only states are named", async () => {
    const k = new Kernel({ trace: true });
    const mm = k.createMm({ name: "app" });
    const addr = await mm.mmap({ length: 2 * 4096, prot: PROT_READ | PROT_WRITE });
    await mm.read32(addr);
    await mm.write32(addr + 4096, 7);
    await mm.munmap(addr, 2 * 4096);
    const ptes = k.trace?.toJSON().events.filter((e) => e.kind === "pte") ?? [];
    expect(ptes.map((e) => [e.addr, e.detail])).toEqual([
      [addr, "present young zero"],
      [addr + 4096, "present write dirty young"],
      [addr, "none"],
      [addr + 4096, "none"],
    ]);
  });

  it("an untraced kernel records nothing", async () => {
    const k = new Kernel();
    const mm = k.createMm();
    const addr = await mm.mmap({ length: 4096, prot: PROT_READ | PROT_WRITE });
    await mm.write32(addr, 1);
    expect(k.trace).toBeNull();
  });
});
