// WARN_ON (include/asm-generic/bug.h): report a condition that should never hold, and carry on.

/** Where warnings go. The kernel world implements it (it records a trace event and, under the
 *  explorer, fails the execution); code that has no kernel at hand uses {@link defaultWarnSink}. */
export interface WarnSink {
  warn(message: string): void;
}

const MAX_KEPT = 1000;

/** A sink that keeps the most recent warnings in memory (up to 1000), for library use and tests. */
export class WarnLog implements WarnSink {
  readonly messages: string[] = [];
  count = 0;

  warn(message: string): void {
    this.count++;
    if (this.messages.length >= MAX_KEPT) this.messages.shift();
    this.messages.push(message);
  }

  /** Returns the kept warnings and forgets them. */
  take(): string[] {
    const out = this.messages.splice(0);
    this.count = 0;
    return out;
  }
}

/** The sink used when none is given. */
export const defaultWarnSink: WarnLog = new WarnLog();

/**
 * Reports `message` to `sink` when `cond` is true, and returns `cond`, like the kernel's `WARN_ON`:
 * `if (warnOn(x < 0, "negative")) return;`. Tests assert that no warning fired.
 */
export function warnOn(cond: boolean, message: string, sink: WarnSink = defaultWarnSink): boolean {
  if (cond) sink.warn(message);
  return cond;
}
