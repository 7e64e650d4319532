// Replay tokens: a short printable string that reproduces an execution's schedule on any machine.
//
// Format (version 2): "2" + kind letter + step + "." + payload [+ "!" + step bound] [+ "+" + flags]
// + "." + check. The payload is one or more segments separated by "~" (several when a lockdep cycle
// was closed across executions: they are replayed in order with one lockdep graph). A segment is
// the choice list (task ids, one per scheduling point with more than one runnable task), run-length
// encoded as LEB128 varint pairs (task id, repeat count - 1), in unpadded base64url. The kind and
// step identify the failure the token must reproduce; replay checks them. The rest records every
// option that changes what an execution does, when it is not the default: "!<n>" the step bound,
// "+" and one letter per option turned off ("l" lockdep, "u" fair scheduling of spinning tasks;
// in that order). A token without them (every version-2 token made before they existed) replays
// with the defaults. The check is 4 base64url characters (24 bits of FNV-1a over everything before
// it), so a token mistyped or cut short is rejected instead of replaying some other schedule.
// Version 1 had no check; its tokens are rejected with a message saying so.

import { MmunError } from "../lib/errno.js";
import type { FailureKind } from "./result.js";

const KIND_LETTER: Record<FailureKind, string> = {
  "stale-mapping": "s",
  "use-after-free": "u",
  deadlock: "d",
  "sleep-in-atomic": "a",
  "lock-order": "l",
  warn: "w",
  check: "c",
  error: "e",
};
const LETTER_KIND = new Map(Object.entries(KIND_LETTER).map(([k, v]) => [v, k as FailureKind]));

/** A decoded token. */
export interface DecodedToken {
  kind: FailureKind;
  step: number;
  /** One choice list per execution to replay (the failure is expected in the last). */
  segments: number[][];
  /** The step bound the failure was found with, when it was not the default. */
  maxSteps: number | undefined;
  /** Whether lockdep checked lock order (default true). */
  lockdep: boolean;
  /** Whether spinning tasks were scheduled fairly (default true). */
  fair: boolean;
}

/** The options a token records besides the step bound (defaults: all true). */
export interface TokenOptions {
  lockdep?: boolean;
  fair?: boolean;
}

/** One letter per option that is off, in this order. */
const FLAGS = [
  ["l", "lockdep"],
  ["u", "fair"],
] as const;

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function toBase64Url(bytes: number[]): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i] as number;
    const b1 = bytes[i + 1];
    const b2 = bytes[i + 2];
    const n = (b0 << 16) | ((b1 ?? 0) << 8) | (b2 ?? 0);
    out += B64[(n >> 18) & 63];
    out += B64[(n >> 12) & 63];
    if (b1 !== undefined) out += B64[(n >> 6) & 63];
    if (b2 !== undefined) out += B64[n & 63];
  }
  return out;
}

function fromBase64Url(s: string): number[] {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of s) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new MmunError("EINVAL", `bad character ${JSON.stringify(ch)} in replay token`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >> bits) & 255);
    }
  }
  return bytes;
}

function pushVarint(out: number[], v: number): void {
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Encodes one choice list. */
export function encodeChoices(choices: readonly number[]): string {
  const bytes: number[] = [];
  for (let i = 0; i < choices.length; ) {
    const v = choices[i] as number;
    let j = i + 1;
    while (j < choices.length && choices[j] === v) j++;
    pushVarint(bytes, v);
    pushVarint(bytes, j - i - 1);
    i = j;
  }
  return toBase64Url(bytes);
}

/** Decodes one choice list. */
export function decodeChoices(s: string): number[] {
  const bytes = fromBase64Url(s);
  const out: number[] = [];
  let i = 0;
  const read = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = bytes[i++];
      if (b === undefined) throw new MmunError("EINVAL", "truncated replay token");
      v += (b & 127) * mul;
      if (b < 128) return v;
      mul *= 128;
      if (mul > 2 ** 35) throw new MmunError("EINVAL", "replay token value too large");
    }
  };
  while (i < bytes.length) {
    const v = read();
    const n = read() + 1;
    if (out.length + n > 10_000_000)
      throw new MmunError("EINVAL", "replay token expands beyond 10^7 choices");
    for (let k = 0; k < n; k++) out.push(v);
  }
  return out;
}

/** 24 bits of FNV-1a over `text`, as 4 base64url characters. */
function checkOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 24;
  return toBase64Url([(h >>> 16) & 255, (h >>> 8) & 255, h & 255]);
}

/**
 * Builds a token for a failure of `kind` at `step`, replayed by the given executions' choices, with
 * the step bound (undefined: the default) and the options it was found with.
 */
export function encodeToken(
  kind: FailureKind,
  step: number,
  segments: readonly (readonly number[])[],
  maxSteps?: number,
  options: TokenOptions = {},
): string {
  const bound = maxSteps === undefined ? "" : `!${maxSteps}`;
  const off = FLAGS.filter(([, name]) => options[name] === false)
    .map(([letter]) => letter)
    .join("");
  const flags = off === "" ? "" : `+${off}`;
  const body = `2${KIND_LETTER[kind]}${step}.${segments.map(encodeChoices).join("~")}${bound}${flags}`;
  return `${body}.${checkOf(body)}`;
}

const TOKEN = /^2([a-z])(\d+)\.([A-Za-z0-9_~-]*)(?:!(\d+))?(?:\+([a-z]+))?\.([A-Za-z0-9_-]{4})$/;

/** The options a "+" field turns off (letters known, each once, in order). */
function decodeFlags(token: string, letters: string | undefined): { lockdep: boolean; fair: boolean } {
  const out = { lockdep: true, fair: true };
  let at = 0;
  for (const ch of letters ?? "") {
    const i = FLAGS.findIndex(([letter]) => letter === ch);
    if (i < at) {
      throw new MmunError(
        "EINVAL",
        i < 0
          ? `unknown option letter "${ch}" in replay token ${JSON.stringify(token)} (made by a newer mmun?)`
          : `option letters out of order or repeated in replay token ${JSON.stringify(token)}`,
      );
    }
    out[(FLAGS[i] as (typeof FLAGS)[number])[1]] = false;
    at = i + 1;
  }
  return out;
}

/** Parses a token; throws `MmunError("EINVAL")` when it is not one, or not intact. */
export function decodeToken(token: string): DecodedToken {
  const text = typeof token === "string" ? token.trim() : "";
  if (/^1[a-z]\d+\./.test(text)) {
    throw new MmunError(
      "EINVAL",
      `${JSON.stringify(token)} is a version-1 replay token, which carries no check against typing errors; ` +
        "run the search again (mmun check) for a version-2 token",
    );
  }
  const m = TOKEN.exec(text);
  if (m === null) {
    throw new MmunError(
      "EINVAL",
      `not a replay token: ${JSON.stringify(token)} (expected "2<kind><step>.<choices>.<check>")`,
    );
  }
  const body = text.slice(0, text.lastIndexOf("."));
  if (checkOf(body) !== m[6]) {
    throw new MmunError(
      "EINVAL",
      `replay token ${JSON.stringify(token)} fails its check: a character was changed, added or lost ` +
        "(copy the token again from the output that printed it)",
    );
  }
  const kind = LETTER_KIND.get(m[1] as string);
  if (kind === undefined)
    throw new MmunError("EINVAL", `unknown failure kind letter "${m[1]}" in replay token`);
  const segments = (m[3] as string).split("~").map(decodeChoices);
  return {
    kind,
    step: Number(m[2]),
    segments,
    maxSteps: m[4] === undefined ? undefined : Number(m[4]),
    ...decodeFlags(text, m[5]),
  };
}
