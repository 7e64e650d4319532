// Follows lib/test_hmm_uapi.h: what user space passes to the dmirror test device and gets back. The
// kernel's ioctl takes `struct hmm_dmirror_cmd { addr, ptr, npages, cpages, faults }`; here `ptr` is
// a Uint8Array (the "mirror" buffer) and the outputs come back in a result object.

/** Command numbers (the ioctl `nr`), renumbered upstream in v6.0: use the names, not the values. */
export const HMM_DMIRROR_READ = 0x00;
export const HMM_DMIRROR_WRITE = 0x01;
export const HMM_DMIRROR_MIGRATE_TO_DEV = 0x02;
export const HMM_DMIRROR_MIGRATE_TO_SYS = 0x03;
export const HMM_DMIRROR_SNAPSHOT = 0x04;
export const HMM_DMIRROR_EXCLUSIVE = 0x05;
export const HMM_DMIRROR_CHECK_EXCLUSIVE = 0x06;
export const HMM_DMIRROR_RELEASE = 0x07;
export const HMM_DMIRROR_FLAGS = 0x08;

/** `HMM_DMIRROR_FLAGS` bit: the next device or system page allocation that consults it fails (one-shot). */
export const HMM_DMIRROR_FLAG_FAIL_ALLOC = 0x1;

// SNAPSHOT writes one byte per page, built from the page's HMM result (dmirror_mkentry).
/** The page cannot be accessed (no VMA, or one without read permission). */
export const HMM_DMIRROR_PROT_ERROR = 0xff;
/** Not mapped (or mapped in a way a snapshot does not report, e.g. swapped out). */
export const HMM_DMIRROR_PROT_NONE = 0x00;
export const HMM_DMIRROR_PROT_READ = 0x01;
export const HMM_DMIRROR_PROT_WRITE = 0x02;
/** Added when the CPU maps the page with a PMD (a 2 MiB THP or hugetlb page). */
export const HMM_DMIRROR_PROT_PMD = 0x04;
/** Added when the CPU maps the page with a PUD (a 1 GiB hugetlb page). */
export const HMM_DMIRROR_PROT_PUD = 0x08;
/** Base value of the shared zero page. */
export const HMM_DMIRROR_PROT_ZERO = 0x10;
/** Base value of a device-private page of the snapshotting device. */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL = 0x20;
/** Base value of another device's private page (never seen by SNAPSHOT: HMM hides it). */
export const HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE = 0x30;
/** Base value of a device-coherent page of the snapshotting device. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL = 0x40;
/** Base value of another device's coherent page. */
export const HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE = 0x50;

/** The kind of device memory a dmirror device has (`zone_device_type`). */
export const HMM_DMIRROR_MEMORY_DEVICE_PRIVATE = 1;
export const HMM_DMIRROR_MEMORY_DEVICE_COHERENT = 2;

/** What a command takes (kernel `struct hmm_dmirror_cmd` without its outputs). */
export interface HmmDmirrorCmd {
  /** The process address the device accesses; page-aligned. */
  addr: number;
  /** Pages from `addr` (for FLAGS: the flags, as in the kernel). */
  npages: number;
  /** The user buffer the command copies to or from (`ptr`): pages for READ/WRITE, bytes for SNAPSHOT. */
  buf?: Uint8Array;
}

/**
 * What a command returns: `ret` is 0 or a negative errno. `cpages` (pages copied or migrated) and
 * `faults` (fault rounds) carry the kernel's numbers on success; on error they are 0, since the
 * kernel does not copy the command back then.
 */
export interface DmirrorResult {
  ret: number;
  cpages: number;
  faults: number;
}
