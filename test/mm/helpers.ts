// Shared helpers of the address-space tests: a kernel with one mm, notifiers that record every
// invalidation with the mmap lock mode held while it runs, and snapshots of an mm's areas.

import { expect } from "vitest";
import { Kernel, type KernelOptions } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { PTE_DEVICE_ENTRY, PTE_PRESENT, PTE_PROTNONE, PTE_SWAP } from "../../src/mm/pageTable.js";
import { ZERO_FRAME } from "../../src/mm/physMem.js";
import { MmuNotifier } from "../../src/notifier/classicNotifier.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { MMU_NOTIFIER_EVENT_NAMES, type MmuNotifierRange } from "../../src/notifier/range.js";

export const PAGE = 4096;

/** A direct-runtime kernel and one mm. */
export function world(options: KernelOptions = {}): { k: Kernel; mm: Mm } {
  const k = new Kernel({ runtime: "direct", ...options });
  return { k, mm: k.createMm({ name: "mm" }) };
}

/** The mmap lock mode the caller holds on `mm`. */
export type LockMode = "write" | "read" | "none";

function lockMode(mm: Mm): LockMode {
  if (mm.mmapLock.isWriteLockedByMe()) return "write";
  return mm.mmapLock.isReadLockedByMe() ? "read" : "none";
}

/** One invalidation as a notifier saw it: `UNMAP [0x1000, 0x3000) blockable write`. */
export interface Seen {
  op: "start" | "end" | "invalidate";
  event: string;
  start: number;
  end: number;
  blockable: boolean;
  lock: LockMode;
  /** The mm the range is of (fork's child never gets one). */
  mm: string;
}

function seen(op: Seen["op"], r: MmuNotifierRange, mm: Mm): Seen {
  return {
    op,
    event: MMU_NOTIFIER_EVENT_NAMES[r.event] ?? String(r.event),
    start: r.start,
    end: r.end,
    blockable: r.blockable,
    lock: lockMode(mm),
    mm: r.mm.name,
  };
}

/** Registers a classic notifier on `mm` that records every start and end. */
export async function classicRecorder(mm: Mm): Promise<Seen[]> {
  const log: Seen[] = [];
  await mm.notifiers.register(
    new MmuNotifier({
      name: "recorder",
      invalidateRangeStart(_sub, r) {
        log.push(seen("start", r, mm));
        return 0;
      },
      invalidateRangeEnd(_sub, r) {
        log.push(seen("end", r, mm));
      },
    }),
  );
  return log;
}

/** Inserts an interval notifier over `[start, start + length)` of `mm` that records its invalidations. */
export async function intervalRecorder(
  mm: Mm,
  start: number,
  length: number,
): Promise<{ log: Seen[]; sub: MmuIntervalNotifier<Mm> }> {
  const log: Seen[] = [];
  const sub = await MmuIntervalNotifier.insert(mm, start, length, {
    name: "interval-recorder",
    invalidate(s, r, cur) {
      log.push(seen("invalidate", r, mm));
      s.setSeq(cur);
      return true;
    },
  });
  return { log, sub };
}

/** The starts of `log` as `EVENT [start, end) blockable lock` strings, relative to `base`. */
export function starts(log: readonly Seen[], base = 0): string[] {
  return log.filter((s) => s.op !== "end").map((s) => describe(s, base));
}

export function describe(s: Seen, base = 0): string {
  const rel = (n: number) => (n >= base ? `+0x${(n - base).toString(16)}` : `0x${n.toString(16)}`);
  return `${s.event} [${rel(s.start)}, ${rel(s.end)}) ${s.blockable ? "blockable" : "non-blocking"} ${s.lock}`;
}

/** The areas of `mm` as `[start, end) prot shared` strings, relative to `base`. */
export function vmaList(mm: Mm, base = 0): string[] {
  return mm.vmas.list.map(
    (v) =>
      `[+0x${(v.start - base).toString(16)}, +0x${(v.end - base).toString(16)}) ${v.prot}${v.shared ? "s" : "p"}`,
  );
}

/** A page-sized buffer filled with `byte`. */
export function pageOf(byte: number, length = PAGE): Uint8Array {
  return new Uint8Array(length).fill(byte);
}

/** `expect(got).toEqual(want)` for bytes, quick when they agree (vitest's deep equality walks a typed array element by element). */
export function expectBytes(got: Uint8Array, want: Uint8Array): void {
  if (
    Buffer.from(got.buffer, got.byteOffset, got.length).equals(
      Buffer.from(want.buffer, want.byteOffset, want.length),
    )
  ) {
    return;
  }
  expect(got).toEqual(want);
}

/** The error an async call rejects (or throws) with; fails when it resolves. */
export async function rejection(f: () => unknown): Promise<{ code?: string; message: string }> {
  try {
    await f();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

/** Resident (non-zero-page) PTEs and swap entries of `mm`, counted from its page table. */
export function countPtes(mm: Mm): { resident: number; swap: number } {
  let resident = 0;
  let swap = 0;
  mm.pageTable.forEachLeaf(0, Math.ceil(mm.taskSize / PAGE), (leaf, _base, from, to) => {
    for (let j = from; j < to; j++) {
      const fl = leaf.flags[j] as number;
      if (fl & (PTE_PRESENT | PTE_PROTNONE | PTE_DEVICE_ENTRY) && leaf.val[j] !== ZERO_FRAME) resident++;
      else if (fl & PTE_SWAP) swap++;
    }
  });
  return { resident, swap };
}
