// GetRandomPassword (AWS semantics): characters from the included classes minus the excluded
// characters, uniformly chosen with crypto.randomInt, and by default at least one of each
// included class.
import { randomInt } from "node:crypto";
import { invalidArgument } from "@keyhold/server-kit";

export const DEFAULT_PASSWORD_LENGTH = 32;
export const MAX_PASSWORD_LENGTH = 4096;
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

export interface PasswordOptions {
  readonly length: number;
  readonly excludeCharacters: string;
  readonly excludeNumbers: boolean;
  readonly excludePunctuation: boolean;
  readonly excludeUppercase: boolean;
  readonly excludeLowercase: boolean;
  readonly includeSpace: boolean;
  readonly requireEachIncludedType: boolean;
}

export function randomPassword(options: PasswordOptions, pick: (max: number) => number = (max) => randomInt(max)): string {
  const length = options.length === 0 ? DEFAULT_PASSWORD_LENGTH : options.length;
  if (length < 1 || length > MAX_PASSWORD_LENGTH) throw invalidArgument("password_length", `must be between 1 and ${MAX_PASSWORD_LENGTH}`);
  if (options.excludeCharacters.length > 4096) throw invalidArgument("exclude_characters", "must be at most 4096 characters");
  const excluded = new Set(options.excludeCharacters);
  const classes = [
    options.excludeLowercase ? "" : LOWER,
    options.excludeUppercase ? "" : UPPER,
    options.excludeNumbers ? "" : DIGITS,
    options.excludePunctuation ? "" : PUNCTUATION,
    options.includeSpace ? " " : "",
  ]
    .map((chars) => [...chars].filter((c) => !excluded.has(c)))
    .filter((chars) => chars.length > 0);
  const all = classes.flat();
  if (all.length === 0) throw invalidArgument("exclude_characters", "no characters are left to make a password from");
  if (options.requireEachIncludedType && length < classes.length) {
    throw invalidArgument("password_length", `must be at least ${classes.length} to include every included character type`);
  }
  const out: string[] = [];
  if (options.requireEachIncludedType) for (const chars of classes) out.push(chars[pick(chars.length)]!);
  while (out.length < length) out.push(all[pick(all.length)]!);
  // Fisher-Yates, so the required characters are not at the front.
  for (let i = out.length - 1; i > 0; i--) {
    const j = pick(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.join("");
}
