// XKS proxy URIs: https://<server>[/<prefix>]/kms/xks/v1/keys/<externalKeyId>/{metadata,encrypt,decrypt}
// and .../kms/xks/v1/health. The prefix isolates tenants of one proxy; the whole path is at most
// 128 characters of [A-Za-z0-9/_-]; an external key id at most 128 of [A-Za-z0-9._-].

export type XksOperation = "metadata" | "encrypt" | "decrypt" | "health";

export interface XksRoute {
  /** The configured path prefix the request is under ("" for none), without slashes at the ends. */
  readonly prefix: string;
  readonly operation: XksOperation;
  /** For key operations. */
  readonly externalKeyId: string | undefined;
}

export const EXTERNAL_KEY_ID = /^[A-Za-z0-9._-]{1,128}$/;
const PREFIX = /^[A-Za-z0-9/_-]*$/;
const API = "/kms/xks/v1";

/** Normalizes a configured prefix ("/tenant-a/" → "tenant-a"); throws on characters the spec forbids. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, "");
  if (!PREFIX.test(trimmed) || trimmed.length + API.length + 1 > 128) throw new Error(`XKS path prefix "${prefix}" is not [A-Za-z0-9/_-] or too long`);
  return trimmed;
}

/** The route of `path` under one of `prefixes` (normalized), or undefined (InvalidUriPathException). */
export function parseXksPath(path: string, prefixes: readonly string[]): XksRoute | undefined {
  for (const prefix of prefixes) {
    const base = prefix === "" ? API : `/${prefix}${API}`;
    if (!path.startsWith(`${base}/`)) continue;
    const rest = path.slice(base.length + 1);
    if (rest === "health") return { prefix, operation: "health", externalKeyId: undefined };
    const match = /^keys\/([^/]+)\/(metadata|encrypt|decrypt)$/.exec(rest);
    if (match === null || !EXTERNAL_KEY_ID.test(match[1]!)) return undefined;
    return { prefix, operation: match[2] as XksOperation, externalKeyId: match[1]! };
  }
  return undefined;
}

/** The path of an operation (for clients). */
export function xksPath(prefix: string, operation: XksOperation, externalKeyId?: string): string {
  const base = prefix === "" ? API : `/${normalizePrefix(prefix)}${API}`;
  if (operation === "health") return `${base}/health`;
  if (externalKeyId === undefined || !EXTERNAL_KEY_ID.test(externalKeyId)) throw new Error("an external key id of 1-128 [A-Za-z0-9._-] is required");
  return `${base}/keys/${externalKeyId}/${operation}`;
}
