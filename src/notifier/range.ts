// Follows include/linux/mmu_notifier.h (struct mmu_notifier_range, enum mmu_notifier_event): what an
// invalidation covers and why it happens.
//
// A range is half-open, [start, end), in bytes. Linux's whole address space [0, ULONG_MAX) becomes
// [0, ADDRESS_SPACE_END) here: addresses are safe integers (DESIGN.md §3.8), so the largest address
// is Number.MAX_SAFE_INTEGER and one past it, 2^53, is the end of everything.

import type { NotifierMm } from "./notifierMm.js";

/**
 * Why an invalidation happens (kernel `enum mmu_notifier_event`, same values, same order). Drivers
 * may filter on it; `MIGRATE` and `EXCLUSIVE` carry the initiator's `owner` so it can skip its own.
 */
export const MmuNotifierEvent = {
  /** The range stops being mapped: munmap, exit, mremap's move, the OOM reaper. */
  UNMAP: 0,
  /** PTEs cleared or replaced for another reason: MADV_DONTNEED, reclaim, migration, COW, KSM. */
  CLEAR: 1,
  /** Protection change derivable from the VMA (mprotect). */
  PROTECTION_VMA: 2,
  /** Per-page permission downgrade (fork's COW write-protect, page_mkclean). */
  PROTECTION_PAGE: 3,
  /** Write-protect for soft-dirty tracking. */
  SOFT_DIRTY: 4,
  /** Address-space teardown (`mmu_notifier_release`), interval notifiers only. */
  RELEASE: 5,
  /** `migrate_vma_setup`; `owner` is the caller's pgmap owner. */
  MIGRATE: 6,
  /** `make_device_exclusive`; `owner` is the caller's owner. */
  EXCLUSIVE: 7,
} as const;
export type MmuNotifierEvent = (typeof MmuNotifierEvent)[keyof typeof MmuNotifierEvent];

/** Event names indexed by value, for traces and messages. */
export const MMU_NOTIFIER_EVENT_NAMES: readonly string[] = [
  "UNMAP",
  "CLEAR",
  "PROTECTION_VMA",
  "PROTECTION_PAGE",
  "SOFT_DIRTY",
  "RELEASE",
  "MIGRATE",
  "EXCLUSIVE",
];

/** One past the largest address: the end of the whole address space (the kernel's ULONG_MAX). */
export const ADDRESS_SPACE_END = Number.MAX_SAFE_INTEGER + 1;

/**
 * An invalidation range (kernel `struct mmu_notifier_range`). `blockable` is the kernel's
 * MMU_NOTIFIER_RANGE_BLOCKABLE flag: the start entry points set it (blocking variant) or clear it
 * (non-blocking variant) before calling anybody, as the kernel does.
 */
export interface MmuNotifierRange {
  readonly mm: NotifierMm;
  /** First byte of the range. */
  start: number;
  /** One past the last byte (exclusive). */
  end: number;
  event: MmuNotifierEvent;
  /** True when callbacks may sleep. */
  blockable: boolean;
  /** Opaque initiator cookie (MIGRATE and EXCLUSIVE events). */
  owner?: unknown;
}

/**
 * `mmu_notifier_range_init[_owner]()`: a range of `event` over `[start, end)` of `mm`. Blockable
 * until a start entry point says otherwise.
 */
export function mmuNotifierRangeInit(
  event: MmuNotifierEvent,
  mm: NotifierMm,
  start: number,
  end: number,
  owner?: unknown,
): MmuNotifierRange {
  // Always the same shape (owner included), so the invalidation path stays monomorphic.
  return { mm, start, end, event, blockable: true, owner };
}

/** `mmu_notifier_range_blockable()`: may the callbacks of this range sleep? */
export function mmuNotifierRangeBlockable(range: MmuNotifierRange): boolean {
  return range.blockable;
}

/** "[0x1000, 0x2000) UNMAP", for traces and messages. */
export function describeRange(range: MmuNotifierRange): string {
  return `[${hex(range.start)}, ${hex(range.end)}) ${MMU_NOTIFIER_EVENT_NAMES[range.event] ?? `event ${range.event}`}`;
}

/** An address in hexadecimal (arithmetic only, no 32-bit operators). */
export function hex(n: number): string {
  return Number.isFinite(n) && n >= 0 ? `0x${n.toString(16)}` : String(n);
}
