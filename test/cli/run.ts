// Running a command for a test: its exit status and output, whatever the status.

import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

/** A finished command. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args` in `cwd`; resolves with exit code and output instead of throwing. */
export async function exec(
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(file, args, { cwd, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === "number" ? err.code : -1,
      stdout: err.stdout ?? "",
      stderr: err.stderr ?? "",
    };
  }
}
