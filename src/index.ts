// The one public export list of mmun (DESIGN.md §3).

export {
  EAGAIN,
  EBUSY,
  EDEADLK,
  EFAULT,
  EINTR,
  EINVAL,
  ENOENT,
  ENOMEM,
  EOVERFLOW,
  EPERM,
  ERRNO,
  type ErrnoName,
  errnoName,
  MmunError,
} from "./lib/errno.js";
export { Rng, type RngState } from "./lib/rng.js";
export { defaultWarnSink, WarnLog, type WarnSink, warnOn } from "./lib/warn.js";
