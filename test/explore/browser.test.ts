// The package in a browser: src/index.ts bundled by esbuild for the browser platform, with
// package.json's "browser" map applied, then run in a fresh V8 context that has a browser's timer and
// text globals and none of Node's (no process, require, Buffer). In a browser, `workers` > 1 runs
// the shards in turn on the calling thread (parallelBrowser.ts). The results must match Node's.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.js";
import type { ExploreResult } from "../../src/explore/result.js";
import type * as Mmun from "../../src/index.js";
import { builtinScenario } from "../../src/scenarios/index.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  browser: Record<string, string>;
};

/** ./dist/a/b.js in the package is built from src/a/b.ts. */
const sourceOf = (distPath: string): string =>
  path.join(root, distPath.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"));

/** package.json's "browser" map, applied to the sources as bundlers apply it to dist/. */
const browserMap: Plugin = {
  name: "package-browser-map",
  setup(b) {
    const map = new Map(Object.entries(pkg.browser).map(([from, to]) => [sourceOf(from), sourceOf(to)]));
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const to = map.get(path.resolve(args.resolveDir, args.path.replace(/\.js$/, ".ts")));
      return to === undefined ? undefined : { path: to };
    });
  },
};

async function bundle(plugins: Plugin[]) {
  return build({
    entryPoints: [path.join(root, "src/index.ts")],
    bundle: true,
    platform: "browser",
    format: "iife",
    globalName: "mmun",
    target: "es2022",
    write: false,
    logLevel: "silent",
    plugins,
  });
}

let bundled: ReturnType<typeof bundle> | undefined;

/** The bundle's exports (built once per file), evaluated in a fresh context with browser globals only. */
async function loadInBrowserContext(): Promise<{ m: typeof Mmun; context: vm.Context }> {
  bundled ??= bundle([browserMap]);
  const out = await bundled;
  const context = vm.createContext({
    console,
    setTimeout,
    clearTimeout,
    queueMicrotask,
    performance,
    TextEncoder,
    TextDecoder,
    URL,
  });
  vm.runInContext(out.outputFiles[0]?.text ?? "", context);
  return { m: context.mmun as typeof Mmun, context };
}

const strip = (r: ExploreResult) => ({
  executions: r.executions,
  distinct: r.distinctSchedules,
  failures: r.failures.map((f) => [f.kind, f.token, f.execution, f.message]),
  exhausted: r.stats.exhausted,
});

describe("the package in a browser", () => {
  it("every file package.json's browser field names exists in the sources", () => {
    expect(Object.keys(pkg.browser).length).toBeGreaterThan(0);
    for (const [from, to] of Object.entries(pkg.browser)) {
      expect(existsSync(sourceOf(from)), from).toBe(true);
      expect(existsSync(sourceOf(to)), to).toBe(true);
    }
  });

  it("without the browser map the bundle fails on node:worker_threads; with it, it builds", async () => {
    await expect(bundle([])).rejects.toThrow(/node:worker_threads/);
    const out = await bundle([browserMap]);
    expect(out.errors).toEqual([]);
    expect(out.outputFiles[0]?.text).not.toMatch(/worker_threads/);
  });

  it("the interval tree and its errors work without Node's globals", async () => {
    const { m, context } = await loadInBrowserContext();
    expect(vm.runInContext("typeof process + typeof require + typeof Buffer", context)).toBe(
      "undefinedundefinedundefined",
    );
    const t = new m.IntervalTree<string>();
    const heap = t.insert(0x1000, 0x1fff, "heap");
    t.insert(0x1800, 0x27ff, "mmap");
    expect(t.search(0x1900, 0x1a00)).toEqual(["heap", "mmap"]);
    t.remove(heap);
    expect(() => t.remove(heap)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    expect(t.size).toBe(1);
  });

  it("workers: 3 runs its shards on the calling thread, with the same results as Node's one worker (PCT seed 4, random seed 5)", async () => {
    const { m } = await loadInBrowserContext();
    for (const [name, options] of [
      ["classic/order-violation", { strategy: "pct", seed: 4 }],
      ["classic/lost-update", { strategy: "random", seed: 5, failures: "all", executions: 300 }],
      ["classic/ordered-window", { strategy: "dfs" }],
    ] as const) {
      const inNode = await explore(builtinScenario(name)!, options);
      const progress: Mmun.ExploreProgress[] = [];
      const inBrowser = await m.explore(m.builtinScenario(name)!, {
        ...options,
        workers: 3,
        onProgress: (p) => progress.push(p),
      });
      expect(strip(inBrowser), name).toEqual(strip(inNode));
      expect(inBrowser.stats.workers).toBe(3);
      expect(progress.at(-1)).toEqual({
        executions: inBrowser.executions,
        failures: inBrowser.failures.length,
        points: inBrowser.stats.points,
      });
    }
  }, 60_000);

  it("on the calling thread, shards need no scenario module (Node's worker threads do)", async () => {
    const { m } = await loadInBrowserContext();
    const increment = async (w: { n: number }, k: Mmun.Kernel) => {
      const v = w.n;
      await k.point("between read and write");
      w.n = v + 1;
    };
    const spec = {
      name: "local/lost-update",
      description: "two unlocked increments",
      setup: () => ({ n: 0 }),
      tasks: { inc1: increment, inc2: increment },
      check: (w: { n: number }) => w.n === 2,
    };
    await expect(explore(m.defineScenario(spec), { workers: 2 })).rejects.toMatchObject({ code: "EINVAL" });
    const r = await m.explore(m.defineScenario(spec), { workers: 2, strategy: "dfs" });
    const one = await m.explore(m.defineScenario(spec), { strategy: "dfs" });
    expect(r.stats.workers).toBe(2);
    expect(strip(r)).toEqual(strip(one));
    expect(r.failures.length).toBeGreaterThan(0); // the lost update is found
  });
});
