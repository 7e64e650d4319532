// Device memory against a model (fast-check): random sequences of CPU reads and writes, dmirror
// MIGRATE_TO_DEV / MIGRATE_TO_SYS / EXCLUSIVE / READ on two device-private devices and a
// device-coherent one, long-term pins, RELEASE, fork and the children's writes and exits. Whatever the
// order, every value the CPU or a device reads is the last one written in that address space (a word
// per page, copy on write after fork), each command answers one of its legal errnos, the page tables,
// reverse maps and counters stay consistent after every step, and once the files are closed and every
// process is gone no frame and no device page is left.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DmirrorDevice } from "../../src/drivers/dmirror/device.js";
import type { Dmirror } from "../../src/drivers/dmirror/mirror.js";
import { FOLL_LONGTERM, FOLL_WRITE, pinUserPagesFast, unpinUserPages } from "../../src/hmm/gup.js";
import { ENOENT } from "../../src/lib/errno.js";
import { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PROT_READ, PROT_WRITE } from "../../src/mm/vma.js";
import { mmInvariants } from "../mm/invariants.js";

const PS = 4096;
const PAGES = 6;
const SEED = 25;

type Op =
  | { t: "write"; proc: number; page: number; value: number }
  | { t: "read"; proc: number; page: number }
  | { t: "toDev" | "toSys" | "exclusive" | "devRead"; dev: number; page: number; n: number }
  | { t: "pin"; page: number; n: number }
  | { t: "release"; dev: number }
  | { t: "fork" | "exit"; proc: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant("write" as const),
      proc: fc.nat(2),
      page,
      value: fc.integer({ min: 1, max: 1e6 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("read" as const), proc: fc.nat(2), page }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constantFrom("toDev" as const, "toSys" as const, "exclusive" as const, "devRead" as const),
      dev: fc.nat(2),
      page,
      n: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("pin" as const), page, n: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("release" as const), dev: fc.nat(2) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constantFrom("fork" as const, "exit" as const), proc: fc.nat(2) }),
  },
);

interface Proc {
  mm: Mm;
  /** Word 0 of each page, as this process last wrote it (or inherited it). */
  model: number[];
}

async function run(ops: readonly Op[]): Promise<void> {
  const k = new Kernel();
  const parent: Proc = { mm: k.createMm({ name: "parent" }), model: new Array(PAGES).fill(0) };
  const { mm } = parent;
  const devices = [
    new DmirrorDevice(k, { memory: "private", chunkPages: 4 }),
    new DmirrorDevice(k, { memory: "private", chunkPages: 4 }),
    new DmirrorDevice(k, { memory: "coherent", chunkPages: 4 }),
  ];
  const mirrors: Dmirror[] = [];
  for (const d of devices) mirrors.push(await d.open(mm));
  const addr = await mm.mmap({ length: PAGES * PS, prot: PROT_READ | PROT_WRITE });
  const procs: Proc[] = [parent];
  const words = (buf: Uint8Array) => new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const expectDevice = (buf: Uint8Array, first: number, n: number, what: string) => {
    const w = words(buf);
    for (let i = 0; i < n; i++)
      expect(w[(i * PS) / 4], `${what}: page ${first + i}`).toBe(parent.model[first + i]);
  };
  for (const o of ops) {
    switch (o.t) {
      case "write": {
        const p = procs[o.proc % procs.length] as Proc;
        await p.mm.write32(addr + o.page * PS, o.value);
        p.model[o.page] = o.value;
        break;
      }
      case "read": {
        const p = procs[o.proc % procs.length] as Proc;
        expect(await p.mm.read32(addr + o.page * PS), `${p.mm.name} page ${o.page}`).toBe(p.model[o.page]);
        break;
      }
      case "toDev":
      case "toSys":
      case "exclusive":
      case "devRead": {
        const m = mirrors[o.dev] as Dmirror;
        const n = Math.min(o.n, PAGES - o.page);
        const at = addr + o.page * PS;
        const buf = new Uint8Array(n * PS);
        if (o.t === "toSys") {
          expect((await m.migrateToSys(at, n)).ret).toBe(0);
          break;
        }
        const r =
          o.t === "toDev"
            ? await m.migrateToDev(at, n, buf)
            : o.t === "exclusive"
              ? await m.exclusive(at, n, buf)
              : await m.read(at, n, buf);
        // MIGRATE_TO_DEV: -ENOENT when a page is on another device, or pinned; the others succeed.
        if (o.t === "toDev" && r.ret === -ENOENT) break;
        expect(r.ret, `${o.t} on device ${o.dev}`).toBe(0);
        expectDevice(buf, o.page, n, `${o.t} on device ${o.dev}`);
        break;
      }
      case "pin": {
        const n = Math.min(o.n, PAGES - o.page);
        const pins: number[] = [];
        expect(await pinUserPagesFast(mm, addr + o.page * PS, n, FOLL_WRITE | FOLL_LONGTERM, pins)).toBe(n);
        for (const f of pins) expect(k.physMem.isDevice(f)).toBe(false);
        unpinUserPages(k, pins);
        break;
      }
      case "release":
        expect((await (mirrors[o.dev] as Dmirror).release()).ret).toBe(0);
        break;
      case "fork":
        if (procs.length < 3) {
          const from = procs[o.proc % procs.length] as Proc;
          procs.push({ mm: await from.mm.fork({ name: `child${procs.length}` }), model: [...from.model] });
        }
        break;
      case "exit":
        if (procs.length > 1) {
          const [child] = procs.splice(1 + (o.proc % (procs.length - 1)), 1);
          await (child as Proc).mm.exit();
        }
        break;
    }
    expect(
      mmInvariants(
        k,
        procs.map((p) => p.mm),
      ),
    ).toEqual([]);
  }
  for (const p of procs) {
    for (let i = 0; i < PAGES; i++) expect(await p.mm.read32(addr + i * PS)).toBe(p.model[i]);
  }
  for (const m of mirrors) await m.close();
  for (const p of procs) await p.mm.exit();
  expect(k.physMem.stats()).toMatchObject({ inUse: 0, deviceInUse: 0, swapSlots: 0 });
}

describe("device memory against a model", () => {
  it(`keeps every address space's data and every count through random migrations, pins, forks and writes (fast-check seed ${SEED}, 300 runs of 5 to 40 steps)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40, size: "max" }), (ops) => run(ops)),
      { seed: SEED, numRuns: 300 },
    );
  }, 120_000);
});
