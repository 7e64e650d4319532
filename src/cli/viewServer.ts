// Serves the visualizer on the loopback interface: the page at /, and each trace at /<name> (the page
// fetches the one its address names: #trace=<name>&step=<n>). Stays up until it is closed.

import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MmunError } from "../lib/errno.js";
import type { Trace } from "../trace/schema.js";
import { viewPageHtml, withBundle } from "./viewPage.js";

/** A trace to serve and the name it is served (and linked) under. */
export interface NamedTrace {
  name: string;
  trace: Trace;
}

export interface ViewServer {
  /** The page's address, naming the first trace. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts serving `traces` on `host`:`port` (0: an ephemeral port). */
export async function serveView(traces: NamedTrace[], host = "127.0.0.1", port = 0): Promise<ViewServer> {
  const first = traces[0];
  const page = withBundle(
    await viewPageHtml(),
    first === undefined ? { traces: {} } : { traces: {}, open: first.name },
  );
  const bodies = new Map(traces.map((t) => [`/${encodeURIComponent(t.name)}`, JSON.stringify(t.trace)]));
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split(/[?#]/)[0] as string;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    const body = path === "/" || path === "/index.html" ? page : bodies.get(path);
    if (body === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    res.writeHead(200, {
      "content-type": path.endsWith(".json") ? "application/json" : "text/html; charset=utf-8",
      "cache-control": "no-store",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      if (e.code === "EADDRINUSE")
        reject(new MmunError("EBUSY", `${where} is in use: choose another --port`));
      else if (e.code === "EACCES")
        reject(new MmunError("EPERM", `${where} needs privileges: choose another --port`));
      else reject(e);
    });
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const hash = first === undefined ? "" : `#trace=${encodeURIComponent(first.name)}`;
  return {
    url: `http://${shownHost}:${addr.port}/${hash}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Resolves when the process is interrupted (SIGINT, SIGTERM). */
export function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

/** Opens `url` in the desktop's browser, when there is a desktop to open it on; never fails. */
export function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["cmd", ["/c", "start", "", url]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args, { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // No browser to open: the printed address is enough.
  }
}
