// The visualizer end to end: `mmun view` (run from source) serves a real counterexample trace, written
// by `mmun replay ... --trace`, and a 10,000-step trace; headless Debian chromium, driven through
// playwright-core, steps to the failure and reads what the page shows. Screenshots and the speed
// figures go to reports/. `.ci/run` installs chromium where it is missing; set MMUN_CHROMIUM to use
// another build (never one playwright downloads).

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exec } from "../cli/run.js";
import { bigTrace } from "./bigTrace.js";
import { checked, counterexample } from "./traces.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const main = join(root, "src/cli/main.ts");
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const executablePath = process.env.MMUN_CHROMIUM ?? "/usr/bin/chromium";
const reports = join(root, "reports");
const scratch = mkdtempSync(join(tmpdir(), "mmun-web-"));
const SCENARIO = "mm/mirror-zaps-only-unmap";

/** What the page publishes for tests (web/src/ui/viewer.ts); the page's window has it. */
interface ViewStats {
  ready: boolean;
  loadMs: number;
  renderMs: number[];
  frameMs: number[];
  step: number;
  steps: number;
  zoom: number;
}
type PageWindow = { mmunView?: ViewStats };

let server: ChildProcess | undefined;
let url = "";
let browser: Browser | undefined;

/** Runs `mmun view <files>` and resolves with the address it prints. */
function startView(files: string[]): Promise<string> {
  const child = spawn(process.execPath, ["--import", tsx, main, "view", ...files], {
    cwd: scratch,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server = child;
  process.once("exit", () => child.kill("SIGKILL"));
  let out = "";
  let err = "";
  return new Promise((ok, fail) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /mmun view: (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(out);
      if (m !== null) ok(m[1] as string);
    });
    child.stderr?.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("exit", (code) =>
      fail(new Error(`mmun view exited (${code}) before printing its address:\n${out}${err}`)),
    );
  });
}

beforeAll(async () => {
  if (!existsSync(executablePath)) {
    throw new Error(
      `no chromium at ${executablePath}: install Debian's (apt-get install chromium), as .ci/run does, or set MMUN_CHROMIUM`,
    );
  }
  mkdirSync(reports, { recursive: true });
  // The counterexample as a user gets it: check finds it, replay --trace writes it.
  const f = await counterexample(SCENARIO);
  const replayed = await exec(
    process.execPath,
    ["--import", tsx, main, "replay", SCENARIO, f.token, "--trace", join(scratch, "zaps.json")],
    scratch,
  );
  expect(replayed.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
  // A lock-order failure the same way: the token `mmun check classic/abba` prints, replayed.
  const abba = await checked("classic/abba");
  const abbaReplayed = await exec(
    process.execPath,
    ["--import", tsx, main, "replay", "classic/abba", abba.token, "--trace", join(scratch, "abba.json")],
    scratch,
  );
  expect(abbaReplayed.stdout).toMatch(/reproduced: same schedule, same failure, same step/);
  writeFileSync(join(scratch, "big.json"), JSON.stringify(await bigTrace(10_000)));
  url = await startView([join(scratch, "zaps.json"), join(scratch, "big.json"), join(scratch, "abba.json")]);
  browser = await chromium.launch({
    executablePath,
    timeout: 60_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 240_000);

afterAll(async () => {
  // Nothing may outlive the test: a browser or a server left running would hold CI up.
  await Promise.race([browser?.close(), new Promise((ok) => setTimeout(ok, 15_000))]);
  if (server !== undefined && server.exitCode === null) {
    const s = server;
    const exited = new Promise<number | null>((ok) => s.once("exit", (code) => ok(code)));
    s.kill("SIGINT");
    const killer = setTimeout(() => s.kill("SIGKILL"), 10_000);
    // Interrupted, it closes its server and exits cleanly.
    expect(await exited).toBe(0);
    clearTimeout(killer);
  }
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

async function open(hash: string, height = 1000): Promise<Page> {
  if (browser === undefined) throw new Error("no browser");
  const page = await browser.newPage({ viewport: { width: 1400, height } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${url.split("#")[0]}${hash}`);
  await page.waitForFunction(() => (globalThis as PageWindow).mmunView?.ready === true, null, {
    timeout: 30_000,
  });
  expect(errors).toEqual([]);
  return page;
}

const text = (page: Page, testId: string) => page.getByTestId(testId).first().textContent();

describe("mmun view in a browser", () => {
  it("shows the counterexample: jump to the failure, the failing task, the sequence values, the stale entry", async () => {
    const page = await open("#trace=zaps.json");
    expect(await page.locator("#title").textContent()).toBe(SCENARIO);
    // It opens at the first step.
    expect(Number(await text(page, "step"))).toBeLessThanOrEqual(1);
    // Step forward with the keyboard, then jump to the failure.
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    expect(Number(await text(page, "step"))).toBeGreaterThan(0);
    await page.keyboard.press("f");
    const failureStep = await page.evaluate(() => (globalThis as PageWindow).mmunView?.step);
    expect(await text(page, "step")).toBe(String(failureStep));
    expect(await text(page, "failure-kind")).toBe("stale-mapping");
    expect(await text(page, "failing-task")).toBe("mprotect");
    expect(await text(page, "failure-message")).toMatch(/still maps .* writable .*read-only/);
    // The invalidation runs: gseq odd, the notifier's own seq moved to the callback's cur_seq.
    expect(await text(page, "gseq")).toBe("3");
    expect(await page.locator(".parity").first().textContent()).toBe("odd");
    expect(await text(page, "active")).toBe("1");
    expect(await text(page, "seq")).toBe("3");
    expect(await page.locator("tr.lit").count()).toBe(1);
    // The device entry the CPU PTE no longer agrees with is marked.
    expect(await page.getByTestId("stale").count()).toBe(1);
    expect(await page.locator("g.dev.stale").count()).toBe(1);
    await page.screenshot({ path: join(reports, "view-failure.png"), fullPage: true });
    // The address holds the trace and the step: loading it again shows the same view.
    expect(page.url()).toMatch(new RegExp(`#trace=zaps\\.json&step=${failureStep}$`));
    const again = await open(new URL(page.url()).hash);
    expect(await text(again, "step")).toBe(String(failureStep));
    expect(await again.getByTestId("stale").count()).toBe(1);
    // Shift+← goes ten steps back, before the mprotect: gseq even, nothing stale.
    await again.keyboard.press("Shift+ArrowLeft");
    expect(await text(again, "gseq")).toBe("2");
    expect(await again.getByTestId("stale").count()).toBe(0);
    // Home, then Space plays from the first step until Space again; End is the last step.
    const stepNow = () => again.evaluate(() => (globalThis as PageWindow).mmunView?.step ?? -1);
    await again.keyboard.press("Home");
    const first = await stepNow();
    await again.keyboard.press(" ");
    await again.waitForFunction((s) => ((globalThis as PageWindow).mmunView?.step ?? -1) > s + 1, first, {
      timeout: 10_000,
    });
    await again.keyboard.press(" ");
    const paused = await stepNow();
    await again.waitForTimeout(800);
    expect(await stepNow()).toBe(paused);
    await again.keyboard.press("End");
    expect(await stepNow()).toBe(failureStep);
    await again.close();
    await page.close();
  }, 120_000);

  it("opens a trace file dropped onto the page, and one chosen with 'open trace…'", async () => {
    const page = await open("#trace=zaps.json");
    const json = readFileSync(join(scratch, "zaps.json"), "utf8");
    // Drop: a real drop event carrying the file, as a desktop's file manager sends it.
    const dt = await page.evaluateHandle(
      `(() => { const d = new DataTransfer(); d.items.add(new File([${JSON.stringify(json)}], "dropped.json", { type: "application/json" })); return d; })()`,
    );
    await page.dispatchEvent("body", "drop", { dataTransfer: dt });
    await page.waitForFunction('location.hash.startsWith("#trace=file%3Adropped.json")');
    await page.waitForSelector("#viewer:not([hidden])");
    expect(await page.locator("#title").textContent()).toBe(SCENARIO);
    await page.keyboard.press("f");
    expect(await text(page, "failing-task")).toBe("mprotect");
    expect(page.url()).toMatch(/#trace=file%3Adropped\.json&step=\d+$/);
    // The file input behind the button.
    await page.setInputFiles("#file", join(scratch, "zaps.json"));
    await page.waitForFunction('location.hash.startsWith("#trace=file%3Azaps.json")');
    await page.keyboard.press("f");
    expect(await page.getByTestId("stale").count()).toBe(1);
    // A file that is not a trace says why, on the page.
    await page.setInputFiles("#file", {
      name: "nope.json",
      mimeType: "application/json",
      buffer: Buffer.from("{}"),
    });
    await page.waitForSelector("#empty:not([hidden])");
    expect(await page.locator("#empty-message").textContent()).toMatch(/^nope\.json: /);
    await page.close();
  }, 60_000);

  it("draws a lock-order cycle in the lanes: each edge's hold and acquisition numbered, linked; an edge in the banner goes to its step and lane", async () => {
    // A short window: the lane must be scrolled to.
    const page = await open("#trace=abba.json", 420);
    expect(await text(page, "failure-kind")).toBe("lock-order");
    const message = (await text(page, "failure-message")) ?? "";
    // The report: now: t1 took lock_b holding lock_a; t2 took lock_a holding lock_b.
    const edge = (task: string) => {
      const m = new RegExp(
        `task "${task}" took "(\\w+)" \\(write, step (\\d+)\\) while holding "(\\w+)"`,
      ).exec(message);
      if (m === null) throw new Error(`no edge of ${task} in ${message}`);
      return { to: m[1], step: Number(m[2]), from: m[3] };
    };
    const e1 = edge("t1");
    const e2 = edge("t2");
    expect([e1.from, e1.to, e2.from, e2.to]).toEqual(["lock_a", "lock_b", "lock_b", "lock_a"]);
    // Each edge: its hold slice outlined in its task's lane, its acquisition a numbered badge.
    const laneOf = async (sel: string) => {
      const box = await page.locator(sel).first().boundingBox();
      const lanes = await page.locator("rect.lane").evaluateAll((rs) =>
        rs.map((r) => {
          const b = r.getBoundingClientRect();
          return { lane: r.getAttribute("data-lane"), top: b.top, bottom: b.bottom };
        }),
      );
      const mid = (box?.y ?? -1) + (box?.height ?? 0) / 2;
      return lanes.find((l) => mid >= l.top && mid < l.bottom)?.lane;
    };
    const names = await page.locator("text.lane-name").allTextContents();
    expect(await page.locator("g.slice.cycle-hold").count()).toBe(2);
    expect(await page.locator("[data-testid=cycle-take]").count()).toBe(2);
    expect(await page.locator("g.cycle-connector").count()).toBe(2);
    for (const [n, e, task] of [
      [1, e1, "t1"],
      [2, e2, "t2"],
    ] as const) {
      const hold = page.locator(`g.slice.cycle-hold[data-edges="${n}"]`);
      expect(await hold.locator("title").textContent()).toMatch(new RegExp(`^mutex ${e.from}`));
      expect(names[Number(await laneOf(`g.slice.cycle-hold[data-edges="${n}"]`))]).toBe(task);
      const take = page.locator(`[data-testid=cycle-take][data-edge="${n}"]`);
      expect(await take.locator("title").textContent()).toMatch(
        new RegExp(`^takes "${e.to}": ${n}: ${task} took "${e.to}" \\(write\\) at step ${e.step}`),
      );
      expect(names[Number(await laneOf(`[data-testid=cycle-take][data-edge="${n}"]`))]).toBe(task);
    }
    // Edge 2 in the banner: the cursor goes to its step, its lane scrolls into view, its badges stand out.
    await page.evaluate("window.scrollTo(0, 0)");
    await page.locator(`[data-testid=cycle-edge][data-edge="2"]`).click();
    expect(await page.evaluate(() => (globalThis as PageWindow).mmunView?.step)).toBe(e2.step);
    expect(page.url()).toMatch(new RegExp(`#trace=abba\\.json&step=${e2.step}$`));
    const lane = await page.locator(`rect.lane[data-lane="${names.indexOf("t2")}"]`).boundingBox();
    expect(lane).not.toBeNull();
    expect((lane?.y ?? -1) + (lane?.height ?? 0) / 2).toBeGreaterThan(0);
    expect((lane?.y ?? 1e9) + (lane?.height ?? 0) / 2).toBeLessThan(420);
    expect(await page.locator(`[data-testid=cycle-take][data-edge="2"]`).getAttribute("class")).toMatch(
      /selected/,
    );
    // The arrow of edge 1 in the drawing does the same.
    await page.locator(`g.cycle-arrow[data-edge="1"] text`).click();
    expect(await page.evaluate(() => (globalThis as PageWindow).mmunView?.step)).toBe(e1.step);
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.screenshot({ path: join(reports, "view-lock-cycle.png"), fullPage: true });
    await page.close();
  }, 60_000);

  it("keeps the zoom in the address: opens at it, updates it in place, and says why a bad one is ignored", async () => {
    const page = await open("#trace=big.json&step=5000&zoom=40");
    const zoom = () => page.evaluate(() => (globalThis as PageWindow).mmunView?.zoom);
    expect(await zoom()).toBe(40);
    expect(await page.getByTestId("address-note").isHidden()).toBe(true);
    // The ticks are as far apart as 40 pixels per step makes them.
    const ticks = await page
      .locator("text.tick-label")
      .evaluateAll((ts) =>
        ts.slice(0, 2).map((t) => ({ step: Number(t.textContent), x: Number(t.getAttribute("x")) })),
      );
    const [a, b] = ticks;
    expect(((b?.x ?? 0) - (a?.x ?? 0)) / ((b?.step ?? 0) - (a?.step ?? 0))).toBeCloseTo(40, 0);
    const entries = await page.evaluate("history.length");
    await page.keyboard.press("+");
    expect(await zoom()).toBe(60);
    expect(page.url()).toMatch(/#trace=big\.json&step=5000&zoom=60$/);
    await page.keyboard.press("-");
    await page.keyboard.press("-");
    expect(await zoom()).toBeCloseTo(26.67, 2);
    await page.keyboard.press("ArrowRight");
    expect(page.url()).toMatch(/&step=5001&zoom=26\.67$/);
    // Zooming and stepping replace the address: Back is not flooded.
    expect(await page.evaluate("history.length")).toBe(entries);
    const again = await open(new URL(page.url()).hash);
    expect(await again.evaluate(() => (globalThis as PageWindow).mmunView?.zoom)).toBeCloseTo(26.67, 2);
    await again.close();
    await page.close();
    // A zoom the page cannot use: the default (or the nearest bound), a sentence, no error.
    const fitted = await open("#trace=big.json&step=10");
    const standard = await fitted.evaluate(() => (globalThis as PageWindow).mmunView?.zoom);
    expect(fitted.url()).not.toMatch(/zoom=/);
    await fitted.close();
    const bad = await open("#trace=big.json&step=10&zoom=abc");
    expect(await bad.evaluate(() => (globalThis as PageWindow).mmunView?.zoom)).toBe(standard);
    expect(await text(bad, "address-note")).toMatch(
      /^zoom "abc" in the address is not a number of pixels per step/,
    );
    expect(bad.url()).toMatch(/#trace=big\.json&step=10$/);
    await bad.close();
    const big = await open("#trace=big.json&step=10&zoom=1000");
    expect(await big.evaluate(() => (globalThis as PageWindow).mmunView?.zoom)).toBe(120);
    expect(await text(big, "address-note")).toMatch(/outside 1–120 pixels per step/);
    await big.close();
  }, 60_000);

  it("loads a 10,000-step trace in under a second and stays responsive while stepping", async () => {
    // Best of three loads: the machine may be busy with other tests.
    const loads: number[] = [];
    let page: Page | undefined;
    for (let i = 0; i < 3; i++) {
      await page?.close();
      page = await open("#trace=big.json&step=5000");
      loads.push(await page.evaluate(() => (globalThis as PageWindow).mmunView?.loadMs ?? Number.NaN));
    }
    if (page === undefined) throw new Error("no page");
    expect(await page.evaluate(() => (globalThis as PageWindow).mmunView?.steps)).toBeGreaterThanOrEqual(
      10_000,
    );
    const t0 = performance.now();
    const presses = 200;
    for (let i = 0; i < presses; i++) await page.keyboard.press("ArrowRight");
    await page.waitForFunction(
      (n) => ((globalThis as PageWindow).mmunView?.frameMs.length ?? 0) >= n,
      presses,
    );
    const wall = (performance.now() - t0) / presses;
    const { render, frame } = await page.evaluate((n) => {
      const s = (globalThis as PageWindow).mmunView;
      return { render: s?.renderMs.slice(-n) ?? [], frame: s?.frameMs.slice(-n) ?? [] };
    }, presses);
    const pct = (xs: number[], p: number) =>
      [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? 0;
    const figures = {
      steps: await page.evaluate(() => (globalThis as PageWindow).mmunView?.steps),
      loadMs: loads.map((x) => Math.round(x)),
      bestLoadMs: Math.round(Math.min(...loads)),
      stepRenderMs: { median: pct(render, 0.5), p95: pct(render, 0.95) },
      stepFrameMs: { median: pct(frame, 0.5), p95: pct(frame, 0.95) },
      keyPressToNextMs: Math.round(wall),
    };
    writeFileSync(join(reports, "view-perf.json"), `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`visualizer, 10,000-step trace: ${JSON.stringify(figures)}`);
    await page.screenshot({ path: join(reports, "view-10k.png") });
    // The target is 1 s (docs/performance.md has the figures); the bound leaves room for a busy machine.
    expect(figures.bestLoadMs).toBeLessThan(1500);
    expect(figures.stepFrameMs.median).toBeLessThan(150);
    expect(figures.stepFrameMs.p95).toBeLessThan(600);
    await page.close();
  }, 180_000);

  it("mmun demo --html writes one file that opens from disk, the table linking each failure to its trace", async () => {
    const file = join(scratch, "report.html");
    // The whole demo (DFS enumerates every scenario's space whatever the budget): a minute or two.
    const r = await run(
      process.execPath,
      ["--import", tsx, main, "demo", "--executions", "20", "--out", "-", "--html", file],
      { cwd: scratch, timeout: 280_000, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(r.stdout).toMatch(/HTML report written to/);
    if (browser === undefined) throw new Error("no browser");
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // No server: the page and every trace are in the file; it asks for nothing else.
    const fetched: string[] = [];
    page.on("request", (req) => {
      if (!/^(file|data|about|blob):/.test(req.url())) fetched.push(req.url());
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForFunction(() => (globalThis as PageWindow).mmunView?.ready === true);
    expect(await page.locator("table.report tr").count()).toBeGreaterThan(20);
    await page.getByTestId("view-link").filter({ hasText: "stale-mapping" }).first().click();
    await page.waitForSelector("[data-testid=failure-kind]");
    expect(await text(page, "failure-kind")).toBe("stale-mapping");
    expect(await text(page, "failing-task")).toBe("mprotect");
    expect(await page.getByTestId("stale").count()).toBe(1);
    await page.screenshot({ path: join(reports, "view-report.png"), fullPage: true });
    // Back to the table, and a lock-order failure drawn as its cycle.
    await page.locator("#back").click();
    await page.getByTestId("view-link").filter({ hasText: "lock-order" }).first().click();
    await page.waitForSelector("[data-testid=lock-cycle]");
    expect(await text(page, "failure-kind")).toBe("lock-order");
    expect(fetched).toEqual([]);
    await page.close();
  }, 300_000);
});
