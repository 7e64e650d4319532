// A command's arguments (node:util's parseArgs with mmun's usage errors), and words for counts.

import { type ParseArgsConfig, parseArgs } from "node:util";
import { MmunError } from "../lib/errno.js";

/**
 * Parses `config.args` strictly. Every mistake is a `MmunError("EINVAL")` in mmun's words. A
 * negative number after an option that takes a value is that value (`--executions -5` reads as
 * `--executions=-5`), so the option's own check judges it.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const args = joinNegativeValues(config.args ?? [], config.options ?? {});
  try {
    return parseArgs({ ...config, args, strict: true }) as ReturnType<typeof parseArgs<T>>;
  } catch (e) {
    throw new MmunError("EINVAL", usageMessage(e));
  }
}

function joinNegativeValues(
  args: readonly string[],
  options: NonNullable<ParseArgsConfig["options"]>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") return [...out, ...args.slice(i)];
    const next = args[i + 1];
    const takesValue = arg.startsWith("--") && options[arg.slice(2)]?.type === "string";
    if (takesValue && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs' error (ERR_PARSE_ARGS_*) in a line. */
function usageMessage(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown }).code;
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = /--[\w-]+/.exec(quoted)?.[0] ?? quoted;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option ${option}`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument "${quoted}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return message.includes("does not take") ? `${option} takes no value` : `${option} needs a value`;
  }
  return message.split("\n")[0] ?? message;
}

/** True when `--json` comes before any `--`: errors are then printed as JSON too. */
export function wantsJson(args: string[]): boolean {
  const end = args.indexOf("--");
  return (end === -1 ? args : args.slice(0, end)).includes("--json");
}

/** `n` and the noun, plural unless n is 1: "1 execution", "2 executions". */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
