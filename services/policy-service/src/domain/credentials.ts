// Bearer credentials: API keys `khk_<id>_<secret>`, role session tokens `khs_<id>_<secret>` and
// grant tokens `khg_<id>_<secret>`. The id is public (it names the stored record); the secret is
// 32 random bytes in base64url and is kept only as its SHA-256 digest. A presented secret is
// checked by comparing two 32-byte digests with crypto.timingSafeEqual, never the raw inputs,
// so neither its length nor where it differs shows in the time taken.
import { createHash, timingSafeEqual } from "node:crypto";

export const API_KEY_PREFIX = "khk_";
export const SESSION_TOKEN_PREFIX = "khs_";
export const GRANT_TOKEN_PREFIX = "khg_";

export type TokenKind = "api-key" | "session" | "grant";

export interface ParsedToken {
  readonly kind: TokenKind;
  readonly id: string;
  readonly secret: string;
}

/** Bytes of randomness in a secret. */
export const SECRET_BYTES = 32;
/** Longest token looked at; anything longer is malformed without being hashed. */
export const MAX_TOKEN_LENGTH = 512;

const CREDENTIAL_ID = /^[0-9a-f]{16}$/;
const GRANT_ID = /^[0-9a-f]{32}$/;
const SECRET_CHARS = /^[A-Za-z0-9_-]+$/;
/** base64url without padding of exactly SECRET_BYTES bytes. */
const GENERATED_SECRET = /^[A-Za-z0-9_-]{43}$/;

const PREFIXES: readonly [string, TokenKind, RegExp][] = [
  [API_KEY_PREFIX, "api-key", CREDENTIAL_ID],
  [SESSION_TOKEN_PREFIX, "session", CREDENTIAL_ID],
  [GRANT_TOKEN_PREFIX, "grant", GRANT_ID],
];

/**
 * Splits a token into kind, id and secret; undefined when it is not shaped like one. The
 * secret's length is not checked here: a wrong-length secret fails the digest comparison like
 * any other wrong secret.
 */
export function parseToken(token: string): ParsedToken | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  for (const [prefix, kind, idPattern] of PREFIXES) {
    if (!token.startsWith(prefix)) continue;
    const idLength = kind === "grant" ? 32 : 16;
    const id = token.slice(prefix.length, prefix.length + idLength);
    if (!idPattern.test(id) || token.charAt(prefix.length + idLength) !== "_") return undefined;
    const secret = token.slice(prefix.length + idLength + 1);
    if (secret === "" || !SECRET_CHARS.test(secret)) return undefined;
    return { kind, id, secret };
  }
  return undefined;
}

/** True for a token exactly as Keyhold generates it (for configured credentials). */
export function isWellFormedToken(token: string, kind: TokenKind): boolean {
  const parsed = parseToken(token);
  return parsed !== undefined && parsed.kind === kind && GENERATED_SECRET.test(parsed.secret);
}

export function formatToken(kind: TokenKind, id: string, secret: string): string {
  const prefix = kind === "api-key" ? API_KEY_PREFIX : kind === "session" ? SESSION_TOKEN_PREFIX : GRANT_TOKEN_PREFIX;
  return `${prefix}${id}_${secret}`;
}

export function newSecret(random: (size: number) => Buffer): string {
  return random(SECRET_BYTES).toString("base64url");
}

/** Lowercase hex of `bytes` random bytes (8 for API key and session ids, 16 for grant ids). */
export function newHexId(random: (size: number) => Buffer, bytes: number): string {
  return random(bytes).toString("hex");
}

export function secretDigest(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** Compared against when the id names no record, so an unknown id costs what a wrong secret does. */
export const DUMMY_DIGEST: Buffer = secretDigest("keyhold: no such credential");

/** Constant-time equality of two SHA-256 digests. */
export function digestsEqual(stored: Buffer, presented: Buffer): boolean {
  if (stored.length !== 32 || presented.length !== 32) return false;
  return timingSafeEqual(stored, presented);
}
