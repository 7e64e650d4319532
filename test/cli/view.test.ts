// mmun view and mmun replay --view as a user runs them (from source): the address printed on
// 127.0.0.1 with an ephemeral port, the page and each trace served there, staying up until
// interrupted and exiting 0 then; bad input is a usage error. The page itself is driven in a browser
// by test/web/browser.test.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { readTrace } from "../../src/trace/read.js";
import { counterexample } from "../web/traces.js";
import { exec } from "./run.js";

const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const scratch = mkdtempSync(join(tmpdir(), "mmun-view-cli-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
});

/** A running `mmun <args>` that printed its address; `stop()` interrupts it and resolves with its status. */
interface Served {
  url: string;
  out: () => string;
  stop: () => Promise<number | null>;
}

function serveWith(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, ["--import", tsx, main, ...args], {
    cwd: scratch,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`no address printed within 60 s:\n${out}`));
    }, 60_000);
    const data = (d: Buffer) => {
      out += d.toString();
      const m = /mmun view: (http:\/\/\S+)\n\(serving until interrupted/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      ok({
        url: m[1] as string,
        out: () => out,
        stop: () => {
          child.kill("SIGINT");
          return exited;
        },
      });
    };
    child.stdout?.on("data", data);
    child.stderr?.on("data", data);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`exited (${code}) before printing its address:\n${out}`));
    });
  });
}

const mmun = (...args: string[]) => exec(process.execPath, ["--import", tsx, main, ...args], scratch);

describe("mmun view", () => {
  it("serves the page and each trace on 127.0.0.1 at an ephemeral port until interrupted", async () => {
    const f = await counterexample("classic/abba");
    writeFileSync(join(scratch, "abba.json"), JSON.stringify(f.trace));
    // The same file name twice is served twice, under two names.
    const s = await serveWith(["view", "abba.json", join(scratch, "abba.json")]);
    const url = new URL(s.url);
    expect(url.hostname).toBe("127.0.0.1");
    expect(Number(url.port)).toBeGreaterThan(0);
    expect(url.hash).toBe("#trace=abba.json");
    const page = await fetch(new URL("/", url));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await page.text();
    // One self-contained page: the script and the style inlined, nothing else to fetch.
    expect(html).toMatch(/<script type="module">/);
    expect(html).not.toMatch(/<script[^>]* src=|<link[^>]* rel="stylesheet"/);
    expect(html).toContain('"open":"abba.json"');
    for (const name of ["abba.json", "2-abba.json"]) {
      const r = await fetch(new URL(`/${name}`, url));
      expect(r.status).toBe(200);
      expect(readTrace(await r.text()).events.length).toBe(f.trace.events.length);
    }
    expect((await fetch(new URL("/nothing.json", url))).status).toBe(404);
    expect((await fetch(new URL("/", url), { method: "POST" })).status).toBe(405);
    expect(await s.stop()).toBe(0);
    // Closed: nothing answers there any more.
    await expect(fetch(new URL("/", url))).rejects.toThrow();
  }, 120_000);

  it("bad input is a usage error: no file, a missing file, not a trace, a bad or busy port", async () => {
    writeFileSync(join(scratch, "not-a-trace.json"), JSON.stringify({ traceEvents: [] }));
    writeFileSync(
      join(scratch, "v9.json"),
      JSON.stringify({ version: 9, tasks: [], objects: [], events: [] }),
    );
    const cases: [string[], RegExp][] = [
      [["view"], /EINVAL: view takes one or more trace files/],
      [["view", "missing.json"], /ENOENT: cannot read missing\.json/],
      [["view", "not-a-trace.json"], /EINVAL: not-a-trace\.json: /],
      [["view", "v9.json"], /EINVAL: v9\.json: .*version/],
      [["view", "v9.json", "--port", "http"], /EINVAL: --port needs a port number/],
    ];
    for (const [args, message] of cases) {
      const r = await mmun(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    // A port someone else holds.
    const busy = createServer();
    await new Promise<void>((ok) => busy.listen(0, "127.0.0.1", () => ok()));
    const port = (busy.address() as { port: number }).port;
    const f = await counterexample("classic/abba");
    writeFileSync(join(scratch, "abba2.json"), JSON.stringify(f.trace));
    const r = await mmun("view", "abba2.json", "--port", String(port));
    busy.close();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`EBUSY: 127\\.0\\.0\\.1:${port} is in use`));
    const help = await mmun("view", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: mmun view <trace\.json>/);
  }, 120_000);
});

describe("mmun replay --view", () => {
  it("replays the token, then serves the replay's trace, named after the scenario", async () => {
    const f = await counterexample("classic/abba");
    const s = await serveWith(["replay", "classic/abba", f.token, "--view"]);
    expect(s.out()).toMatch(/reproduced: same schedule, same failure, same step/);
    const url = new URL(s.url);
    expect(url.hostname).toBe("127.0.0.1");
    expect(url.hash).toBe("#trace=classic-abba.json");
    const t = readTrace(await (await fetch(new URL("/classic-abba.json", url))).text());
    expect(t.meta.scenario).toBe("classic/abba");
    expect(t.meta.token).toBe(f.token);
    expect(t.meta.failure).toBe(f.kind);
    expect(t.events.some((e) => e.kind === "report")).toBe(true);
    // The token reproduced its failure: exit status 0 once interrupted.
    expect(await s.stop()).toBe(0);
  }, 120_000);
});
