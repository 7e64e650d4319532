// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h) and the error type thrown on misuse.

/** Operation not permitted. */
export const EPERM = 1;
/** No such file or directory (no such object). */
export const ENOENT = 2;
/** Interrupted system call. */
export const EINTR = 4;
/** Try again (would block in a non-blocking context). */
export const EAGAIN = 11;
/** Out of memory. */
export const ENOMEM = 12;
/** Bad address. */
export const EFAULT = 14;
/** Device or resource busy (sequence collision in hmm_range_fault). */
export const EBUSY = 16;
/** Invalid argument. */
export const EINVAL = 22;
/** Resource deadlock would occur. */
export const EDEADLK = 35;
/** Value too large for defined data type. */
export const EOVERFLOW = 75;
/** Operation not supported (the kernel's answer for a feature that is configured out). */
export const EOPNOTSUPP = 95;

/** Every errno this project names, by name. */
export const ERRNO = {
  EPERM,
  ENOENT,
  EINTR,
  EAGAIN,
  ENOMEM,
  EFAULT,
  EBUSY,
  EINVAL,
  EDEADLK,
  EOVERFLOW,
  EOPNOTSUPP,
} as const;

/** An errno name such as `"EINVAL"`. */
export type ErrnoName = keyof typeof ERRNO;

/**
 * Thrown for invalid arguments and API misuse. `code` is the errno name (`"EINVAL"`), `errno` its
 * positive Linux value. Protocol outcomes (EBUSY from a collision, EAGAIN from a non-blocking
 * invalidation) are returned as negative numbers instead, as the kernel does.
 */
export class MmunError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;

  constructor(code: ErrnoName, message: string) {
    super(`${code}: ${message}`);
    this.name = "MmunError";
    this.code = code;
    this.errno = ERRNO[code];
  }
}

/** The name of a positive or negative errno value, or `undefined` when it is not one of ours. */
export function errnoName(value: number): ErrnoName | undefined {
  const v = Math.abs(value);
  for (const name of Object.keys(ERRNO) as ErrnoName[]) {
    if (ERRNO[name] === v) return name;
  }
  return undefined;
}
