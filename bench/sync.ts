// npm run bench -- sync: the runtime's primitives under each scheduler, against async-mutex and
// fast-check's scheduler measured in the same run.

import { Mutex as AsyncMutex } from "async-mutex";
import fc from "fast-check";
import { RandomChooser } from "../src/explore/strategies/random.js";
import type { Chooser } from "../src/sync/controlledScheduler.js";
import { SyncKernel } from "../src/sync/syncKernel.js";
import { fmt, fmtRatio, gc, printTable } from "./harness.js";

/** Runs `body` (which performs `ops` operations) `rounds` times; returns the median ns per operation. */
async function timeOps(ops: number, body: () => Promise<void> | void, rounds = 7): Promise<number> {
  await body();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    gc();
    const t0 = performance.now();
    await body();
    samples.push(((performance.now() - t0) * 1e6) / ops);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

/** Runs `fn` as the only task of a fresh direct kernel. */
async function inTask(fn: (k: SyncKernel) => Promise<void>, lockdep = false): Promise<void> {
  const k = new SyncKernel({ lockdep });
  k.spawn("bench", () => fn(k));
  await k.run();
}

/** A strategy that never switches away from the running task (measures a point without a switch). */
const keepRunning: Chooser = {
  choose: (enabled, current) => {
    return Math.max(0, current === null ? -1 : enabled.indexOf(current));
  },
};

interface Case {
  what: string;
  runtime: string;
  target?: string;
  /** Which peer row this case is compared with. */
  peer?: string;
  run(n: number): Promise<number>;
}

const mutexFast = (lockdep: boolean) => (N: number) =>
  timeOps(N, () =>
    inTask(async (k) => {
      const m = k.mutex("m");
      for (let i = 0; i < N; i++) {
        const p = m.lock();
        if (p) await p;
        m.unlock();
      }
    }, lockdep),
  );
const mutexAwait = (lockdep: boolean) => (N: number) =>
  timeOps(N / 10, () =>
    inTask(async (k) => {
      const m = k.mutex("m");
      for (let i = 0; i < N / 10; i++) {
        await m.lock();
        m.unlock();
      }
    }, lockdep),
  );
const spinFast = (lockdep: boolean) => (N: number) =>
  timeOps(N, () =>
    inTask(async (k) => {
      const s = k.spinLock("s");
      for (let i = 0; i < N; i++) {
        const p = s.lock();
        if (p) await p;
        s.unlock();
      }
    }, lockdep),
  );

async function pingPongPromises(N: number): Promise<number> {
  const rounds = N / 20;
  return timeOps(rounds, async () => {
    let turn = 0;
    let wake: (() => void) | null = null;
    const waitTurn = (me: number) =>
      turn === me
        ? undefined
        : new Promise<void>((r) => {
            wake = r;
          });
    const player = async (me: number) => {
      for (let i = 0; i < rounds; i++) {
        const p = waitTurn(me);
        if (p) await p;
        turn = 1 - me;
        const w = wake as (() => void) | null;
        wake = null;
        if (w !== null) w();
      }
    };
    await Promise.all([player(0), player(1)]);
  });
}

const pingPong = (runtime: "direct" | "controlled") => (N: number) => {
  const rounds = N / 20;
  return timeOps(rounds, async () => {
    const k = new SyncKernel(
      runtime === "direct" ? { lockdep: false } : { runtime, chooser: new RandomChooser(1), lockdep: false },
    );
    const wq = k.waitQueue("wq");
    let turn = 0;
    const player = (me: number) => async () => {
      for (let i = 0; i < rounds; i++) {
        const p = wq.waitEvent(() => turn === me);
        if (p) await p;
        turn = 1 - me;
        wq.wakeUpAll();
      }
    };
    k.spawn("ping", player(0));
    k.spawn("pong", player(1));
    await k.run();
  });
};

const points = (strategy: () => Chooser) => (N: number) => {
  const P = N / 10;
  return timeOps(P, async () => {
    const k = new SyncKernel({ runtime: "controlled", chooser: strategy(), lockdep: false });
    for (const name of ["a", "b"]) {
      k.spawn(name, async () => {
        for (let i = 0; i < P / 2; i++) await k.point();
      });
    }
    await k.run();
  });
};

const CASES: Record<string, Case> = {
  "async-mutex": {
    what: "mutex lock+unlock",
    runtime: "async-mutex (await acquire)",
    run: (N) => {
      const am = new AsyncMutex();
      return timeOps(N / 10, async () => {
        for (let i = 0; i < N / 10; i++) {
          const release = await am.acquire();
          release();
        }
      });
    },
  },
  "mutex-fast": {
    what: "mutex lock+unlock, internal fast path",
    runtime: "direct",
    target: "< 20 ns",
    peer: "async-mutex",
    run: mutexFast(false),
  },
  "mutex-await": {
    what: "mutex lock+unlock, await m.lock()",
    runtime: "direct",
    target: "< 150 ns",
    peer: "async-mutex",
    run: mutexAwait(false),
  },
  "spin-fast": {
    what: "spinlock lock+unlock, internal fast path",
    runtime: "direct",
    target: "< 20 ns",
    peer: "async-mutex",
    run: spinFast(false),
  },
  "mutex-fast-ld": {
    what: "mutex lock+unlock, internal fast path",
    runtime: "direct +lockdep",
    target: "< 20 ns",
    peer: "async-mutex",
    run: mutexFast(true),
  },
  "mutex-await-ld": {
    what: "mutex lock+unlock, await m.lock()",
    runtime: "direct +lockdep",
    target: "< 150 ns",
    peer: "async-mutex",
    run: mutexAwait(true),
  },
  "spin-fast-ld": {
    what: "spinlock lock+unlock, internal fast path",
    runtime: "direct +lockdep",
    target: "< 20 ns",
    peer: "async-mutex",
    run: spinFast(true),
  },
  outside: {
    what: "mutex lock+unlock outside any task",
    runtime: "direct",
    peer: "async-mutex",
    run: (N) =>
      timeOps(N, () => {
        const k = new SyncKernel({ lockdep: false });
        const m = k.mutex("m");
        for (let i = 0; i < N; i++) {
          m.lock();
          m.unlock();
        }
      }),
  },
  "ping-promises": { what: "ping-pong round trip", runtime: "plain promises", run: pingPongPromises },
  "ping-direct": {
    what: "ping-pong round trip (wait queue)",
    runtime: "direct",
    peer: "ping-promises",
    run: pingPong("direct"),
  },
  "ping-controlled": {
    what: "ping-pong round trip (wait queue)",
    runtime: "controlled",
    peer: "ping-promises",
    run: pingPong("controlled"),
  },
  "fc-point": {
    what: "scheduling point",
    runtime: "fast-check fc.scheduler",
    run: (N) => {
      const P = N / 100;
      return timeOps(
        P,
        () =>
          fc.assert(
            fc.asyncProperty(fc.scheduler(), async (s) => {
              const body = async () => {
                for (let i = 0; i < P / 2; i++) await s.schedule(Promise.resolve());
              };
              const all = Promise.all([body(), body()]);
              await s.waitIdle();
              await all;
            }),
            { numRuns: 1 },
          ),
        3,
      );
    },
  },
  "point-keep": {
    what: "scheduling point (kernel.point)",
    runtime: "controlled, no switch",
    target: "< 300 ns",
    peer: "fc-point",
    run: points(() => keepRunning),
  },
  "point-random": {
    what: "scheduling point (kernel.point)",
    runtime: "controlled, random switches",
    target: "< 300 ns",
    peer: "fc-point",
    run: points(() => new RandomChooser(7)),
  },
};

/**
 * Each case runs in a fresh process, so one case's type feedback (say, locks used outside tasks)
 * does not slow another's code down: the figures are what a program using that path sees.
 */
export async function main(args: string[]): Promise<void> {
  const N = args.includes("--quick") ? 200_000 : 2_000_000;
  const at = args.indexOf("--case");
  if (at >= 0) {
    const c = CASES[args[at + 1] as string];
    if (c === undefined) throw new Error(`unknown case ${args[at + 1]}`);
    process.stdout.write(`${JSON.stringify({ ns: await c.run(N) })}\n`);
    return;
  }
  const { execFileSync } = await import("node:child_process");
  const self = new URL("./main.ts", import.meta.url).pathname;
  const ns = new Map<string, number>();
  for (const name of Object.keys(CASES)) {
    const out = execFileSync(process.execPath, [...process.execArgv, self, "sync", "--case", name, ...args], {
      encoding: "utf8",
    });
    ns.set(name, (JSON.parse(out.trim().split("\n").pop() as string) as { ns: number }).ns);
  }
  const rows = Object.entries(CASES).map(([name, c]) => {
    const mine = ns.get(name) as number;
    const peer = c.peer === undefined ? undefined : ns.get(c.peer);
    return [
      c.what,
      c.runtime,
      mine.toFixed(1),
      fmt(1e9 / mine),
      peer === undefined ? (c.peer === undefined ? "1.0x" : "") : fmtRatio(peer / mine),
      c.target ?? "",
    ];
  });
  printTable(
    "Runtime primitives (median of 7 rounds, each case in a fresh process; ratio = peer time / our time)",
    ["operation", "runtime", "ns/op", "ops/s", "vs peer", "target"],
    rows,
  );
}
