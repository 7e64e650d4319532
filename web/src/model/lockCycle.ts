// A lock-order report as a cycle: the lock classes in the order of the dependency chain, and for
// each edge the task and step that created it (parsed from lockdep's message, which names both).

/** One dependency of the cycle: `task` took `to` (at `step`) while holding `from`. */
export interface LockEdge {
  from: string;
  to: string;
  task: string;
  step: number;
  /** Set for the acquisition that closed the cycle (the report's "now:"). */
  now: boolean;
}

export interface LockCycle {
  /** The lock classes around the cycle, each once, in chain order. */
  locks: string[];
  edges: LockEdge[];
}

const CHAIN = /possible circular locking dependency ((?:"[^"]*"(?: -> )?)+):/;
const EDGE = /^\s*(now: )?task "([^"]*)" took "([^"]*)" \([^,]*, step (\d+)\) while holding "([^"]*)"/;

/** The cycle a lock-order report describes, or null when the message names none. */
export function parseLockCycle(message: string): LockCycle | null {
  const chain = CHAIN.exec(message);
  if (chain === null) return null;
  const names = [...(chain[1] as string).matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
  const locks = names.length > 1 && names[0] === names[names.length - 1] ? names.slice(0, -1) : names;
  const edges: LockEdge[] = [];
  for (const line of message.split("\n")) {
    const m = EDGE.exec(line);
    if (m === null) continue;
    edges.push({
      from: m[5] as string,
      to: m[3] as string,
      task: m[2] as string,
      step: Number(m[4]),
      now: m[1] !== undefined,
    });
  }
  return { locks, edges };
}
