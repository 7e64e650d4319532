// A lock-order report as a cycle: the lock classes in the order of the dependency chain, and for
// each edge the task and step that created it (parsed from lockdep's message, which names both).

/** One dependency of the cycle: `task` took `to` (at `step`) while holding `from` (since `heldStep`). */
export interface LockEdge {
  from: string;
  to: string;
  task: string;
  step: number;
  /** The step at which `task` had taken `from`. */
  heldStep: number;
  /** How `from` was held and `to` taken ("write", "read", "recursive read"…). */
  heldMode: string;
  mode: string;
  /** Set for the acquisition that closed the cycle (the report's "now:"). */
  now: boolean;
  /**
   * The explorer execution (counting from 1) the dependency was first seen in when it is not the
   * reported one (lockdep's graph outlives an execution): its steps are not this trace's. Else null.
   */
  execution: number | null;
}

export interface LockCycle {
  /** The lock classes around the cycle, each once, in chain order. */
  locks: string[];
  edges: LockEdge[];
}

const CHAIN = /possible circular locking dependency ((?:"[^"]*"(?: -> )?)+):/;
const EDGE =
  /^\s*(now: )?task "([^"]*)" took "([^"]*)" \(([^,]*), step (\d+)\) while holding "([^"]*)" \(([^,]*), acquired at step (\d+)\)(?: in execution #(\d+))?/;

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
      from: m[6] as string,
      to: m[3] as string,
      task: m[2] as string,
      step: Number(m[5]),
      heldStep: Number(m[8]),
      heldMode: m[7] as string,
      mode: m[4] as string,
      now: m[1] !== undefined,
      execution: m[9] === undefined ? null : Number(m[9]),
    });
  }
  return { locks, edges };
}
