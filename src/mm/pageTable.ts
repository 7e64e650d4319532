// Follows arch/x86/include/asm/pgtable*.h and include/linux/pgtable.h: a 4-level page table of 512
// entries per level (PGD -> PUD -> PMD -> PTE), and the PTE states a mirror can see.
//
// A leaf table holds 512 PTEs in two typed arrays: `val` (a frame number, a swap slot, a device frame)
// and `flags` (the bits below), 6 bytes per PTE. A PMD-level table is an array of its 512 leaf slots;
// the PGD and PUD levels are maps of their (at most 512) present children by index, so a small
// address space (the explorer builds one per execution) neither allocates nor scans 512 slots at
// those levels. Tables are created on demand and freed when empty (free_pgtables). Addresses are page numbers (vpn) here:
// with 4 KiB pages a vpn has up to 36 bits, so indices are taken by arithmetic on its high part
// (DESIGN.md §3.8) and by bit operations on its low 18 bits.
//
// PTE states:
//   none                      flags 0
//   present                   PRESENT [+ WRITE] [+ DIRTY] [+ YOUNG], val = frame
//   protnone                  PROTNONE (+ the saved WRITE), val = frame: mapped but inaccessible
//                             (mprotect PROT_NONE; NUMA hinting in Linux)
//   swap entry                SWAP, val = swap slot
//   migration entry           MIGRATION [+ WRITE], val = frame being migrated (mm/migrate_device.c)
//   device-private entry      DEVICE_PRIVATE [+ WRITE], val = device frame (memremap.ts): the page
//                             lives in device memory the CPU cannot reach
//   device-exclusive entry    DEVICE_EXCLUSIVE [+ WRITE], val = frame: a device has exclusive
//                             (atomic) access to the page until a CPU access restores the PTE

import { smallBuffers } from "../lib/slab.js";

/** The entry maps a frame the CPU may access. */
export const PTE_PRESENT = 1;
/** Writable (for migration and device-private entries: the page was writable). */
export const PTE_WRITE = 2;
export const PTE_DIRTY = 4;
export const PTE_YOUNG = 8;
/** Mapped, but every access faults (a PROT_NONE VMA keeps its pages this way). */
export const PTE_PROTNONE = 16;
/** Non-present: the page is in swap slot `val`. */
export const PTE_SWAP = 32;
/** Non-present: frame `val` is being migrated; accesses wait. */
export const PTE_MIGRATION = 64;
/** Non-present: the page lives in device-private memory, device frame `val`. */
export const PTE_DEVICE_PRIVATE = 128;
/** Non-present: a device holds frame `val` exclusively (make_device_exclusive); a CPU access restores it. */
export const PTE_DEVICE_EXCLUSIVE = 256;
/** The non-present entries that still hold their page (a reference, a mapcount and a reverse map). */
export const PTE_DEVICE_ENTRY = PTE_DEVICE_PRIVATE | PTE_DEVICE_EXCLUSIVE;

/** Entries per table at every level. */
export const PTRS_PER_TABLE = 512;
const LO = 2 ** 18;

/** A leaf table: 512 PTEs. */
export interface PteTable {
  readonly val: Int32Array;
  readonly flags: Uint16Array;
  /** The vpn of its first entry: `vpn`'s PTE is at index `vpn - base`. */
  readonly base: number;
  /** Entries that are not none. */
  used: number;
}

/** A PGD- or PUD-level table: its present children by index (0..511). */
type Upper<T> = Map<number, T>;
/**
 * A PMD-level table: its 512 leaf slots (an array: the lookup of a leaf is one index), and its
 * present leaves (so free_pgtables visits those, not the 512 slots).
 */
interface Pmd {
  readonly slots: (PteTable | undefined)[];
  readonly leaves: PteTable[];
}

/** One mm's page tables. */
export class PageTable {
  private readonly pgd: Upper<Upper<Pmd>> = new Map();
  /** Leaf tables allocated (for accounting). */
  leaves = 0;
  /** Upper-level tables allocated (PUDs and PMDs). */
  uppers = 0;
  /** The first vpn of the cached leaf (far below 0 when none is cached). */
  private cacheBase = -2 * PTRS_PER_TABLE;
  private cacheLeaf: PteTable | undefined;
  /** The high part (`vpn / 2^18`) of the cached PMD-level table (-1 when none is cached). */
  private cachePmdHi = -1;
  private cachePmd: Pmd | undefined;

  /** The leaf table holding `vpn`'s PTE (index `vpn % 512` in it), or undefined. */
  leaf(vpn: number): PteTable | undefined {
    const d = vpn - this.cacheBase;
    if (d >= 0 && d < PTRS_PER_TABLE) return this.cacheLeaf;
    return this.walk(vpn);
  }

  private walk(vpn: number): PteTable | undefined {
    // Index arithmetic without `%` on numbers past 2^31 (a floating-point remainder is slow).
    const hi = Math.floor(vpn / LO);
    const lo = vpn - hi * LO;
    let pmd: Pmd | undefined;
    if (hi === this.cachePmdHi) pmd = this.cachePmd as Pmd;
    else {
      const pud = this.pgd.get(hi >>> 9);
      if (pud === undefined) return undefined;
      pmd = pud.get(hi & 511);
      if (pmd === undefined) return undefined;
      this.cachePmdHi = hi;
      this.cachePmd = pmd;
    }
    const leaf = pmd.slots[lo >>> 9];
    if (leaf !== undefined) {
      this.cacheBase = leaf.base;
      this.cacheLeaf = leaf;
    }
    return leaf;
  }

  /** The leaf table holding `vpn`, allocating the missing levels (`pte_alloc`). */
  leafAlloc(vpn: number): PteTable {
    const found = this.leaf(vpn);
    if (found !== undefined) return found;
    const hi = Math.floor(vpn / LO);
    const lo = vpn - hi * LO;
    let pud = this.pgd.get(hi >>> 9);
    if (pud === undefined) {
      pud = new Map();
      this.pgd.set(hi >>> 9, pud);
      this.uppers++;
    }
    let pmd = pud.get(hi & 511);
    if (pmd === undefined) {
      pmd = { slots: new Array(PTRS_PER_TABLE), leaves: [] };
      pud.set(hi & 511, pmd);
      this.uppers++;
    }
    // Both arrays are views on space carved from a shared slab (lib/slab.ts: a leaf is made per
    // address space and execution, and a buffer of its own would cost more than the rest of the
    // walk); the flags take 16 bits (PTE_DEVICE_EXCLUSIVE is bit 8).
    const at = smallBuffers.carve(PTRS_PER_TABLE * 6);
    const buf = smallBuffers.buffer;
    const leaf: PteTable = {
      val: new Int32Array(buf, at, PTRS_PER_TABLE),
      flags: new Uint16Array(buf, at + PTRS_PER_TABLE * 4, PTRS_PER_TABLE),
      base: vpn - (lo & 511),
      used: 0,
    };
    pmd.slots[lo >>> 9] = leaf;
    pmd.leaves.push(leaf);
    this.leaves++;
    this.cacheBase = leaf.base;
    this.cacheLeaf = leaf;
    return leaf;
  }

  /** The flags of `vpn`'s PTE (0 for none). */
  flagsAt(vpn: number): number {
    const d = vpn - this.cacheBase;
    if (d >= 0 && d < PTRS_PER_TABLE) return (this.cacheLeaf as PteTable).flags[d] as number;
    const l = this.walk(vpn);
    return l === undefined ? 0 : (l.flags[vpn - l.base] as number);
  }

  /** The value of `vpn`'s PTE (meaningful when its flags are not 0). */
  valAt(vpn: number): number {
    const d = vpn - this.cacheBase;
    if (d >= 0 && d < PTRS_PER_TABLE) return (this.cacheLeaf as PteTable).val[d] as number;
    const l = this.walk(vpn);
    return l === undefined ? 0 : (l.val[vpn - l.base] as number);
  }

  /** Sets `vpn`'s PTE (`set_pte_at`); flags 0 clears it. */
  set(vpn: number, val: number, flags: number): void {
    const l = flags === 0 ? this.leaf(vpn) : this.leafAlloc(vpn);
    if (l === undefined) return;
    const i = vpn - l.base;
    const was = l.flags[i] as number;
    if (was === 0 && flags !== 0) l.used++;
    else if (was !== 0 && flags === 0) l.used--;
    l.val[i] = val;
    l.flags[i] = flags;
  }

  /**
   * Calls `fn(leaf, baseVpn, from, to)` for every leaf table that exists in `[startVpn, endVpn)`,
   * with the part of it in range (`from`..`to` are indices in the leaf). Skips missing subtrees.
   */
  forEachLeaf(
    startVpn: number,
    endVpn: number,
    fn: (leaf: PteTable, baseVpn: number, from: number, to: number) => void,
  ): void {
    const SPAN_PMD = PTRS_PER_TABLE;
    const SPAN_PUD = SPAN_PMD * PTRS_PER_TABLE;
    const SPAN_PGD = SPAN_PUD * PTRS_PER_TABLE;
    let v = startVpn;
    while (v < endVpn) {
      const pud = this.pgd.get(Math.floor(v / SPAN_PGD) % PTRS_PER_TABLE);
      if (pud === undefined) {
        v = v - (v % SPAN_PGD) + SPAN_PGD;
        continue;
      }
      const pmd = pud.get(Math.floor(v / SPAN_PUD) % PTRS_PER_TABLE);
      if (pmd === undefined) {
        v = v - (v % SPAN_PUD) + SPAN_PUD;
        continue;
      }
      const base = v - (v % SPAN_PMD);
      const leaf = pmd.slots[Math.floor(v / SPAN_PMD) % PTRS_PER_TABLE];
      if (leaf !== undefined && leaf.used !== 0) {
        fn(leaf, base, v - base, Math.min(endVpn - base, PTRS_PER_TABLE));
      }
      v = base + SPAN_PMD;
    }
  }

  /** The first vpn in `[startVpn, endVpn)` whose PUD-level table exists (where Linux starts a walk's invalidation), or -1. */
  firstPopulatedPud(startVpn: number, endVpn: number): number {
    const SPAN_PUD = PTRS_PER_TABLE * PTRS_PER_TABLE;
    const SPAN_PGD = SPAN_PUD * PTRS_PER_TABLE;
    let v = startVpn;
    while (v < endVpn) {
      const pud = this.pgd.get(Math.floor(v / SPAN_PGD) % PTRS_PER_TABLE);
      if (pud === undefined) {
        v = v - (v % SPAN_PGD) + SPAN_PGD;
        continue;
      }
      if (pud.has(Math.floor(v / SPAN_PUD) % PTRS_PER_TABLE)) return v;
      v = v - (v % SPAN_PUD) + SPAN_PUD;
    }
    return -1;
  }

  /** `free_pgtables`: drops the tables of `[startVpn, endVpn)` left without entries. */
  freeEmpty(startVpn: number, endVpn: number): void {
    const SPAN_PMD = PTRS_PER_TABLE;
    const SPAN_PUD = SPAN_PMD * PTRS_PER_TABLE;
    const SPAN_PGD = SPAN_PUD * PTRS_PER_TABLE;
    for (let g = Math.floor(startVpn / SPAN_PGD); g * SPAN_PGD < endVpn; g++) {
      const pud = this.pgd.get(g % PTRS_PER_TABLE);
      if (pud === undefined) continue;
      // Deleting the entry being visited is safe in a Map's iteration.
      for (const [u, pmd] of pud) {
        const uBase = g * SPAN_PGD + u * SPAN_PUD;
        if (uBase + SPAN_PUD <= startVpn || uBase >= endVpn) continue;
        const ls = pmd.leaves;
        let live = 0;
        for (let j = 0; j < ls.length; j++) {
          const leaf = ls[j] as PteTable;
          if (leaf.used === 0) {
            pmd.slots[(leaf.base - uBase) >>> 9] = undefined;
            this.leaves--;
          } else ls[live++] = leaf;
        }
        ls.length = live;
        if (live === 0) {
          pud.delete(u);
          this.uppers--;
        }
      }
      if (pud.size === 0) {
        this.pgd.delete(g % PTRS_PER_TABLE);
        this.uppers--;
      }
    }
    this.cacheBase = -2 * PTRS_PER_TABLE;
    this.cacheLeaf = undefined;
    this.cachePmdHi = -1;
    this.cachePmd = undefined;
  }

  /** Bytes the tables take: 6 per PTE slot of every leaf, 8 per slot of every upper table. */
  bytes(): number {
    return this.leaves * PTRS_PER_TABLE * 6 + (this.uppers + 1) * PTRS_PER_TABLE * 8;
  }
}
