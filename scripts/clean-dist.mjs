// Empties dist/ before a build, so a renamed or deleted source leaves no stale module (or source map) to pack.
import { rmSync } from "node:fs";

rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
