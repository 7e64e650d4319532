import { describe, expect, it } from "vitest";
import {
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
  errnoName,
  MmunError,
} from "../../src/lib/errno.js";
import { defaultWarnSink, WarnLog, warnOn } from "../../src/lib/warn.js";

describe("errno", () => {
  it("has Linux's values", () => {
    expect([EPERM, ENOENT, EINTR, EAGAIN, ENOMEM, EFAULT, EBUSY, EINVAL, EDEADLK, EOVERFLOW]).toEqual([
      1, 2, 4, 11, 12, 14, 16, 22, 35, 75,
    ]);
  });

  it("names positive and negative values, and nothing else", () => {
    expect(errnoName(-EBUSY)).toBe("EBUSY");
    expect(errnoName(EOVERFLOW)).toBe("EOVERFLOW");
    expect(errnoName(999)).toBeUndefined();
    for (const [name, value] of Object.entries(ERRNO)) expect(errnoName(-value)).toBe(name);
  });

  it("MmunError carries the errno name, its value, and the message", () => {
    const e = new MmunError("EOVERFLOW", "length 0");
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe("EOVERFLOW");
    expect(e.errno).toBe(75);
    expect(e.message).toBe("EOVERFLOW: length 0");
    expect(e.name).toBe("MmunError");
  });
});

describe("warnOn", () => {
  it("returns its condition and reports only when it holds", () => {
    const log = new WarnLog();
    expect(warnOn(false, "no", log)).toBe(false);
    expect(warnOn(true, "yes", log)).toBe(true);
    expect(log.take()).toEqual(["yes"]);
    expect(log.count).toBe(0);
  });

  it("goes to the default sink when none is given, which keeps at most 1000 messages", () => {
    defaultWarnSink.take();
    for (let i = 0; i < 1200; i++) warnOn(true, `w${i}`);
    expect(defaultWarnSink.count).toBe(1200);
    const kept = defaultWarnSink.take();
    expect(kept.length).toBe(1000);
    expect(kept[kept.length - 1]).toBe("w1199");
  });
});
