// Follows mm/rmap.c: from a frame to every (mm, address) that maps it, so that reclaim and migration
// of a frame shared after fork reach every address space mapping it. `page_add_anon_rmap` and
// `page_remove_rmap` keep it (and the frame's mapcount) as PTEs are installed and zapped. A PTE
// "maps" its frame when it is present or PROT_NONE, or a device-private or device-exclusive entry.
//
// The first mapping is kept in the frame's metadata (PhysMem.rmapMm / rmapAddr); further ones, rare
// (fork, shared memory), in a side table.
//
// Migration entries do not map their frame (no mapcount, no reference: the migration holds one), but
// the migration must find them again to replace them (remove_migration_ptes: the kernel walks the
// folio's anon_vma, which outlives the mappings). Here they have their own table: migrationAdd when
// an entry is installed (or copied by fork, or moved by mremap), migrationRemove when it is zapped or
// replaced, migrationWalk to find them all.

import type { PhysMem } from "./physMem.js";

/** One place a frame is mapped. */
export interface RmapEntry<M extends object = object> {
  mm: M;
  addr: number;
}

/** `page_add_*_rmap()`: `f` is now mapped at `addr` in `mm`. */
export function rmapAdd(pm: PhysMem, f: number, mm: object, addr: number): void {
  pm.mapcount[f] = (pm.mapcount[f] as number) + 1;
  if (pm.rmapMm[f] === undefined) {
    pm.rmapMm[f] = mm;
    pm.rmapAddr[f] = addr;
    return;
  }
  const more = pm.rmapMore.get(f);
  if (more === undefined) pm.rmapMore.set(f, [{ mm, addr }]);
  else more.push({ mm, addr });
}

/** `page_remove_rmap()`: `f` is no longer mapped at `addr` in `mm`. */
export function rmapRemove(pm: PhysMem, f: number, mm: object, addr: number): void {
  pm.mapcount[f] = (pm.mapcount[f] as number) - 1;
  const more = pm.rmapMore.get(f);
  if (pm.rmapMm[f] === mm && pm.rmapAddr[f] === addr) {
    if (more === undefined) {
      pm.rmapMm[f] = undefined;
      return;
    }
    const next = more.shift() as RmapEntry;
    pm.rmapMm[f] = next.mm;
    pm.rmapAddr[f] = next.addr;
    if (more.length === 0) pm.rmapMore.delete(f);
    return;
  }
  if (more === undefined) return;
  const i = more.findIndex((e) => e.mm === mm && e.addr === addr);
  if (i >= 0) more.splice(i, 1);
  if (more.length === 0) pm.rmapMore.delete(f);
}

/** `rmap_walk()`: every place `f` is mapped, first mapping first (a copy: callers may change it). */
export function rmapWalk<M extends object>(pm: PhysMem, f: number): RmapEntry<M>[] {
  const first = pm.rmapMm[f];
  if (first === undefined) return [];
  const out: RmapEntry<M>[] = [{ mm: first as M, addr: pm.rmapAddr[f] as number }];
  const more = pm.rmapMore.get(f);
  if (more !== undefined) for (const e of more) out.push(e as RmapEntry<M>);
  return out;
}

/** A migration entry for frame `f` now sits at `addr` in `mm`. */
export function migrationAdd(pm: PhysMem, f: number, mm: object, addr: number): void {
  const entries = pm.migration.get(f);
  if (entries === undefined) pm.migration.set(f, [{ mm, addr }]);
  else entries.push({ mm, addr });
}

/** The migration entry for frame `f` at `addr` in `mm` is gone (zapped, replaced or moved). */
export function migrationRemove(pm: PhysMem, f: number, mm: object, addr: number): void {
  const entries = pm.migration.get(f);
  if (entries === undefined) return;
  const i = entries.findIndex((e) => e.mm === mm && e.addr === addr);
  if (i >= 0) entries.splice(i, 1);
  if (entries.length === 0) pm.migration.delete(f);
}

/** True while frame `f` has a migration entry somewhere. */
export function migrationAny(pm: PhysMem, f: number): boolean {
  return pm.migration.has(f);
}

/** Every migration entry for frame `f`, first first (a copy: callers may change the table). */
export function migrationWalk<M extends object>(pm: PhysMem, f: number): RmapEntry<M>[] {
  const entries = pm.migration.get(f);
  return entries === undefined ? [] : (entries.slice() as RmapEntry<M>[]);
}
