// Concurrent system calls, faults, reclaim and a mirroring device under the explorer keep memory
// consistent: after every execution each PTE maps a live frame (its object's, for shared memory),
// mapcounts, refcounts, rss and swap entries add up, no frame or swap slot is unreachable
// (invariants.ts), and every device translation agrees with the CPU's (the oracle checks each PTE
// change on the way).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import { defineScenario } from "../../src/explore/scenario.js";
import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_PRESENT, PTE_WRITE } from "../../src/mm/pageTable.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { createMirror, type Mirror, mirrorPage } from "../../src/scenarios/mm/deviceMirror.js";
import { PAGE } from "./helpers.js";
import { mmInvariants } from "./invariants.js";

const RW = PROT_READ | PROT_WRITE;

interface World {
  /** The parent and its child (forked in setup). */
  mms: Mm[];
  /** 4 private pages, shared with the child copy-on-write except page 1, which the child wrote. */
  a: number;
  /** 2 pages of shared memory, the first faulted in by both. */
  s: number;
  /** A device mirroring the parent around both areas (and where mremap moves pages), or none. */
  mirror: Mirror | null;
}

async function setup(k: Kernel, withMirror: boolean): Promise<World> {
  const mm = k.createMm({ name: "parent" });
  const a = await mm.mmap({ length: 4 * PAGE, prot: RW });
  const s = await mm.mmap({ addr: a - 16 * PAGE, length: 2 * PAGE, prot: RW, shared: true, fixed: true });
  await mm.write(a, new Uint8Array(4 * PAGE).fill(1));
  await mm.write(s, new Uint8Array(2 * PAGE).fill(2));
  const child = await mm.fork({ name: "child" });
  await child.write32(a + PAGE, 3);
  await child.read32(s);
  const mirror = withMirror ? await createMirror(k, mm, a - 128 * PAGE, 256 * PAGE) : null;
  return { mms: [mm, child], a, s, mirror };
}

function consistent(w: World, k: Kernel): true {
  const bad = mmInvariants(k, w.mms);
  const mm = w.mms[0] as Mm;
  for (const [addr, m] of w.mirror?.dev.entries(mm) ?? []) {
    const vpn = addr / PAGE;
    const fl = mm.pageTable.flagsAt(vpn);
    if (!(fl & PTE_PRESENT) || mm.pageTable.valAt(vpn) !== m.frame || (m.write && !(fl & PTE_WRITE))) {
      bad.push(`the device's translation of 0x${addr.toString(16)} is stale`);
    }
  }
  if (bad.length !== 0) throw new Error(bad.join("; "));
  return true;
}

type Kind =
  | "write"
  | "read"
  | "munmap"
  | "mprotect"
  | "madvise"
  | "reclaim"
  | "mremap"
  | "fork"
  | "oomReap"
  | "sharedWrite"
  | "sharedRead"
  | "sharedReclaim"
  | "sharedMadvise"
  | "mirrorWrite"
  | "mirrorRead"
  | "mirrorShared"
  | "deviceWrite";
interface Call {
  t: Kind;
  mm: number;
  page: number;
  pages: number;
  v: number;
}

/** Runs `c`; the errors a process may get from a racing change of its mappings are outcomes. */
async function call(w: World, c: Call): Promise<void> {
  const mm = w.mms[c.mm] as Mm;
  const mirror = w.mirror;
  if (mirror === null && c.t.startsWith("mirror")) return;
  const a = w.a + c.page * PAGE;
  const s = w.s + (c.page % 2) * PAGE;
  try {
    switch (c.t) {
      case "write":
        return void (await mm.write32(a, c.v + 100));
      case "read":
        return void (await mm.read32(a));
      case "munmap":
        return await mm.munmap(a, c.pages * PAGE);
      case "mprotect":
        return await mm.mprotect(a, c.pages * PAGE, c.v);
      case "madvise":
        return await mm.madvise(a, c.pages * PAGE, "dontneed");
      case "reclaim":
        return void (await mm.reclaim(w.a, 4 * PAGE));
      case "mremap":
        return void (await mm.mremap(a, c.pages * PAGE, c.pages * PAGE, {
          mayMove: true,
          newAddr: w.a - 64 * PAGE,
        }));
      case "fork": {
        const child = await mm.fork();
        try {
          await child.write32(a, 5);
          await child.read32(s);
        } finally {
          await child.exit();
        }
        return;
      }
      case "oomReap":
        return void (await mm.oomReap());
      case "sharedWrite":
        return void (await mm.write32(s, c.v + 200));
      case "sharedRead":
        return void (await mm.read32(s));
      case "sharedReclaim":
        return void (await mm.reclaim(w.s, 2 * PAGE));
      case "sharedMadvise":
        return await mm.madvise(s, PAGE, "dontneed");
      case "mirrorWrite":
        return void (await mirrorPage(mirror as Mirror, a, true));
      case "mirrorRead":
        return void (await mirrorPage(mirror as Mirror, a, false));
      case "mirrorShared":
        return void (await mirrorPage(mirror as Mirror, s, c.v % 2 === 0));
      case "deviceWrite": {
        if (mirror === null) return;
        const p = mirror.lock.lock();
        if (p !== undefined) await p;
        mirror.dev.write32(w.mms[0] as Mm, a, c.v);
        mirror.lock.unlock();
        return;
      }
    }
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== "EFAULT" && code !== "ENOMEM") throw e;
  }
}

const callArb: fc.Arbitrary<Call> = fc.record({
  t: fc.constantFrom<Kind>(
    "write",
    "read",
    "munmap",
    "mprotect",
    "madvise",
    "reclaim",
    "mremap",
    "fork",
    "oomReap",
    "sharedWrite",
    "sharedRead",
    "sharedReclaim",
    "sharedMadvise",
    "mirrorWrite",
    "mirrorRead",
    "mirrorShared",
    "deviceWrite",
  ),
  mm: fc.nat(1),
  page: fc.nat(3),
  pages: fc.integer({ min: 1, max: 2 }),
  v: fc.nat(3),
});

function scenario(name: string, tasks: Call[][], withMirror: boolean) {
  return defineScenario({
    name,
    description: "random calls racing on a parent and its child",
    setup: (k: Kernel) => setup(k, withMirror),
    tasks: Object.fromEntries(
      tasks.map((calls, i) => [
        `t${i}`,
        async (w: World) => {
          for (const c of calls) await call(w, c);
        },
      ]),
    ),
    check: consistent,
  });
}

describe("concurrent calls keep memory consistent", () => {
  it("a shared-memory fault racing reclaim of the page never maps a freed frame (DFS, exhaustive)", async () => {
    const s = defineScenario({
      name: "mm-test/shared-fault-vs-reclaim",
      description:
        "the parent faults a shared page back in while reclaim, through the child's mapping, swaps it out",
      async setup(k: Kernel) {
        const w = await setup(k, false);
        await w.mms[0]?.madvise(w.s, PAGE, "dontneed");
        return w;
      },
      tasks: {
        faulter: (w: World) => call(w, { t: "sharedWrite", mm: 0, page: 0, pages: 1, v: 9 }),
        reclaimer: (w: World) => call(w, { t: "sharedReclaim", mm: 1, page: 0, pages: 1, v: 0 }),
      },
      check: consistent,
    });
    const r = await explore(s, { strategy: "dfs" });
    expect(r.failures.map((f) => f.message)).toEqual([]);
    expect(r.stats.exhausted).toBe(true);
  });

  it("reclaim racing munmap of a page it already swapped out in one mm keeps the swap slot for the others (DFS, exhaustive)", async () => {
    const s = scenario(
      "mm-test/reclaim-vs-munmap",
      [[{ t: "reclaim", mm: 0, page: 0, pages: 1, v: 0 }], [{ t: "munmap", mm: 0, page: 2, pages: 2, v: 0 }]],
      false,
    );
    const r = await explore(s, { strategy: "dfs" });
    expect(r.failures.map((f) => f.message)).toEqual([]);
    expect(r.stats.exhausted).toBe(true);
  });

  it("random mixes of 2-3 tasks of 1-3 calls each, the device's included (fast-check seed 20, 40 mixes x 25 random schedules)", async () => {
    const mixes = fc.sample(
      fc.array(fc.array(callArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
      {
        seed: 20,
        numRuns: 40,
      },
    );
    for (const [i, tasks] of mixes.entries()) {
      const r = await explore(scenario(`mm-test/mix-${i}`, tasks, true), {
        strategy: "random",
        seed: i,
        executions: 25,
      });
      expect(r.failures.map((f) => `${JSON.stringify(tasks)}: ${f.kind}: ${f.message}`)).toEqual([]);
    }
  });
});
