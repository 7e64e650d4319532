// Every code block of README.md and docs/*.md runs as a test, as written (STYLE.md habit 18).
//
// A ```ts block runs as an ES module, with `from "mmun"` pointing at the sources. Two comment forms
// are checked, not just read: `expr; // => value; why` asserts that expr deep-equals value (the
// value ends at the first "; "), and `stmt; // throws ... ECODE` asserts that stmt throws an
// MmunError with that code.
//
// A ```sh block runs each `npx mmun ...` line with the command line from source, in order, in a
// scratch directory holding the module the guides call ./race.ts and ./my-scenarios.ts (the
// explorer guide's example) and ./my-driver.ts (the driver guide's). A line must not be a usage error (exit status 2); every line but
// `check` (which exits 1 when it finds the failure it is shown for) must exit 0, so a `replay` line
// must reproduce. A line that serves the visualizer (`view`, `replay ... --view`) must print its
// address, serve the page there, and exit 0 when interrupted. Lines that run npm itself (the quick start, the benchmarks) are left to CI, which
// runs the quick start.

import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const index = pathToFileURL(join(root, "src/index.ts")).href;
const main = join(root, "src/cli/main.ts");
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const run = promisify(execFile);

const docs = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
]
  // A guide without ts or sh blocks has nothing to run.
  .filter((f) => /^```(ts|sh)$/m.test(readFileSync(join(root, f), "utf8")));

interface Block {
  lang: string;
  code: string;
  line: number;
}

function blocks(file: string): Block[] {
  const text = readFileSync(join(root, file), "utf8");
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ lang: m[1] as string, code: m[2] as string, line: text.slice(0, m.index).split("\n").length });
  }
  return out;
}

/** The ts block as a runnable module: "mmun" from the sources, checked `// =>` and `// throws` lines. */
function runnable(code: string): string {
  const body = code
    .replace(/from "mmun"/g, `from ${JSON.stringify(index)}`)
    .split("\n")
    .map((l) => {
      const eq = /^(\s*)(.+?);\s*\/\/ => (.+?)(?:; .*)?$/.exec(l);
      if (eq !== null) return `${eq[1]}__expectEqual(${eq[2]}, ${eq[3]}, ${JSON.stringify(eq[2])});`;
      const th = /^(\s*)(.+?);\s*\/\/ throws\b.*?\b(E[A-Z]+)\b/.exec(l);
      if (th !== null)
        return `${th[1]}__expectThrows(() => { ${th[2]}; }, ${JSON.stringify(th[3])}, ${JSON.stringify(th[2])});`;
      return l;
    })
    .join("\n");
  return `${body}
function __expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new Error(\`\${what} gave \${JSON.stringify(actual)}, the guide says \${JSON.stringify(expected)}\`);
  }
}
function __expectThrows(fn: () => unknown, code: string, what: string): void {
  try { fn(); } catch (e) {
    if ((e as { code?: string }).code === code) return;
    throw new Error(\`\${what} threw \${String(e)}, the guide says \${code}\`);
  }
  throw new Error(\`\${what} did not throw, the guide says \${code}\`);
}
import { isDeepStrictEqual } from "node:util";
`;
}

mkdirSync(join(root, "tmp"), { recursive: true });
const scratch = mkdtempSync(join(root, "tmp", "docblocks-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The explorer guide's example module: what the guides' command lines call ./race.ts. */
function exampleModule(): string {
  const ts = blocks("docs/explorer.md").find((b) => b.lang === "ts" && b.code.includes("defineScenario"));
  if (ts === undefined) throw new Error("docs/explorer.md lost its example module");
  return ts.code
    .replace(/from "mmun"/g, `from ${JSON.stringify(index)}`)
    .split("\nconst result")[0] as string;
}

/** The driver guide's example module (its block starting `// my-driver.ts`), without the checks after it. */
function guideDriver(): string {
  const ts = blocks("docs/guide.md").find((b) => b.lang === "ts" && b.code.startsWith("// my-driver.ts"));
  if (ts === undefined) throw new Error("docs/guide.md lost its example driver");
  return ts.code
    .replace(/from "mmun"/g, `from ${JSON.stringify(index)}`)
    .split("\nconst checked")[0] as string;
}

/** `npx mmun a b "c d"` -> ["a", "b", "c d"] (the quoting the guides use). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) out.push(m[1] ?? m[2] ?? (m[3] as string));
  return out;
}

async function mmun(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    // The demo explores every built-in scenario: about 90 s on a loaded 2-CPU machine.
    const timeout = args[0] === "demo" ? 400_000 : 120_000;
    const r = await run(process.execPath, ["--import", tsx, main, ...args], { cwd, timeout });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : -1,
      out: `${err.stdout ?? ""}${err.stderr ?? ""}`,
    };
  }
}

/** Runs a line that serves the visualizer: its address answers, and interrupted it exits 0. */
async function mmunServing(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, ["--import", tsx, main, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const exited = new Promise<number>((ok) => child.once("exit", (code) => ok(code ?? -1)));
  const url = await new Promise<string | null>((ok) => {
    const timer = setTimeout(() => ok(null), 120_000);
    const data = (d: Buffer) => {
      out += d.toString();
      const m = /mmun view: (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        ok(m[1] as string);
      }
    };
    child.stdout.on("data", data);
    child.stderr.on("data", data);
    void exited.then(() => {
      clearTimeout(timer);
      ok(null);
    });
  });
  if (url === null) {
    child.kill("SIGKILL");
    return { code: child.exitCode ?? -1, out: `${out}\n(no address printed)` };
  }
  const page = await fetch(url).catch((e: Error) => ({ status: e.message }));
  child.kill("SIGINT");
  const code = await exited;
  return { code: page.status === 200 ? code : -1, out: `${out}\nGET ${url}: ${page.status}` };
}

describe.each(docs)("%s: its code blocks run as written", (file) => {
  const all = blocks(file);
  const ts = all.filter((b) => b.lang === "ts");
  const sh = all.filter((b) => b.lang === "sh");

  it.each(ts.map((b, i) => [b.line, i] as const))(
    "the ts block at line %i runs and its `// =>` and `// throws` claims hold",
    async (_line, i) => {
      const path = join(scratch, `${file.replace(/\W/g, "_")}_${i}.ts`);
      writeFileSync(path, runnable((ts[i] as Block).code));
      await import(pathToFileURL(path).href);
    },
  );

  if (sh.length > 0) {
    it("every `npx mmun` line of its sh blocks runs, in order, without a usage error", async () => {
      const cwd = mkdtempSync(join(scratch, "sh-"));
      writeFileSync(join(cwd, "race.ts"), exampleModule());
      writeFileSync(join(cwd, "my-scenarios.ts"), exampleModule());
      writeFileSync(join(cwd, "my-driver.ts"), guideDriver());
      let ran = 0;
      for (const b of sh) {
        for (const raw of b.code.split("\n")) {
          const line = raw.replace(/\s+#\s.*$/, "").trim();
          if (line === "" || line.startsWith("npm ")) continue;
          expect(line, `${file}: a command line that is neither npx mmun nor npm`).toMatch(/^npx mmun /);
          const args = words(line).slice(2);
          const serves = args[0] === "view" || args.includes("--view");
          const r = serves ? await mmunServing(cwd, args) : await mmun(cwd, args);
          expect(r.code, `${file}: ${line}\n${r.out}`).not.toBe(2);
          if (args[0] !== "check") expect(r.code, `${file}: ${line}\n${r.out}`).toBe(0);
          ran++;
        }
      }
      expect(ran).toBeGreaterThan(0);
    }, 600_000);
  }
});
