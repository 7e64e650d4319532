// Differential property test: random sequences of mmap, munmap, mprotect, madvise, mremap, fork,
// reclaim, CPU reads and writes, and exits of forked children run on the simulated address spaces and
// on a brute-force model (mmModel.ts) agree on every value returned, every byte read, every errno
// and every area; each mm's rss and swap entries match its page table after every step; and once
// every mm has exited, no frame or swap slot is left.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { countPtes, PAGE } from "./helpers.js";
import { ModelMm, ModelSpace, type Outcome } from "./mmModel.js";

/** Where fixed mappings go: far below the top-down area of non-fixed ones. */
const WINDOW = 2 ** 32;
const MAX_MMS = 4;

interface At {
  /** Which known address to start from (the window, or an address a call returned). */
  anchor: number;
  /** Pages from it. */
  page: number;
  /** Bytes added (rarely non-zero: an unaligned address). */
  skew: number;
}

type Op =
  | { t: "mmap"; mm: number; at: At; length: number; prot: number; shared: boolean; fixed: boolean }
  | { t: "munmap" | "madvise" | "reclaim"; mm: number; at: At; length: number }
  | { t: "mprotect"; mm: number; at: At; length: number; prot: number }
  | {
      t: "mremap";
      mm: number;
      at: At;
      oldLength: number;
      newLength: number;
      mayMove: boolean;
      dest: At | null;
    }
  | { t: "fork" | "exit"; mm: number }
  | { t: "read"; mm: number; at: At; length: number }
  | { t: "write"; mm: number; at: At; length: number; byte: number };

const at = (maxSkew = PAGE - 1): fc.Arbitrary<At> =>
  fc.record({
    anchor: fc.nat(7),
    page: fc.integer({ min: -2, max: 16 }),
    skew: fc.oneof(
      { weight: 15, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: maxSkew }) },
    ),
  });
const length = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => n * PAGE) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 * PAGE }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -PAGE, 2 ** 48) },
);
const prot = fc.oneof(
  { weight: 12, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.constant(8) },
);
const mm = fc.nat(MAX_MMS - 1);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("mmap" as const),
      mm,
      at: at(),
      length,
      prot,
      shared: fc.boolean(),
      fixed: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constantFrom("munmap" as const, "madvise" as const, "reclaim" as const),
      mm,
      at: at(),
      length,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("mprotect" as const), mm, at: at(), length, prot }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("mremap" as const),
      mm,
      at: at(),
      oldLength: length,
      newLength: length,
      mayMove: fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
      dest: fc.option(at(), { freq: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom("fork" as const, "exit" as const), mm }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("read" as const),
      mm,
      at: at(),
      length: fc.integer({ min: 0, max: PAGE + 64 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      mm,
      at: at(),
      length: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: PAGE + 16 })),
      byte: fc.integer({ min: 1, max: 255 }),
    }),
  },
);

/** The outcome of an implementation call: its value, or the errno name of the MmunError it threw. */
async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: await f() };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string") throw e;
    return { err: code };
  }
}

/** `expect(got).toEqual(want)`, comparing bytes first (vitest's deep equality of a typed array is slow). */
function expectSame(got: Outcome, want: Outcome, where: string): void {
  if ("ok" in got && "ok" in want && got.ok instanceof Uint8Array && want.ok instanceof Uint8Array) {
    if (Buffer.from(got.ok).equals(Buffer.from(want.ok))) return;
  }
  expect(got, where).toEqual(want);
}

function implAreas(m: Mm): string[] {
  return m.vmas.list.map(
    (v) => `[0x${v.start.toString(16)}, 0x${v.end.toString(16)}) ${v.prot}${v.shared ? "s" : "p"}`,
  );
}

/** Every run starts from two written areas in the window: 8 private pages, a gap, 4 shared pages. */
const PRELUDE: readonly Op[] = [
  {
    t: "mmap",
    mm: 0,
    at: { anchor: 0, page: 0, skew: 0 },
    length: 8 * PAGE,
    prot: 3,
    shared: false,
    fixed: true,
  },
  {
    t: "mmap",
    mm: 0,
    at: { anchor: 0, page: 10, skew: 0 },
    length: 4 * PAGE,
    prot: 3,
    shared: true,
    fixed: true,
  },
  { t: "write", mm: 0, at: { anchor: 0, page: 1, skew: 0 }, length: 2 * PAGE, byte: 0x11 },
  { t: "write", mm: 0, at: { anchor: 0, page: 11, skew: 0 }, length: PAGE, byte: 0x22 },
];

/**
 * Runs the prelude and `ops` on a fresh kernel and on the model, step by step, failing at the first disagreement
 * with the step and the op in the message.
 */
async function runDifferential(ops: readonly Op[]): Promise<void> {
  const k = new Kernel();
  const root = k.createMm({ name: "mm0" });
  const space = new ModelSpace(PAGE, root.taskSize);
  const mms: { impl: Mm; model: ModelMm }[] = [{ impl: root, model: new ModelMm(space) }];
  const anchors = [WINDOW];
  const addr = (a: At) => (anchors[a.anchor % anchors.length] as number) + a.page * PAGE + a.skew;
  for (const [step, op] of [...PRELUDE, ...ops].entries()) {
    const where = `step ${step}: ${JSON.stringify(op)}`;
    const target = mms[op.mm % mms.length] as { impl: Mm; model: ModelMm };
    const { impl, model } = target;
    let got: Outcome;
    let want: Outcome;
    switch (op.t) {
      case "mmap": {
        const o = { length: op.length, prot: op.prot, shared: op.shared, fixed: op.fixed };
        got = await outcome(() => impl.mmap(op.fixed ? { ...o, addr: addr(op.at) } : o));
        want = model.mmap({ ...o, addr: addr(op.at) });
        if (!op.fixed && "ok" in got) anchors.push(got.ok as number);
        break;
      }
      case "munmap":
        got = await outcome(() => impl.munmap(addr(op.at), op.length));
        want = model.munmap(addr(op.at), op.length);
        break;
      case "mprotect":
        got = await outcome(() => impl.mprotect(addr(op.at), op.length, op.prot));
        want = model.mprotect(addr(op.at), op.length, op.prot);
        break;
      case "madvise":
        got = await outcome(() => impl.madvise(addr(op.at), op.length, "dontneed"));
        want = model.madvise(addr(op.at), op.length);
        break;
      case "reclaim":
        got = await outcome(async () => void (await impl.reclaim(addr(op.at), op.length)));
        want = model.reclaim(addr(op.at), op.length);
        break;
      case "mremap": {
        const dest = op.dest === null ? undefined : addr(op.dest);
        const opts = dest === undefined ? { mayMove: op.mayMove } : { mayMove: op.mayMove, newAddr: dest };
        got = await outcome(() => impl.mremap(addr(op.at), op.oldLength, op.newLength, opts));
        want = model.mremap(addr(op.at), op.oldLength, op.newLength, op.mayMove, dest);
        if ("ok" in got && got.ok !== addr(op.at)) anchors.push(got.ok as number);
        break;
      }
      case "fork": {
        if (mms.length >= MAX_MMS) continue;
        const child = await impl.fork({ name: `mm${mms.length}` });
        mms.push({ impl: child, model: model.fork() });
        got = want = { ok: undefined };
        break;
      }
      case "exit": {
        if (target === mms[0]) continue;
        await impl.exit();
        mms.splice(mms.indexOf(target), 1);
        got = want = { ok: undefined };
        break;
      }
      case "read":
        got = await outcome(() => impl.read(addr(op.at), op.length));
        want = model.read(addr(op.at), op.length);
        break;
      case "write": {
        const bytes = new Uint8Array(op.length).fill(op.byte);
        got = await outcome(() => impl.write(addr(op.at), bytes));
        want = model.write(addr(op.at), bytes);
        break;
      }
    }
    expectSame(got, want, where);
    for (const m of mms) {
      expect(implAreas(m.impl), `${where}: the areas of ${m.impl.name}`).toEqual(m.model.areas());
      const { resident, swap } = countPtes(m.impl);
      expect({ rss: m.impl.rss, swap: m.impl.swapEntries }, `${where}: ${m.impl.name}'s counts`).toEqual({
        rss: resident,
        swap,
      });
    }
  }
  // Every byte of every mapped page agrees, then everything is given back.
  for (const m of mms) {
    for (const a of m.model.mapped()) {
      const where = `final read of ${m.impl.name} 0x${a.toString(16)}`;
      expectSame(await outcome(() => m.impl.read(a, PAGE)), m.model.read(a, PAGE), where);
    }
  }
  for (const m of mms.reverse()) await m.impl.exit();
  expect(k.physMem.stats()).toMatchObject({ inUse: 0, swapSlots: 0, withData: 0 });
}

describe("differential: the simulated address spaces against a brute-force model", () => {
  it("a child forked after an area moved sees the moved pages (shrunk counterexample: mremap lost the anon_vma)", async () => {
    await runDifferential([
      {
        t: "mremap",
        mm: 0,
        at: { anchor: 0, page: 0, skew: 0 },
        oldLength: 2 * PAGE,
        newLength: 2 * PAGE,
        mayMove: true,
        dest: { anchor: 0, page: 9, skew: 0 },
      },
      { t: "fork", mm: 0 },
    ]);
  });

  it("mprotect over a hole changes the areas before it, then fails with ENOMEM (Linux's do_mprotect_pkey)", async () => {
    await runDifferential([
      { t: "mprotect", mm: 0, at: { anchor: 0, page: 4, skew: 0 }, length: 10 * PAGE, prot: 1 },
      { t: "write", mm: 0, at: { anchor: 0, page: 5, skew: 0 }, length: 1, byte: 1 },
      { t: "write", mm: 0, at: { anchor: 0, page: 3, skew: 0 }, length: PAGE + 1, byte: 2 },
    ]);
  });

  it("agree on every value, byte, errno and area (fast-check seed 20, 150 runs of up to 40 calls)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 40, size: "max" }), (ops) => runDifferential(ops)),
      { seed: 20, numRuns: 150 },
    );
  });
});
