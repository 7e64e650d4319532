// npm run bench -- sync: the runtime's primitives under each scheduler, against async-mutex and
// fast-check's scheduler measured in the same run.

import { Mutex as AsyncMutex } from "async-mutex";
import fc from "fast-check";
import { RandomStrategy } from "../src/explore/strategies/random.js";
import type { Strategy } from "../src/sync/controlledScheduler.js";
import { Kernel } from "../src/sync/kernel.js";
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
async function inTask(fn: (k: Kernel) => Promise<void>, lockdep = false): Promise<void> {
  const k = new Kernel({ lockdep });
  k.spawn("bench", () => fn(k));
  await k.run();
}

/** A strategy that never switches away from the running task (measures a point without a switch). */
const keepRunning: Strategy = {
  choose: (enabled, current) => {
    return Math.max(0, current === null ? -1 : enabled.indexOf(current));
  },
};

export async function main(args: string[]): Promise<void> {
  const N = args.includes("--quick") ? 200_000 : 2_000_000;
  const rows: string[][] = [];
  const row = (what: string, runtime: string, ns: number, peerNs?: number, target?: string) =>
    rows.push([
      what,
      runtime,
      ns.toFixed(1),
      fmt(1e9 / ns),
      peerNs === undefined ? "" : fmtRatio(peerNs / ns),
      target ?? "",
    ]);

  // Peers first, so the ratios below compare against them.
  const am = new AsyncMutex();
  const amNs = await timeOps(N / 10, async () => {
    for (let i = 0; i < N / 10; i++) {
      const release = await am.acquire();
      release();
    }
  });
  rows.push([
    "mutex lock+unlock",
    "async-mutex (await acquire)",
    amNs.toFixed(1),
    fmt(1e9 / amNs),
    "1.0x",
    "",
  ]);

  for (const lockdep of [false, true]) {
    const tag = lockdep ? " +lockdep" : "";
    const fast = await timeOps(N, () =>
      inTask(async (k) => {
        const m = k.mutex("m");
        for (let i = 0; i < N; i++) {
          const p = m.lock();
          if (p) await p;
          m.unlock();
        }
      }, lockdep),
    );
    row("mutex lock+unlock, internal fast path", `direct${tag}`, fast, amNs, "< 20 ns");
    const awaited = await timeOps(N / 10, () =>
      inTask(async (k) => {
        const m = k.mutex("m");
        for (let i = 0; i < N / 10; i++) {
          await m.lock();
          m.unlock();
        }
      }, lockdep),
    );
    row("mutex lock+unlock, await m.lock()", `direct${tag}`, awaited, amNs, "< 150 ns");
    const spin = await timeOps(N, () =>
      inTask(async (k) => {
        const s = k.spinLock("s");
        for (let i = 0; i < N; i++) {
          const p = s.lock();
          if (p) await p;
          s.unlock();
        }
      }, lockdep),
    );
    row("spinlock lock+unlock, internal fast path", `direct${tag}`, spin, amNs, "< 20 ns");
  }
  const outside = await timeOps(N, () => {
    const k = new Kernel({ lockdep: false });
    const m = k.mutex("m");
    for (let i = 0; i < N; i++) {
      m.lock();
      m.unlock();
    }
  });
  row("mutex lock+unlock outside any task", "direct", outside, amNs);

  // Ping-pong: two tasks hand a token back and forth through a wait queue.
  const rounds = N / 20;
  const amPing = await timeOps(rounds, async () => {
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
  rows.push(["ping-pong round trip", "plain promises", amPing.toFixed(1), fmt(1e9 / amPing), "1.0x", ""]);
  for (const runtime of ["direct", "controlled"] as const) {
    const ns = await timeOps(rounds, async () => {
      const k = new Kernel(
        runtime === "direct"
          ? { lockdep: false }
          : { runtime, strategy: new RandomStrategy(1), lockdep: false },
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
    row("ping-pong round trip (wait queue)", runtime, ns, amPing);
  }

  // Controlled scheduler: cost of one scheduling point, with and without a task switch.
  const P = N / 10;
  const fcPointNs = await timeOps(
    P / 10,
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.scheduler(), async (s) => {
          const body = async () => {
            for (let i = 0; i < P / 20; i++) await s.schedule(Promise.resolve());
          };
          const all = Promise.all([body(), body()]);
          await s.waitIdle();
          await all;
        }),
        { numRuns: 1 },
      );
    },
    3,
  );
  rows.push([
    "scheduling point",
    "fast-check fc.scheduler",
    fcPointNs.toFixed(1),
    fmt(1e9 / fcPointNs),
    "1.0x",
    "",
  ]);
  for (const [label, strategy] of [
    ["controlled, no switch", () => keepRunning],
    ["controlled, random switches", () => new RandomStrategy(7)],
  ] as const) {
    const ns = await timeOps(P, async () => {
      const k = new Kernel({ runtime: "controlled", strategy: strategy(), lockdep: false });
      for (const name of ["a", "b"]) {
        k.spawn(name, async () => {
          for (let i = 0; i < P / 2; i++) await k.point();
        });
      }
      await k.run();
    });
    row("scheduling point (kernel.point)", label, ns, fcPointNs, "< 300 ns");
  }
  printTable(
    "Runtime primitives (median of 7 rounds; ratio = peer time / our time)",
    ["operation", "runtime", "ns/op", "ops/s", "vs peer", "target"],
    rows,
  );
}
