// The address space in the trace (format version 2, docs/trace-format.md): the areas after each change
// and every CPU PTE change, which the visualizer draws on the address axis beside the devices' page
// tables. Callers test `kernel.trace !== null` first: nothing here runs untraced.

import { recordEvent } from "../trace/recorder.js";
import type { Mm } from "./mm.js";
import {
  PTE_DEVICE_EXCLUSIVE,
  PTE_DEVICE_PRIVATE,
  PTE_DIRTY,
  PTE_MIGRATION,
  PTE_PRESENT,
  PTE_PROTNONE,
  PTE_SWAP,
  PTE_WRITE,
  PTE_YOUNG,
} from "./pageTable.js";
import { ZERO_FRAME } from "./physMem.js";
import { PROT_READ, PROT_WRITE } from "./vma.js";

const WORDS: [number, string][] = [
  [PTE_PRESENT, "present"],
  [PTE_PROTNONE, "protnone"],
  [PTE_SWAP, "swap"],
  [PTE_MIGRATION, "migration"],
  [PTE_DEVICE_PRIVATE, "device-private"],
  [PTE_DEVICE_EXCLUSIVE, "device-exclusive"],
  [PTE_WRITE, "write"],
  [PTE_DIRTY, "dirty"],
  [PTE_YOUNG, "young"],
];

/** A PTE's state as the trace writes it: "present write dirty", "present zero", "swap", "none"… */
export function pteStateWords(frame: number, flags: number): string {
  if (flags === 0) return "none";
  const words: string[] = [];
  for (const [bit, word] of WORDS) if (flags & bit) words.push(word);
  if (flags & (PTE_PRESENT | PTE_PROTNONE) && frame === ZERO_FRAME) words.push("zero");
  return words.join(" ");
}

/** "pte": `mm`'s PTE of page `vpn` is now (`frame`, `flags`); flags 0 is a cleared entry. */
export function tracePte(mm: Mm, vpn: number, frame: number, flags: number): void {
  const k = mm.kernel;
  const fields = { detail: pteStateWords(frame, flags), addr: vpn * k.pageSize };
  recordEvent(k, "pte", mm.id, flags === 0 ? fields : { value: frame, ...fields });
}

/** "vmas": the areas of `mm` as they are now. */
export function traceVmas(mm: Mm): void {
  const areas = mm.vmas.list.map((v) => ({
    start: v.start,
    end: v.end,
    prot: `${v.prot & PROT_READ ? "r" : "-"}${v.prot & PROT_WRITE ? "w" : "-"}-${v.shared ? "s" : "p"}`,
  }));
  recordEvent(mm.kernel, "vmas", mm.id, { areas });
}
